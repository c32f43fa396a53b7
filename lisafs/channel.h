// SPDX-License-Identifier: Apache-2.0
//
// Channel: one end of a SOCK_SEQPACKET unix socket carrying whole LISAFS
// messages, with host descriptors as SCM_RIGHTS.
//
// SOCK_SEQPACKET keeps message boundaries, so one sendmsg(2) is one
// message and one recvmsg(2) returns exactly one; no framing code can get
// the length wrong. Received descriptors are always close-on-exec
// (MSG_CMSG_CLOEXEC) and owned by UniqueFd from the moment they arrive, so
// an error path cannot leak one into a later exec.
//
// Linux refuses a unix datagram larger than the sender's SO_SNDBUF (minus a
// little) with EMSGSIZE, and an unprivileged process cannot raise SO_SNDBUF
// beyond net.core.wmem_max. The channel therefore asks for a buffer that
// fits kMaxMessageSize, reads back what it got, and reports the largest
// message it can send as max_send_size(); Mount exchanges these sizes.
//
// Ownership: a Channel owns its socket. Thread-safety: Send and Recv may be
// called concurrently from several threads (each is a single system call
// on a message-preserving socket); moving or destroying a Channel requires
// that no call is in progress.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace veil::lisafs {

class Channel final {
 public:
  // A connected pair of channels (socketpair(2)).
  static Result<std::pair<Channel, Channel>> CreatePair();

  // Takes over a connected socket. Errors: ENOTSOCK if `fd` is not a
  // socket; EPROTOTYPE if it is not an AF_UNIX SOCK_SEQPACKET one; ENOBUFS
  // if its send buffer cannot carry kMinMessageSize.
  static Result<Channel> Adopt(UniqueFd fd);

  Channel(Channel&&) noexcept = default;
  Channel& operator=(Channel&&) noexcept = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends one message with `fds` attached (borrowed: the kernel duplicates
  // them). Never raises SIGPIPE. Errors: EINVAL for an empty message (it
  // would read as end-of-stream) or more than kMaxFdsPerMessage fds;
  // EMSGSIZE if bytes exceed max_send_size(); EPIPE/ECONNRESET if the peer
  // is gone; EAGAIN after a send timeout (SetSendTimeout); other sendmsg(2)
  // errors. EINTR is retried.
  Result<void> Send(std::span<const uint8_t> bytes,
                    std::span<const int> fds) const;

  struct Received {
    size_t size = 0;            // Bytes stored at the buffer's start.
    std::vector<UniqueFd> fds;  // Descriptors that came with them.
  };

  // Receives one message into `buffer`. Errors: ECONNRESET when the peer
  // has closed or shut down the channel (an empty datagram reads the same
  // way, which is why Send refuses to produce one); EMSGSIZE if the message
  // was longer than `buffer` (MSG_TRUNC) and EPROTO if descriptors were cut
  // off (MSG_CTRUNC) or an unexpected control message came: in all of these
  // cases every descriptor that did arrive is closed. EINTR is retried.
  Result<Received> Recv(std::span<uint8_t> buffer) const;

  // Makes a Send that cannot proceed for `timeout` (the peer does not read
  // and its queue is full) fail with EAGAIN instead of blocking on
  // (SO_SNDTIMEO). Errors: setsockopt(2)'s.
  Result<void> SetSendTimeout(std::chrono::milliseconds timeout) const;

  // shutdown(2) both directions: a Recv blocked in another thread returns
  // ECONNRESET, and the peer sees end-of-stream. The socket stays open.
  void Shutdown() const;

  size_t max_send_size() const { return max_send_size_; }
  int fd() const { return fd_.get(); }

 private:
  Channel(UniqueFd fd, size_t max_send_size)
      : fd_(std::move(fd)), max_send_size_(max_send_size) {}

  UniqueFd fd_;
  size_t max_send_size_;
};

}  // namespace veil::lisafs
