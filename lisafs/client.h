// SPDX-License-Identifier: Apache-2.0
//
// Client: the requesting side of a LISAFS connection.
//
//   auto channels = VEIL_TRY(Channel::CreatePair());
//   auto client = VEIL_TRY(Client::Create(std::move(channels.first)));
//   auto walked = VEIL_TRY(client->Call(WalkReq{client->root().control_fd,
//                                               {"etc", "passwd"}}));
//
// Create performs the Mount handshake. After that any number of threads
// may Call at once: each request gets a fresh tag, and the callers read
// the replies themselves, one at a time (the reader): the reader routes
// every reply to the thread waiting on its tag, so replies may come back
// in any order, and when its own has come it hands the reading on to a
// caller still waiting. A lone call thus costs one wake-up each way (a
// receiver thread cost one more, and a wake-up across CPUs costs tens of
// microseconds on a VM).
//
// Trust: the server's replies are untrusted input. They are decoded with
// the bounds-checked codec and checked against their request
// (internal/reply_checks.h); a malformed reply fails that call with EPROTO,
// and a reply with an unknown tag or an unparsable header ends the
// connection (every pending and later call fails with EPROTO).
//
// Ownership: a Client owns its channel. Thread-safety: Call and the
// accessors are thread-safe. Destroying the client shuts the channel down
// (a reader then fails every pending call with ECONNRESET); no call may
// be in progress or start once destruction begins.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "lisafs/channel.h"
#include "lisafs/codec.h"
#include "lisafs/internal/reply_checks.h"
#include "lisafs/message.h"

namespace veil::lisafs {

// A reply with the host descriptor that came with it (invalid if none).
template <typename T>
struct Reply {
  T message;
  UniqueFd fd;
};

class Client final {
 public:
  // Mounts over `channel`. Errors: EPROTONOSUPPORT if the server speaks
  // another protocol version (the Errno says so); EPROTO for a malformed
  // reply; the server's Mount errno; the channel's errors.
  static Result<std::unique_ptr<Client>> Create(Channel channel);

  // Opens one more channel per CPU this thread may run on (ChannelReq),
  // up to `max`, so a call travels on the channel of the CPU its thread
  // runs on: with a server that runs each channel's thread on the CPU of
  // the same rank (ServerOptions::pin_channels), a round trip stays on
  // one CPU. Without them (one CPU, an old server, an error) every call
  // uses the first channel. Call once, before any other call.
  void OpenCpuLanes(size_t max);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The export's root, as Mount returned it.
  const Inode& root() const { return root_; }
  // Request ids the server implements.
  const std::vector<MessageId>& supported() const { return supported_; }
  // The largest PRead count / PWrite payload that fits both directions.
  size_t max_io_size() const { return max_io_size_; }

  // Sends `request` and waits for its reply. Errors: the server's errno;
  // EPROTO for a malformed or inconsistent reply; ECONNRESET once the
  // connection is gone; the codec's errors if `request` cannot be encoded
  // (EINVAL, EBADF, ENAMETOOLONG, EMSGSIZE); the channel's send errors.
  template <typename Req>
  Result<Reply<typename Req::Response>> Call(const Req& request) {
    using Resp = typename Req::Response;
    std::vector<uint8_t> bytes = VEIL_TRY(Encode(request, 0));
    Frame frame = VEIL_TRY(RoundTrip(std::move(bytes)));
    if (Result<Header> header = ParseReplyHeader(frame, Req::kId); !header) {
      return header.error();
    }
    Result<Resp> message = DecodePayload<Resp>(
        std::span<const uint8_t>(frame.bytes).subspan(kHeaderSize),
        frame.fds.size());
    if (!message) return MalformedReply(message.error());
    VEIL_TRY_VOID(internal::CheckReply(request, *message));
    Reply<Resp> reply{std::move(*message), UniqueFd()};
    if (!frame.fds.empty()) reply.fd = std::move(frame.fds.front());
    return reply;
  }

 private:
  struct Frame {
    std::vector<uint8_t> bytes;
    std::vector<UniqueFd> fds;
  };
  // One call waiting for its reply (or for its turn to read); lives on
  // the caller's stack.
  struct Pending {
    CondVar done_cv;
    // Guarded by its lane's mu (not nameable from here for the analysis).
    bool done = false;
    Errno error{0};  // 0 if `frame` holds the reply.
    Frame frame;
  };
  // A channel and the calls waiting on it; the callers read its replies
  // themselves, one at a time.
  struct Lane {
    explicit Lane(Channel c) : channel(std::move(c)) {}
    Channel channel;
    Mutex mu;
    std::map<uint64_t, Pending*> pending VEIL_GUARDED_BY(mu);
    // A caller is reading the channel; buffer is its alone meanwhile.
    bool reading VEIL_GUARDED_BY(mu) = false;
    std::vector<uint8_t> buffer;
  };

  explicit Client(Channel channel) {
    lanes_.push_back(std::make_unique<Lane>(std::move(channel)));
  }

  Result<void> Mount();
  // The lane for the CPU the calling thread runs on.
  Lane& PickLane();
  // Tags `request`, sends it and blocks until its reply (or a failure).
  Result<Frame> RoundTrip(std::vector<uint8_t> request);
  // Checks the reply's header: an Error reply becomes its errno; any id
  // other than `expected` is EPROTO.
  static Result<Header> ParseReplyHeader(const Frame& frame,
                                         MessageId expected);
  static Errno MalformedReply(Errno decode_error);
  // Reads one reply from `lane` as its reader and routes it (lane.mu
  // released while it waits on the channel). `first`: the caller's first
  // wait for its reply, which says MayBlock only if the reply is slow.
  void ReadOneLocked(Lane& lane, bool first) VEIL_REQUIRES(lane.mu);
  // Hands a reply to the call waiting on `tag`; false if there is none.
  static bool DeliverLocked(Lane& lane, uint64_t tag,
                            std::span<const uint8_t> bytes,
                            std::vector<UniqueFd> fds) VEIL_REQUIRES(lane.mu);
  // Ends the connection: every pending and future call fails with
  // `error` (those of other lanes when their reader's Recv fails).
  void Fail(Lane& held, Errno error) VEIL_REQUIRES(held.mu);
  // The error the connection ended with, or 0.
  Errno Broken();

  // lanes_[0] is the connection's channel; the others are per CPU, fixed
  // after OpenCpuLanes.
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::vector<int> lane_of_cpu_;  // CPU number -> index in lanes_
  Inode root_;
  std::vector<MessageId> supported_;
  size_t max_io_size_ = 0;

  std::atomic<uint64_t> next_tag_{1};
  Mutex broken_mu_;
  Errno broken_ VEIL_GUARDED_BY(broken_mu_){0};
};

}  // namespace veil::lisafs
