// SPDX-License-Identifier: Apache-2.0
#include "lisafs/channel.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lisafs/types.h"

namespace veil::lisafs {
namespace {

// Linux rejects a unix datagram when len > sk_sndbuf - 32 (unix_dgram_
// sendmsg); keep a little more headroom than that.
constexpr size_t kSendBufferSlack = 64;

// Room for more descriptors than any message carries, so that a peer that
// attaches too many is detected (we see them and close them) rather than
// having the kernel drop the extras silently.
constexpr size_t kControlSize = CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage);

Result<int> GetIntOption(int fd, int option) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) != 0) {
    return Errno::FromErrno();
  }
  return value;
}

}  // namespace

Result<std::pair<Channel, Channel>> Channel::CreatePair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return Errno::FromErrno();
  }
  UniqueFd a(fds[0]);
  UniqueFd b(fds[1]);
  Channel first = VEIL_TRY(Adopt(std::move(a)));
  Channel second = VEIL_TRY(Adopt(std::move(b)));
  return std::pair<Channel, Channel>(std::move(first), std::move(second));
}

Result<Channel> Channel::Adopt(UniqueFd fd) {
  const int domain = VEIL_TRY(GetIntOption(fd.get(), SO_DOMAIN));
  const int type = VEIL_TRY(GetIntOption(fd.get(), SO_TYPE));
  if (domain != AF_UNIX || type != SOCK_SEQPACKET) return Errno(EPROTOTYPE);

  // Best effort: the kernel caps the request at wmem_max (and doubles it);
  // whatever we end up with is read back below.
  const int wanted = static_cast<int>(kMaxMessageSize + kSendBufferSlack);
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &wanted, sizeof(wanted));
  const int sndbuf = VEIL_TRY(GetIntOption(fd.get(), SO_SNDBUF));
  if (sndbuf < 0 ||
      static_cast<size_t>(sndbuf) < kMinMessageSize + kSendBufferSlack) {
    return Errno(ENOBUFS);
  }
  const size_t max_send =
      std::min(kMaxMessageSize, static_cast<size_t>(sndbuf) - kSendBufferSlack);
  return Channel(std::move(fd), max_send);
}

Result<void> Channel::Send(std::span<const uint8_t> bytes,
                           std::span<const int> fds) const {
  if (bytes.empty() || fds.size() > kMaxFdsPerMessage) return Errno(EINVAL);
  if (bytes.size() > max_send_size_) return Errno(EMSGSIZE);

  iovec iov{};
  // sendmsg does not write through iov_base; the cast only satisfies the
  // C struct's type.
  iov.iov_base = const_cast<uint8_t*>(bytes.data());
  iov.iov_len = bytes.size();
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;

  alignas(cmsghdr) char control[kControlSize] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }

  ssize_t sent;
  do {
    sent = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Errno::FromErrno();
  // SOCK_SEQPACKET sends all or nothing; a short count would be a kernel
  // contract violation, reported rather than ignored.
  if (static_cast<size_t>(sent) != bytes.size()) return Errno(EMSGSIZE);
  return Ok();
}

Result<Channel::Received> Channel::Recv(std::span<uint8_t> buffer) const {
  iovec iov{};
  iov.iov_base = buffer.data();
  iov.iov_len = buffer.size();
  alignas(cmsghdr) char control[kControlSize] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);

  ssize_t got;
  do {
    got = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return Errno::FromErrno();

  // Take ownership of every descriptor before looking at anything else, so
  // that each error return below closes them.
  Received received;
  bool unexpected_control = false;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
      unexpected_control = true;
      continue;
    }
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      received.fds.emplace_back(fd);
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0 || unexpected_control) {
    return Errno(EPROTO);
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0) return Errno(EMSGSIZE);
  if (got == 0) return Errno(ECONNRESET);
  received.size = static_cast<size_t>(got);
  return received;
}

Result<void> Channel::SetSendTimeout(std::chrono::milliseconds timeout) const {
  struct timeval tv = {};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return FromSyscall(
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)));
}

void Channel::Shutdown() const {
  // NOTE: ENOTCONN after the peer already left is harmless.
  (void)::shutdown(fd_.get(), SHUT_RDWR);
}

}  // namespace veil::lisafs
