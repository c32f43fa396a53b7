// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/seccomp_platform.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/logging.h"

// Kernel 6.6 (Debian 12's uapi headers predate it).
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace veil::sentry {
namespace {

constexpr uint64_t kPageSize = 4096;

enum class Direction : uint8_t { kFromTask, kToTask };

ssize_t CopyOnce(pid_t tid, uint64_t addr, uint8_t* local, size_t len,
                 Direction dir) {
  iovec mine{local, len};
  iovec theirs{reinterpret_cast<void*>(addr), len};
  if (dir == Direction::kFromTask) {
    return process_vm_readv(tid, &mine, 1, &theirs, 1, 0);
  }
  return process_vm_writev(tid, &mine, 1, &theirs, 1, 0);
}

// copy_from_user / copy_to_user over process_vm_readv/writev: the whole
// range at once; only when that falls short, page by page up to the first
// page that cannot be reached.
Result<size_t> CopyTaskMemory(pid_t tid, TaskAddr addr, uint8_t* local,
                              size_t len, Direction dir) {
  if (len == 0) return size_t{0};
  // Linux: access_ok() rejects a range that wraps around the address space.
  if (!addr.Offset(len)) return Errno(EFAULT);
  ssize_t n = CopyOnce(tid, addr.value(), local, len, dir);
  if (n == static_cast<ssize_t>(len)) return len;
  // ESRCH (the task is gone), EPERM: nothing to retry.
  if (n < 0 && errno != EFAULT) return Errno::FromErrno();
  // A short count is a copied prefix: go on from its end.
  size_t done = n > 0 ? static_cast<size_t>(n) : 0;
  while (done < len) {
    uint64_t at = addr.value() + done;
    size_t chunk = std::min<uint64_t>(len - done, kPageSize - at % kPageSize);
    n = CopyOnce(tid, at, local + done, chunk, dir);
    if (n < 0) {
      if (errno != EFAULT) return Errno::FromErrno();
      break;
    }
    done += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < chunk) break;
  }
  // Linux: copy_from_user() copies nothing from an unmapped first page;
  // the syscall then answers EFAULT.
  if (done == 0) return Errno(EFAULT);
  return done;
}

}  // namespace

std::unique_ptr<SeccompPlatform> SeccompPlatform::Create(UniqueFd listener,
                                                         SyncWakeUp wake) {
  SyncWakeUp set = SyncWakeUp::kOff;
  if (wake == SyncWakeUp::kOn) {
    if (ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS,
              SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0) {
      set = SyncWakeUp::kOn;
    }
    static std::atomic<bool> logged{false};
    if (set == SyncWakeUp::kOff && !logged.exchange(true)) {
      VEIL_LOG(kWarning)
          << "seccomp: the kernel refuses SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP ("
          << strerror(errno)
          << "); pin each task and the thread serving it to one CPU";
    }
  }
  return std::unique_ptr<SeccompPlatform>(
      new SeccompPlatform(std::move(listener), set));
}

Result<SyscallRequest> SeccompPlatform::Receive() {
  for (;;) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (poll(&p, 1, -1) < 0) return Errno::FromErrno();  // EINTR included
    if ((p.revents & POLLIN) == 0) {
      // POLLHUP: no task uses the filter any more (Linux:
      // seccomp_notify_poll once the filter's users are gone). Ours:
      // ECANCELED, platform.h's "no task is left".
      if ((p.revents & (POLLHUP | POLLERR)) != 0) return Errno(ECANCELED);
      continue;
    }
    seccomp_notif n;
    memset(&n, 0, sizeof n);  // the kernel insists on a zeroed buffer
    if (ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) {
      // ENOENT: the task died (or was interrupted) before we took its
      // notification; wait for the next one.
      if (errno == ENOENT) continue;
      return Errno::FromErrno();
    }
    SyscallRequest req;
    req.id = n.id;
    req.tid = static_cast<pid_t>(n.pid);
    req.nr = n.data.nr;
    for (size_t i = 0; i < req.args.size(); ++i) req.args[i] = n.data.args[i];
    req.instruction_pointer = n.data.instruction_pointer;
    return req;
  }
}

Result<size_t> SeccompPlatform::ReadMemory(const SyscallRequest& req,
                                           TaskAddr addr,
                                           std::span<uint8_t> out) {
  return CopyTaskMemory(req.tid, addr, out.data(), out.size(),
                        Direction::kFromTask);
}

Result<size_t> SeccompPlatform::WriteMemory(const SyscallRequest& req,
                                            TaskAddr addr,
                                            std::span<const uint8_t> in) {
  // process_vm_writev only reads the local buffer.
  return CopyTaskMemory(req.tid, addr, const_cast<uint8_t*>(in.data()),
                        in.size(), Direction::kToTask);
}

bool SeccompPlatform::StillPending(const SyscallRequest& req) {
  uint64_t id = req.id;
  return ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

Result<int64_t> SeccompPlatform::Answer(const SyscallRequest& req,
                                        const SyscallAnswer& answer) {
  seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = req.id;
  switch (answer.kind()) {
    case SyscallAnswer::Kind::kValue:
      resp.val = answer.value();
      break;
    case SyscallAnswer::Kind::kError:
      resp.error = -answer.error();
      break;
    case SyscallAnswer::Kind::kContinue:
      // Only when the caller asks (platform.h: registers-only calls).
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      break;
    case SyscallAnswer::Kind::kInstallFd: {
      seccomp_notif_addfd addfd;
      memset(&addfd, 0, sizeof addfd);
      addfd.id = req.id;
      addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
      if (answer.placement() == FdPlacement::kExact) {
        addfd.flags |= SECCOMP_ADDFD_FLAG_SETFD;
        addfd.newfd = static_cast<uint32_t>(answer.number());
      }
      addfd.srcfd = static_cast<uint32_t>(answer.host_fd());
      addfd.newfd_flags =
          answer.cloexec() == CloseOnExec::kYes ? O_CLOEXEC : 0;
      int fd = ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
      if (fd >= 0) return int64_t{fd};
      int error = errno;
      // ENOENT: interrupted; the call comes again (platform.h).
      if (error == ENOENT) return Errno(ENOENT);
      // The task could not take the fd (Linux: get_unused_fd_flags answers
      // EMFILE, replace_fd EBADF past RLIMIT_NOFILE); the call is still
      // pending and fails with that errno.
      resp.error = -error;
      if (ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 &&
          errno == ENOENT) {
        return Errno(ENOENT);
      }
      return Errno(error);
    }
  }
  if (ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0) {
    return Errno::FromErrno();  // ENOENT: interrupted, comes again
  }
  // kContinue: 0, not the call's result (platform.h).
  return answer.kind() == SyscallAnswer::Kind::kError
             ? int64_t{-answer.error()}
             : answer.value();
}

Result<void> SeccompPlatform::AddFd(const SyscallRequest& req, int host_fd,
                                    int number, CloseOnExec cloexec) {
  seccomp_notif_addfd addfd;
  memset(&addfd, 0, sizeof addfd);
  addfd.id = req.id;
  addfd.flags = SECCOMP_ADDFD_FLAG_SETFD;
  addfd.newfd = static_cast<uint32_t>(number);
  addfd.srcfd = static_cast<uint32_t>(host_fd);
  addfd.newfd_flags = cloexec == CloseOnExec::kYes ? O_CLOEXEC : 0;
  if (ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0)
    return Errno::FromErrno();
  return Ok();
}

Result<UniqueFd> SeccompPlatform::GetTaskFd(const SyscallRequest& req,
                                            int number) {
  // PIDFD_THREAD (Linux 6.9): the thread's own table, which differs from
  // its leader's after unshare(CLONE_FILES).
  constexpr unsigned kPidfdThread = O_EXCL;
  UniqueFd pidfd(static_cast<int>(
      syscall(SYS_pidfd_open, req.tid, kPidfdThread)));
  if (!pidfd) return Errno::FromErrno();
  // The tid may have been reused since the call was made.
  if (!StillPending(req)) return Errno(ENOENT);
  UniqueFd fd(static_cast<int>(
      syscall(SYS_pidfd_getfd, pidfd.get(), number, 0)));
  if (!fd) return Errno::FromErrno();  // EBADF: nothing there
  return fd;
}

}  // namespace veil::sentry
