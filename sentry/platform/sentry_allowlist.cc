// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/sentry_allowlist.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>

#include <cerrno>
#include <linux/seccomp.h>
#include <sys/stat.h>

namespace veil::sentry {
namespace {

// Not in every uapi header (seccomp_platform.cc defines it too).
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif

#define VEIL_CALL(name) {SYS_##name, #name}

// One line each; sentry/README.md says why.
constexpr AllowedCall kAllowed[] = {
    // Memory and threads of the sentry itself.
    VEIL_CALL(brk), VEIL_CALL(mmap), VEIL_CALL(munmap), VEIL_CALL(mprotect),
    VEIL_CALL(mremap), VEIL_CALL(madvise), VEIL_CALL(futex),
    VEIL_CALL(set_robust_list), VEIL_CALL(rseq), VEIL_CALL(exit),
    VEIL_CALL(exit_group), VEIL_CALL(gettid), VEIL_CALL(getpid),
    VEIL_CALL(sched_getaffinity), VEIL_CALL(sched_setaffinity),
    VEIL_CALL(sched_yield), VEIL_CALL(clock_gettime),
    VEIL_CALL(clock_nanosleep), VEIL_CALL(getrandom),
    // Signals.
    VEIL_CALL(rt_sigaction), VEIL_CALL(rt_sigprocmask),
    VEIL_CALL(rt_sigreturn), VEIL_CALL(sigaltstack), VEIL_CALL(kill),
    VEIL_CALL(tgkill),
    // Descriptors it holds: memfds, pipes, the gofer sockets, stdio.
    VEIL_CALL(read), VEIL_CALL(write), VEIL_CALL(pread64),
    VEIL_CALL(pwrite64), VEIL_CALL(readv), VEIL_CALL(writev),
    VEIL_CALL(lseek), VEIL_CALL(close), VEIL_CALL(fstat),
    VEIL_CALL(newfstatat), VEIL_CALL(fcntl), VEIL_CALL(dup),
    VEIL_CALL(dup3), VEIL_CALL(poll), VEIL_CALL(ppoll),
    VEIL_CALL(memfd_create), VEIL_CALL(ftruncate), VEIL_CALL(fallocate),
    VEIL_CALL(pipe2), VEIL_CALL(sendmsg), VEIL_CALL(recvmsg),
    VEIL_CALL(shutdown), VEIL_CALL(eventfd2), VEIL_CALL(timerfd_create),
    VEIL_CALL(timerfd_settime),
    // The tasks' event fds, made here and installed (sys_event.cc).
    VEIL_CALL(epoll_create1), VEIL_CALL(signalfd4),
    // The tasks' sockets, served on the task's own (sys_socket.cc): a
    // unix path never reaches these (the VFS resolves it; the host
    // socket gets an abstract name).
    VEIL_CALL(bind), VEIL_CALL(connect), VEIL_CALL(accept4),
    VEIL_CALL(getsockname), VEIL_CALL(getpeername), VEIL_CALL(getsockopt),
    VEIL_CALL(sendto),
    // Its tasks: tracing, memory, fds.
    VEIL_CALL(ptrace), VEIL_CALL(wait4), VEIL_CALL(waitid),
    VEIL_CALL(process_vm_readv), VEIL_CALL(process_vm_writev),
    VEIL_CALL(pidfd_open), VEIL_CALL(pidfd_getfd),
};

#undef VEIL_CALL

// The ioctl requests it makes.
constexpr unsigned long kIoctls[] = {
    SECCOMP_IOCTL_NOTIF_RECV,  SECCOMP_IOCTL_NOTIF_SEND,
    SECCOMP_IOCTL_NOTIF_ID_VALID, SECCOMP_IOCTL_NOTIF_ADDFD,
    SECCOMP_IOCTL_NOTIF_SET_FLAGS, TCGETS, TIOCGWINSZ, FIONREAD,
};

Result<void> Check(int rc, const char* step) {
  if (rc < 0) return Errno(-rc, step);
  return Ok();
}

}  // namespace

std::span<const AllowedCall> SentryAllowlist() { return kAllowed; }

Result<void> AddSentryAllowlist(void* ctx, int proc_dir_fd, int fifo_dir_fd) {
  for (const AllowedCall& call : kAllowed) {
    VEIL_TRY_VOID(Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, call.nr, 0),
                        "sentry: seccomp allow"));
  }
  for (unsigned long request : kIoctls) {
    VEIL_TRY_VOID(Check(
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, request)),
        "sentry: seccomp allow ioctl"));
  }
  // Threads only: a clone without CLONE_THREAD would be a process.
  VEIL_TRY_VOID(Check(
      seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
      "sentry: seccomp allow clone(CLONE_THREAD)"));
  // clone3's flags are in memory: ENOSYS, and libc uses clone.
  VEIL_TRY_VOID(Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
                                       SCMP_SYS(clone3), 0),
                      "sentry: seccomp clone3 ENOSYS"));
  // futimens(fd): utimensat with a NULL path, the times of a memfd.
  VEIL_TRY_VOID(Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(utimensat),
                                       1, SCMP_A1(SCMP_CMP_EQ, 0)),
                      "sentry: seccomp allow futimens"));
  if (proc_dir_fd >= 0) {
    VEIL_TRY_VOID(Check(
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                         SCMP_A0(SCMP_CMP_EQ,
                                 static_cast<uint64_t>(proc_dir_fd))),
        "sentry: seccomp allow openat(procfs)"));
  }
  // A path from the cwd or absolute (AT_FDCWD: glibc's own opens, as
  // malloc's lazy look at /proc/sys/vm/overcommit_memory when it first
  // shrinks a thread's heap) fails with EACCES instead of killing: it
  // would find only the empty root, and glibc copes with the failure.
  VEIL_TRY_VOID(Check(
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
                       SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL,
                               static_cast<uint32_t>(AT_FDCWD))),
      "sentry: seccomp openat(AT_FDCWD) EACCES"));
  // The tasks' socket pairs (sentry/kernel/sys_socket.cc): AF_UNIX pairs,
  // connected to nothing else, with SO_PASSRIGHTS turned off.
  VEIL_TRY_VOID(Check(
      seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
                       SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
      "sentry: seccomp allow socketpair(AF_UNIX)"));
  // And the families they may make (sys_socket.cc SysSocket).
  for (int family : {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK}) {
    VEIL_TRY_VOID(Check(
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_EQ, static_cast<uint64_t>(family))),
        "sentry: seccomp allow socket"));
  }
  VEIL_TRY_VOID(Check(
      seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 2,
                       SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET),
                       SCMP_A2(SCMP_CMP_EQ, 83 /* SO_PASSRIGHTS */)),
      "sentry: seccomp allow setsockopt(SO_PASSRIGHTS)"));
  // The live view's LISAFS channels (sentry/control): lisafs::Channel
  // sizes its send buffer and bounds how long a reply may wait.
  for (int option : {SO_SNDBUF, SO_SNDTIMEO}) {
    VEIL_TRY_VOID(Check(
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 2,
                         SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET),
                         SCMP_A2(SCMP_CMP_EQ, static_cast<uint64_t>(option))),
        "sentry: seccomp allow setsockopt(SO_SNDBUF, SO_SNDTIMEO)"));
  }
  if (fifo_dir_fd >= 0) {
    // The host twins of the sandbox's FIFOs: made (a FIFO, nothing else)
    // and opened in their own directory only.
    const uint64_t dir = static_cast<uint64_t>(fifo_dir_fd);
    VEIL_TRY_VOID(Check(
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                         SCMP_A0(SCMP_CMP_EQ, dir)),
        "sentry: seccomp allow openat(FIFO directory)"));
    VEIL_TRY_VOID(Check(
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 2,
                         SCMP_A0(SCMP_CMP_EQ, dir),
                         SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO)),
        "sentry: seccomp allow mknodat(FIFO directory, S_IFIFO)"));
  }
  return Ok();
}

}  // namespace veil::sentry
