// SPDX-License-Identifier: Apache-2.0
#include "lisafs/server.h"

#include <sched.h>
#include <algorithm>
#include <chrono>
#include <cerrno>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "lisafs/codec.h"
#include "lisafs/internal/connection.h"

namespace veil::lisafs {
namespace {

using internal::Connection;
using internal::Outgoing;

// The client went away; not an error of the server's.
bool PeerGone(Errno error) {
  return error.code() == ECONNRESET || error.code() == EPIPE;
}

// A send that timed out (EAGAIN: every channel has a send timeout) ends
// the connection as ETIMEDOUT (ServerOptions::send_timeout says why).
Result<void> Sent(Result<void> sent) {
  if (!sent && sent.error().code() == EAGAIN) {
    VEIL_LOG(kWarning) << "lisafs: the client has not read its replies for "
                          "the send timeout; dropping the connection";
    return Errno(ETIMEDOUT);
  }
  return sent;
}

// The threads serving a connection's extra channels (Channel requests).
// Thread-safe. Each channel is owned here, not by its thread, so that
// StopAll can shut it down without racing the thread's exit.
class ExtraChannels final {
 public:
  ExtraChannels(size_t max, std::chrono::milliseconds send_timeout,
                bool pin)
      : max_(max), send_timeout_(send_timeout) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pin && sched_getaffinity(0, sizeof set, &set) == 0) {
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) cpus_.push_back(cpu);
    }
  }

  // Starts a thread running `serve` on the server end of a new channel and
  // returns the client end. EMFILE past the limit or once stopping.
  Result<Channel> Open(std::function<void(const Channel&)> serve) {
    MutexLock lock(mu_);
    if (stopping_ || served_.size() >= max_) return Errno(EMFILE);
    auto pair = VEIL_TRY(Channel::CreatePair());
    VEIL_TRY_VOID(pair.first.SetSendTimeout(send_timeout_));
    auto served = std::make_unique<Served>(Served{std::move(pair.first), {}});
    // ServerOptions::pin_channels: the channel of rank i on CPU i.
    const int cpu = cpus_.size() > 1 ? cpus_[served_.size() % cpus_.size()]
                                     : -1;
    served->thread = std::thread(
        [serve = std::move(serve), channel = &served->channel, cpu] {
          if (cpu >= 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            // Refused (a filter without it): the thread runs anywhere.
            (void)sched_setaffinity(0, sizeof one, &one);
          }
          serve(*channel);
        });
    served_.push_back(std::move(served));
    return std::move(pair.second);
  }

  // Wakes every channel thread (shutdown of its socket) and joins them.
  void StopAll() {
    std::vector<std::unique_ptr<Served>> taken;
    {
      MutexLock lock(mu_);
      stopping_ = true;
      taken = std::move(served_);
    }
    for (auto& served : taken) served->channel.Shutdown();
    for (auto& served : taken) served->thread.join();
  }

 private:
  struct Served {
    Channel channel;
    std::thread thread;
  };

  const size_t max_;
  const std::chrono::milliseconds send_timeout_;
  std::vector<int> cpus_;  // pin_channels: the CPUs, in order; fixed
  Mutex mu_;
  bool stopping_ VEIL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<Served>> served_ VEIL_GUARDED_BY(mu_);
};

// Serves one channel of a connection. Borrowed references all outlive it:
// the Connection and ExtraChannels live in Server::Serve's frame until
// every channel thread has been joined.
class ChannelServer final {
 public:
  ChannelServer(Connection& connection, ExtraChannels& extras,
                const ServerOptions& options, const Channel& channel)
      : connection_(connection),
        extras_(extras),
        options_(options),
        channel_(channel) {}

  // Until the peer leaves (Ok) or the connection must end (its errno).
  Result<void> Run() {
    return options_.workers_per_channel <= 1 ? RunInline() : RunPooled();
  }

 private:
  struct Frame {
    std::vector<uint8_t> bytes;
    size_t num_fds = 0;  // Descriptors that came with it, already closed.
  };

  Result<void> RunInline();
  Result<void> RunPooled();
  // Handles one datagram, replying to it. Fails only when the connection
  // must end: the peer is gone, or the datagram has no readable header.
  Result<void> Handle(std::span<const uint8_t> bytes, size_t num_fds);
  Result<void> OpenChannel(uint64_t tag);
  Result<void> SendReply(uint64_t tag, Outgoing out);
  Result<void> SendError(uint64_t tag, Errno error);

  Connection& connection_;
  ExtraChannels& extras_;
  const ServerOptions& options_;
  const Channel& channel_;
};

Result<void> ChannelServer::RunInline() {
  std::vector<uint8_t> buffer(kMaxMessageSize);
  while (true) {
    Result<Channel::Received> got = channel_.Recv(buffer);
    if (!got) return PeerGone(got.error()) ? Ok() : got.error();
    // No request carries descriptors: whatever came is closed unread,
    // before anything is sent (one could be the client's own end of this
    // socket, keeping it open while we wait for it to read).
    const size_t num_fds = got->fds.size();
    got->fds.clear();
    Result<void> handled =
        Handle(std::span<const uint8_t>(buffer.data(), got->size), num_fds);
    if (!handled) return PeerGone(handled.error()) ? Ok() : handled.error();
  }
}

Result<void> ChannelServer::RunPooled() {
  // One reader (this thread) feeds a bounded queue; workers handle and
  // reply. The bound gives backpressure: a client flooding requests blocks
  // in its own sendmsg instead of growing our memory.
  const size_t capacity = options_.workers_per_channel * 4;
  Mutex mu;
  CondVar cv;
  std::deque<Frame> queue;  // Guarded by mu.
  bool closing = false;     // Guarded by mu.
  Errno failure(0);         // Guarded by mu.

  auto work = [&] {
    while (true) {
      Frame frame;
      {
        MutexLock lock(mu);
        while (queue.empty() && !closing) cv.Wait(mu);
        // Requests already received still run after the peer left: the
        // client asked for them, and may not have waited for a reply.
        if (queue.empty()) return;
        frame = std::move(queue.front());
        queue.pop_front();
      }
      cv.SignalAll();  // Room for the reader.
      Result<void> handled = Handle(frame.bytes, frame.num_fds);
      if (!handled && !PeerGone(handled.error())) {
        MutexLock lock(mu);
        if (failure.code() == 0) failure = handled.error();
        closing = true;
        channel_.Shutdown();  // Wakes the reader.
      }
    }
  };
  std::vector<std::thread> workers;
  for (size_t i = 0; i < options_.workers_per_channel; ++i) {
    workers.emplace_back(work);
  }

  std::vector<uint8_t> buffer(kMaxMessageSize);
  Errno read_error(0);
  while (true) {
    Result<Channel::Received> got = channel_.Recv(buffer);
    if (!got) {
      read_error = got.error();
      break;
    }
    // Descriptors are closed here, not when a worker gets to the request
    // (see RunInline).
    Frame frame{
        std::vector<uint8_t>(buffer.begin(), buffer.begin() + got->size),
        got->fds.size()};
    got->fds.clear();
    {
      MutexLock lock(mu);
      while (queue.size() >= capacity && !closing) cv.Wait(mu);
      if (closing) break;
      queue.push_back(std::move(frame));
    }
    cv.SignalAll();
  }
  {
    MutexLock lock(mu);
    closing = true;
  }
  cv.SignalAll();
  for (std::thread& worker : workers) worker.join();

  if (failure.code() != 0) return failure;
  if (read_error.code() != 0 && !PeerGone(read_error)) return read_error;
  return Ok();
}

Result<void> ChannelServer::Handle(std::span<const uint8_t> bytes,
                                   size_t num_fds) {
  Result<Decoded<Request>> decoded = DecodeRequest(bytes, num_fds);
  if (!decoded) {
    Result<Header> header = DecodeHeader(bytes);
    if (!header) {
      // Without a tag we cannot answer; a client this confused is cut off.
      VEIL_LOG(kWarning) << "lisafs: datagram without a valid header, "
                            "closing connection";
      return Errno(EPROTO);
    }
    if (decoded.error().code() == EPROTONOSUPPORT) {
      VEIL_LOG(kWarning) << "lisafs: client speaks another protocol version "
                            "(ours is "
                         << kProtocolVersion << ")";
    } else {
      VEIL_LOG(kDebug) << "lisafs: malformed " << MessageName(header->id)
                       << " request, errno " << decoded.error().code();
    }
    return SendError(header->tag, decoded.error());
  }
  const uint64_t tag = decoded->header.tag;
  if (std::holds_alternative<ChannelReq>(decoded->message)) {
    return OpenChannel(tag);
  }
  Result<Outgoing> out =
      connection_.Handle(decoded->message, channel_.max_send_size());
  if (!out) return SendError(tag, out.error());
  return SendReply(tag, std::move(*out));
}

Result<void> ChannelServer::OpenChannel(uint64_t tag) {
  if (!connection_.mounted()) return SendError(tag, Errno(EINVAL));
  Connection& connection = connection_;
  ExtraChannels& extras = extras_;
  const ServerOptions& options = options_;
  Result<Channel> client_end =
      extras_.Open([&connection, &extras, &options](const Channel& channel) {
        Result<void> done =
            ChannelServer(connection, extras, options, channel).Run();
        // The socket itself stays open until StopAll: shut it down now so
        // a client reading this channel sees the end, not a hang.
        channel.Shutdown();
        if (!done) {
          VEIL_LOG(kInfo) << "lisafs: extra channel ended, errno "
                          << done.error().code();
        }
      });
  if (!client_end) return SendError(tag, client_end.error());
  std::vector<uint8_t> bytes = VEIL_MUST(Encode(ChannelResp{}, tag));
  const int fd = client_end->fd();
  // Our copy of the client end closes when client_end goes out of scope.
  return Sent(channel_.Send(bytes, std::span<const int>(&fd, 1)));
}

Result<void> ChannelServer::SendReply(uint64_t tag, Outgoing out) {
  Result<std::vector<uint8_t>> bytes = EncodeResponse(out.message, tag);
  if (!bytes || bytes->size() > channel_.max_send_size()) {
    // The backend produced something the wire cannot carry (an unsafe name
    // in a dirent, an over-long reply): withdraw what the reply would have
    // handed out and report EIO rather than send it.
    VEIL_LOG(kError) << "lisafs: cannot encode "
                     << MessageName(IdOf(out.message)) << " reply";
    connection_.Forget(out.new_fds);
    return SendError(tag, Errno(EIO));
  }
  const int fd = out.fd.get();
  std::span<const int> fds;
  if (out.fd.valid()) fds = std::span<const int>(&fd, 1);
  Result<void> sent = Sent(channel_.Send(*bytes, fds));
  if (!sent) connection_.Forget(out.new_fds);
  return sent;
}

Result<void> ChannelServer::SendError(uint64_t tag, Errno error) {
  ErrorResp reply;
  const int code = error.code();
  reply.error = code >= 1 && code <= 4095 ? static_cast<uint32_t>(code) : EIO;
  std::vector<uint8_t> bytes = VEIL_MUST(Encode(reply, tag));
  return Sent(channel_.Send(bytes, {}));
}

}  // namespace

Result<void> Server::Serve(Channel channel) {
  VEIL_TRY_VOID(channel.SetSendTimeout(options_.send_timeout));
  Connection connection(backend_, options_);
  ExtraChannels extras(options_.max_channels, options_.send_timeout,
                       options_.pin_channels);
  Result<void> result =
      ChannelServer(connection, extras, options_, channel).Run();
  // The main channel is the connection: when it ends, so do the others.
  extras.StopAll();
  return result;
}

}  // namespace veil::lisafs
