// SPDX-License-Identifier: Apache-2.0
//
// Event fds: eventfd(2), eventfd2, epoll_create(2), epoll_create1,
// timerfd_create(2), signalfd(2), signalfd4. In the default mode each is a
// host object the sentry makes and installs at the number its fd table
// chose (MakeTwinAnonFile: the sentry keeps no host fd of it); everything
// done with it afterwards (read, write, epoll_ctl, epoll_wait,
// timerfd_settime, ...) runs natively, on host fds that all have the
// numbers the task sees, so an epoll set watches the task's own pipes,
// FIFOs and stdio. Under --strict there is no host fd to give: ENOSYS
// (the VFS has no event objects yet).
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "base/unique_fd.h"
#include "sentry/kernel/anon_fs.h"
#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/task_memory.h"

namespace veil::sentry {
namespace {

// Installs the host object `host` (made close-on-exec) at the lowest free
// number, with a description of `kind` open with `status` flags.
Result<int64_t> InstallHostObject(Task& task, Result<int> host,
                                  bool cloexec_wanted, int status,
                                  const char* kind) {
  if (!host) return host.error();
  UniqueFd fd(*host);
  FdReservation number =
      VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  const CloseOnExec cloexec =
      cloexec_wanted ? CloseOnExec::kYes : CloseOnExec::kNo;
  task.effects().installs.push_back({std::move(fd), number.fd(), cloexec});
  return std::move(number).Install(
      MakeTwinAnonFile(task.creds(), O_RDWR | status, kind), cloexec);
}

Result<int> FromHost(int rc) {
  if (rc < 0) return Errno::FromErrno();
  return rc;
}

}  // namespace

Result<int64_t> SysEventfd2(Task& task, SyscallArgs& args) {
  const unsigned initval = args.UInt(0);
  const int flags = args.Int(1);
  // do_eventfd: unknown flags are EINVAL.
  if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
    return Errno(EINVAL);
  if (!task.twins()) return Errno(ENOSYS);
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  return InstallHostObject(task, FromHost(::eventfd(initval, flags | EFD_CLOEXEC)),
                           flags & EFD_CLOEXEC, flags & O_NONBLOCK, "eventfd");
}

Result<int64_t> SysEventfd(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{args.raw[0], 0};
  SyscallArgs at{args.mem, raw};
  return SysEventfd2(task, at);
}

Result<int64_t> SysEpollCreate1(Task& task, SyscallArgs& args) {
  const int flags = args.Int(0);
  if (flags & ~EPOLL_CLOEXEC) return Errno(EINVAL);  // do_epoll_create
  if (!task.twins()) return Errno(ENOSYS);
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  return InstallHostObject(task, FromHost(::epoll_create1(EPOLL_CLOEXEC)),
                           flags & EPOLL_CLOEXEC, 0, "eventpoll");
}

Result<int64_t> SysEpollCreate(Task& task, SyscallArgs& args) {
  if (args.Int(0) <= 0) return Errno(EINVAL);  // epoll_create: size <= 0
  std::array<uint64_t, 6> raw{0, 0};
  SyscallArgs at{args.mem, raw};
  return SysEpollCreate1(task, at);
}

Result<int64_t> SysTimerfdCreate(Task& task, SyscallArgs& args) {
  const int clockid = args.Int(0);
  const int flags = args.Int(1);
  // timerfd_create: flags, then the clock (EINVAL), as the host checks.
  if (flags & ~(TFD_CLOEXEC | TFD_NONBLOCK)) return Errno(EINVAL);
  if (clockid != CLOCK_MONOTONIC && clockid != CLOCK_REALTIME &&
      clockid != CLOCK_REALTIME_ALARM && clockid != CLOCK_BOOTTIME &&
      clockid != CLOCK_BOOTTIME_ALARM)
    return Errno(EINVAL);
  if (!task.twins()) return Errno(ENOSYS);
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  return InstallHostObject(
      task, FromHost(::timerfd_create(clockid, flags | TFD_CLOEXEC)),
      flags & TFD_CLOEXEC, flags & O_NONBLOCK, "timerfd");
}

Result<int64_t> SysSignalfd4(Task& task, SyscallArgs& args) {
  const int fd = args.Int(0);
  const uint64_t sizemask = args.ULong(2);
  const int flags = args.Int(3);
  // do_signalfd4: the mask's size, then the flags.
  if (sizemask != sizeof(uint64_t)) return Errno(EINVAL);
  if (flags & ~(SFD_CLOEXEC | SFD_NONBLOCK)) return Errno(EINVAL);
  if (!task.twins()) return Errno(ENOSYS);
  if (fd != -1) {
    // A new mask for an existing signalfd: the task's own host fd.
    task.effects().continue_natively = true;
    return 0;
  }
  uint64_t mask = VEIL_TRY(CopyIn<uint64_t>(args.mem, args.Addr(1)));
  // SIGKILL and SIGSTOP cannot be read (signotset in do_signalfd4).
  mask &= ~((uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  sigset_t set;
  sigemptyset(&set);
  for (int sig = 1; sig <= 64; ++sig) {
    if ((mask >> (sig - 1)) & 1) sigaddset(&set, sig);
  }
  // A signalfd reads the signals of whoever reads it (signalfd_dequeue
  // takes current's), so one the sentry makes serves the task.
  return InstallHostObject(task,
                           FromHost(::signalfd(-1, &set, flags | SFD_CLOEXEC)),
                           flags & SFD_CLOEXEC, flags & O_NONBLOCK,
                           "signalfd");
}

Result<int64_t> SysSignalfd(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{args.raw[0], args.raw[1], args.raw[2], 0};
  SyscallArgs at{args.mem, raw};
  return SysSignalfd4(task, at);
}

}  // namespace veil::sentry
