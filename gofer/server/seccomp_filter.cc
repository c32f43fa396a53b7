// SPDX-License-Identifier: Apache-2.0
#include "gofer/server/seccomp_filter.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>
#include <memory>

namespace veil::gofer {
namespace {

// fchmodat2 (Linux 6.6) is newer than some libseccomp releases' tables;
// its number is the same on every architecture.
constexpr int kSysFchmodat2 = 452;
// statmount and listmount (Linux 6.8), likewise.
constexpr int kSysStatmount = 457;
constexpr int kSysListmount = 458;

// __SIGRTMIN and __SIGRTMIN + 1: glibc's SIGCANCEL and SIGSETXID (SIGRTMIN
// itself is 34 because glibc reserves these two).
constexpr scmp_datum_t kGlibcSigCancel = 32;
constexpr scmp_datum_t kGlibcSigSetxid = 33;

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

// libseccomp returns -errno.
Result<void> Check(int rc, const char* step) {
  if (rc < 0) return Errno(-rc, step);
  return Ok();
}

Result<void> AllowAll(scmp_filter_ctx ctx, std::initializer_list<int> calls) {
  for (int nr : calls) {
    VEIL_TRY_VOID(Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0),
                        "seccomp: allow a system call"));
  }
  return Ok();
}

Result<void> AddArgumentRules(scmp_filter_ctx ctx) {
  const char* step = "seccomp: add an argument-checked rule";
  for (scmp_datum_t cmd :
       {F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC}) {
    VEIL_TRY_VOID(Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl),
                                         1, SCMP_A1(SCMP_CMP_EQ, cmd)),
                        step));
  }
  // Memory: never executable.
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
            step));
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
            step));
  // Threads only: a thread shares our filter, memory and descriptors; a
  // forked child would be a second gofer nobody waits for.
  constexpr scmp_datum_t kThread = CLONE_THREAD | CLONE_VM | CLONE_SIGHAND;
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, kThread, kThread)),
            step));
  // Extra channels are AF_UNIX socketpairs; their buffers are sized with
  // SOL_SOCKET options (lisafs/channel.cc).
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
            step));
  for (int call : {SCMP_SYS(getsockopt), SCMP_SYS(setsockopt)}) {
    VEIL_TRY_VOID(Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, call, 1,
                                         SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET)),
                        step));
  }
  // glibc installs handlers for its two internal signals (SIGCANCEL and
  // SIGSETXID, the first real-time ones) when it creates the first thread.
  for (scmp_datum_t signal : {kGlibcSigCancel, kGlibcSigSetxid}) {
    VEIL_TRY_VOID(
        Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 1,
                               SCMP_A0(SCMP_CMP_EQ, signal)),
              step));
  }
  // glibc's malloc reads the CPU count (its own affinity, pid 0) when it
  // first wants a ninth arena. gofer.cc fixes the arena count first, so
  // this is for any other library path that asks: it reveals nothing.
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_getaffinity),
                             1, SCMP_A0(SCMP_CMP_EQ, 0)),
            step));
  // A channel's thread runs on one CPU (lisafs ServerOptions::
  // pin_channels): its own affinity only (pid 0: the calling thread).
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_setaffinity),
                             1, SCMP_A0(SCMP_CMP_EQ, 0)),
            step));
  // abort() signals its own process; no other.
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid()))),
            step));
  // Refused, not fatal (seccomp_filter.h says why).
  VEIL_TRY_VOID(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0),
            step));
  for (int call : {SCMP_SYS(openat), SCMP_SYS(open)}) {
    VEIL_TRY_VOID(
        Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), call, 0), step));
  }
  return Ok();
}

// What the AddressSanitizer runtime itself calls in a confined process
// (VEIL_SANITIZE builds only; found with strace): pipe2 to probe whether
// memory is readable while unwinding, sigaltstack and sched_getaffinity
// around thread creation and exit (for any pid). Never compiled into a
// normal build.
Result<void> AddSanitizerRules([[maybe_unused]] scmp_filter_ctx ctx) {
#if defined(__SANITIZE_ADDRESS__)
  VEIL_TRY_VOID(AllowAll(ctx, {SCMP_SYS(pipe2), SCMP_SYS(sigaltstack),
                               SCMP_SYS(sched_getaffinity)}));
#endif
  return Ok();
}

}  // namespace

Result<void> InstallSeccompFilter() {
  Context ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (ctx == nullptr) return Errno(ENOMEM, "seccomp: seccomp_init");
  VEIL_TRY_VOID(
      AllowAll(ctx.get(),
               {
                   // Files, always relative to a descriptor the backend holds.
                   SCMP_SYS(openat2),
                   SCMP_SYS(statx),
                   SCMP_SYS(newfstatat),
                   SCMP_SYS(fstat),
                   SCMP_SYS(fstatfs),
                   SCMP_SYS(readlinkat),
                   SCMP_SYS(getdents64),
                   SCMP_SYS(mkdirat),
                   SCMP_SYS(mknodat),
                   SCMP_SYS(symlinkat),
                   SCMP_SYS(linkat),
                   SCMP_SYS(unlinkat),
                   SCMP_SYS(renameat2),
                   SCMP_SYS(fchownat),
                   kSysFchmodat2,
                   SCMP_SYS(fchmod),
                   SCMP_SYS(utimensat),
                   SCMP_SYS(ftruncate),
                   SCMP_SYS(fallocate),
                   SCMP_SYS(lseek),  // SeekData only (SEEK_DATA, SEEK_HOLE)
                   SCMP_SYS(fsync),
                   SCMP_SYS(pread64),
                   SCMP_SYS(pwrite64),
                   SCMP_SYS(close),
                   SCMP_SYS(fgetxattr),
                   SCMP_SYS(fsetxattr),
                   SCMP_SYS(flistxattr),
                   SCMP_SYS(fremovexattr),
                   // The LISAFS channel.
                   SCMP_SYS(recvmsg),
                   SCMP_SYS(sendmsg),
                   SCMP_SYS(shutdown),
                   // Memory and threads (glibc, libstdc++).
                   SCMP_SYS(munmap),
                   SCMP_SYS(mremap),
                   SCMP_SYS(madvise),
                   SCMP_SYS(brk),
                   SCMP_SYS(futex),
                   SCMP_SYS(set_robust_list),
                   SCMP_SYS(rseq),
                   SCMP_SYS(sched_yield),
                   SCMP_SYS(gettid),
                   SCMP_SYS(getpid),
                   SCMP_SYS(exit),
                   SCMP_SYS(exit_group),
                   SCMP_SYS(rt_sigprocmask),
                   SCMP_SYS(rt_sigreturn),
                   SCMP_SYS(restart_syscall),
                   // Logging and time.
                   SCMP_SYS(write),
                   SCMP_SYS(writev),
                   SCMP_SYS(clock_gettime),
                   SCMP_SYS(gettimeofday),
                   SCMP_SYS(nanosleep),
                   SCMP_SYS(clock_nanosleep),
                   SCMP_SYS(getrandom),
                   // The mount table (mount_points.h): read only.
                   kSysStatmount,
                   kSysListmount,
               }));
  VEIL_TRY_VOID(AddArgumentRules(ctx.get()));
  VEIL_TRY_VOID(AddSanitizerRules(ctx.get()));
  return Check(seccomp_load(ctx.get()), "seccomp: load the filter");
}

}  // namespace veil::gofer
