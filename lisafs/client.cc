// SPDX-License-Identifier: Apache-2.0
#include "lisafs/client.h"

#include <poll.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>

#include "base/blocking.h"
#include "base/logging.h"

namespace veil::lisafs {
namespace {

// Bytes of a PWrite request (or PRead reply) that are not data: header,
// FDID, offset and length prefix, rounded up.
constexpr size_t kIoOverhead = 64;

const Errno kConnectionLost(ECONNRESET, "lisafs: connection to server lost");
// How long a reply may take before the caller says it may block.
constexpr int kQuickReplyMs = 1;

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(Channel channel) {
  std::unique_ptr<Client> client(new Client(std::move(channel)));
  VEIL_TRY_VOID(client->Mount());
  return client;
}

Client::~Client() {
  for (auto& lane : lanes_) lane->channel.Shutdown();
}

void Client::OpenCpuLanes(size_t max) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  if (cpus.size() < 2) return;
  std::vector<std::unique_ptr<Lane>> lanes;
  for (size_t i = 0; i < cpus.size() && i < max; ++i) {
    Result<Reply<ChannelResp>> opened = Call(ChannelReq{});
    if (!opened || !opened->fd.valid()) break;
    Result<Channel> channel = Channel::Adopt(std::move(opened->fd));
    if (!channel) break;
    lanes.push_back(std::make_unique<Lane>(std::move(*channel)));
  }
  // The server numbers its channels in the order they were opened: the
  // first lane is the first CPU's. CPUs past the lanes use the first
  // channel.
  lane_of_cpu_.assign(static_cast<size_t>(cpus.back()) + 1, 0);
  for (size_t i = 0; i < lanes.size(); ++i) {
    lane_of_cpu_[static_cast<size_t>(cpus[i])] = static_cast<int>(i + 1);
    lanes_.push_back(std::move(lanes[i]));
  }
}

Client::Lane& Client::PickLane() {
  const int cpu = sched_getcpu();
  if (cpu >= 0 && static_cast<size_t>(cpu) < lane_of_cpu_.size())
    return *lanes_[static_cast<size_t>(lane_of_cpu_[static_cast<size_t>(cpu)])];
  return *lanes_[0];
}

Errno Client::Broken() {
  MutexLock lock(broken_mu_);
  return broken_;
}

Result<void> Client::Mount() {
  // Synchronous: nothing else may be sent before the server has accepted
  // our version.
  Channel& channel = lanes_[0]->channel;
  MountReq request;
  request.max_message_size = static_cast<uint32_t>(channel.max_send_size());
  const uint64_t tag = next_tag_++;
  std::vector<uint8_t> bytes = VEIL_TRY(Encode(request, tag));
  VEIL_TRY_VOID(channel.Send(bytes, {}));

  Frame frame;
  frame.bytes.resize(kMaxMessageSize);
  Channel::Received got = VEIL_TRY(channel.Recv(frame.bytes));
  frame.bytes.resize(got.size);
  frame.fds = std::move(got.fds);

  Result<Header> header = ParseReplyHeader(frame, MessageId::kMount);
  if (!header && header.error().code() == EPROTONOSUPPORT) {
    VEIL_LOG(kWarning) << "lisafs: server refused protocol version "
                       << kProtocolVersion;
    return Errno(EPROTONOSUPPORT,
                 "lisafs: server speaks another protocol version");
  }
  if (!header) return header.error();
  if (header->tag != tag) return MalformedReply(Errno(EINVAL));
  Result<MountResp> reply = DecodePayload<MountResp>(
      std::span<const uint8_t>(frame.bytes).subspan(kHeaderSize),
      frame.fds.size());
  if (!reply) return MalformedReply(reply.error());

  root_ = reply->root;
  supported_ = std::move(reply->supported);
  const size_t limit =
      std::min<size_t>(channel.max_send_size(), reply->max_message_size);
  max_io_size_ = std::min(kMaxIoSize, limit - kIoOverhead);
  return Ok();
}

Errno Client::MalformedReply(Errno decode_error) {
  if (decode_error.code() == EPROTONOSUPPORT) {
    return Errno(EPROTONOSUPPORT,
                 "lisafs: server speaks another protocol version");
  }
  return Errno(EPROTO, "lisafs: malformed reply from server");
}

Result<Header> Client::ParseReplyHeader(const Frame& frame,
                                        MessageId expected) {
  Result<Header> header = DecodeHeader(frame.bytes);
  if (!header) return MalformedReply(header.error());
  if (header->id == MessageId::kError) {
    Result<ErrorResp> error = DecodePayload<ErrorResp>(
        std::span<const uint8_t>(frame.bytes).subspan(kHeaderSize),
        frame.fds.size());
    if (!error) return MalformedReply(error.error());
    return Errno(static_cast<int>(error->error));
  }
  if (header->id != expected) return MalformedReply(Errno(EINVAL));
  return *header;
}

Result<Client::Frame> Client::RoundTrip(std::vector<uint8_t> request) {
  Lane& lane = PickLane();
  Pending pending;
  const uint64_t tag = next_tag_++;
  {
    if (Errno broken = Broken(); broken.code() != 0) return broken;
    MutexLock lock(lane.mu);
    // Registered before sending, so that even an instant reply finds us.
    lane.pending.emplace(tag, &pending);
  }
  internal::SetTag(request, tag);
  Result<void> sent = lane.channel.Send(request, {});

  MutexLock lock(lane.mu);
  if (!sent) {
    // A reader may already have failed this call (connection lost);
    // either way it must stop referring to `pending`.
    lane.pending.erase(tag);
    return sent.error();
  }
  bool first = true;
  while (!pending.done) {
    if (lane.reading) {
      MayBlock();  // another caller's reply may come first, and slowly
      pending.done_cv.Wait(lane.mu);  // a reply, or the turn to read
      continue;
    }
    ReadOneLocked(lane, std::exchange(first, false));
  }
  // Someone must read for the calls still waiting.
  if (!lane.reading && !lane.pending.empty())
    lane.pending.begin()->second->done_cv.Signal();
  if (pending.error.code() != 0) return pending.error;
  return std::move(pending.frame);
}

void Client::ReadOneLocked(Lane& lane, bool first) {
  lane.reading = true;
  lane.mu.Unlock();
  if (first) {
    // Most replies come within tens of microseconds; one that does not
    // (a disk's fsync, a cold walk) may take long, and a sentry thread
    // then lets another serve the tasks meanwhile (base/blocking.h).
    // Saying so at once for every call cost more: the hand-off's wake-up
    // competes with the server's thread for the CPU.
    pollfd p{lane.channel.fd(), POLLIN, 0};
    if (::poll(&p, 1, kQuickReplyMs) == 0) MayBlock();
  } else {
    MayBlock();
  }
  if (lane.buffer.empty()) lane.buffer.resize(kMaxMessageSize);
  Result<Channel::Received> got = lane.channel.Recv(lane.buffer);
  lane.mu.Lock();
  lane.reading = false;
  if (!got) {
    if (got.error().code() != ECONNRESET) {
      VEIL_LOG(kWarning) << "lisafs: client receive failed, errno "
                         << got.error().code();
    }
    return Fail(lane, got.error().code() == ECONNRESET ? kConnectionLost
                                                       : got.error());
  }
  std::span<const uint8_t> bytes(lane.buffer.data(), got->size);
  Result<Header> header = DecodeHeader(bytes);
  if (!header) {
    VEIL_LOG(kWarning) << "lisafs: unparsable reply header from server";
    return Fail(lane, Errno(EPROTO, "lisafs: malformed reply from server"));
  }
  if (!DeliverLocked(lane, header->tag, bytes, std::move(got->fds))) {
    // Not ours to guess about: a server that answers requests nobody
    // made (or answers one twice) cannot be trusted with the next ones.
    VEIL_LOG(kWarning) << "lisafs: reply with unknown tag " << header->tag;
    return Fail(lane, Errno(EPROTO, "lisafs: reply with an unknown tag"));
  }
}

bool Client::DeliverLocked(Lane& lane, uint64_t tag,
                           std::span<const uint8_t> bytes,
                           std::vector<UniqueFd> fds) {
  auto it = lane.pending.find(tag);
  if (it == lane.pending.end()) return false;
  Pending* pending = it->second;
  lane.pending.erase(it);
  pending->frame.bytes.assign(bytes.begin(), bytes.end());
  pending->frame.fds = std::move(fds);
  pending->done = true;
  pending->done_cv.Signal();
  return true;
}

void Client::Fail(Lane& held, Errno error) {
  Errno broken(0);
  {
    MutexLock lock(broken_mu_);
    if (broken_.code() == 0) broken_ = error;
    broken = broken_;
  }
  for (auto& [tag, pending] : held.pending) {
    pending->error = broken;
    pending->done = true;
    pending->done_cv.Signal();
  }
  held.pending.clear();
  // Stop the server from sending more to a client that gave up. Another
  // channel's calls fail when their reader's Recv does (each waiting call
  // reads in turn), so no other channel's lock is taken here.
  for (auto& lane : lanes_) lane->channel.Shutdown();
}

}  // namespace veil::lisafs
