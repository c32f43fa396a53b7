// SPDX-License-Identifier: Apache-2.0
#include "base/fd_passing.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace veil {
namespace {

// Room for a few descriptors, so a sender's extra ones are seen (and
// closed) rather than silently dropped by the kernel with MSG_CTRUNC.
constexpr size_t kMaxFds = 4;

}  // namespace

Result<void> SendWithFd(int sock, std::string_view data, int fd) {
  struct iovec iov = {const_cast<char*>(data.data()), data.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Errno::FromErrno();
  if (static_cast<size_t>(sent) != data.size()) return Errno(EMSGSIZE);
  return Ok();
}

Result<size_t> ReceiveWithFd(int sock, std::span<char> buffer, UniqueFd* fd) {
  fd->reset();
  struct iovec iov = {buffer.data(), buffer.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t got;
  do {
    got = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return Errno::FromErrno();
  bool extra = false;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (!fd->valid() && !extra) {
        fd->reset(received);
      } else {
        extra = true;
        UniqueFd close_it(received);
      }
    }
  }
  if (extra) fd->reset();
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || extra) {
    fd->reset();
    return Errno(EMSGSIZE);
  }
  return static_cast<size_t>(got);
}

}  // namespace veil
