// SPDX-License-Identifier: Apache-2.0
//
// Platform: how the sentry meets app tasks. It hands over each trapped
// syscall as a SyscallRequest, reads and writes the calling task's memory,
// and answers the call exactly once: with a value, an errno, or a host fd
// installed in the task (atomically with the answer). gVisor:
// pkg/sentry/platform; sandbox2: the seccomp-notify monitor behind an
// injectable interface.
//
// Implementations: SeccompPlatform (seccomp user notification, DESIGN.md
// "The sentry") and FakePlatform (tests: scripted requests, a memory image
// per task, answers recorded).
//
// Contract for callers (the syscall dispatcher):
// - Copy every argument that lives in task memory in once, then check
//   StillPending() before acting on it (the tid may have died and been
//   reused; sandbox2 and the kernel's seccomp_unotify(2) ask for this).
// - Answer() may fail with ENOENT: the task was interrupted (a signal) and
//   will make the call again as a new request. Nothing it asked for may
//   then be left half done: handlers are safe to run twice.
//
// Thread-safety: ReadMemory, WriteMemory, StillPending and Answer may be
// called from any thread, for different requests concurrently; Receive
// from one thread at a time.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <span>

#include "base/result.h"
#include "base/unique_fd.h"
#include "sentry/platform/task_addr.h"

namespace veil::sentry {

// One trapped x86-64 syscall (other ABIs never reach the sentry: the
// filter kills them).
struct SyscallRequest {
  uint64_t id = 0;  // the platform's cookie (seccomp_notif::id)
  pid_t tid = 0;    // the calling thread, as the sentry's pid namespace sees it
  int32_t nr = 0;   // x86-64 syscall number
  std::array<uint64_t, 6> args{};
  uint64_t instruction_pointer = 0;
};

// Where an installed fd goes.
enum class FdPlacement : uint8_t {
  kLowest,  // the lowest free number in the task (open(2)); SECCOMP_ADDFD_FLAG_SEND
  kExact,   // exactly `number`, replacing what is there (dup2(2));
            // SECCOMP_ADDFD_FLAG_SETFD | SECCOMP_ADDFD_FLAG_SEND
};
enum class CloseOnExec : uint8_t { kNo, kYes };

// What a trapped call returns to the task.
class SyscallAnswer final {
 public:
  enum class Kind : uint8_t { kValue, kError, kInstallFd, kContinue };

  static SyscallAnswer Value(int64_t value) {
    return SyscallAnswer(Kind::kValue, value, 0);
  }
  static SyscallAnswer Error(Errno error) {
    return SyscallAnswer(Kind::kError, 0, error.code());
  }
  // Installs `host_fd` (borrowed: the platform duplicates it into the task
  // and the caller keeps its own) and answers with the task's fd number.
  static SyscallAnswer InstallFd(int host_fd, FdPlacement placement,
                                 int number, CloseOnExec cloexec) {
    SyscallAnswer a(Kind::kInstallFd, 0, 0);
    a.host_fd_ = host_fd;
    a.placement_ = placement;
    a.number_ = number;
    a.cloexec_ = cloexec;
    return a;
  }

  // Lets the host kernel run the call as the task made it
  // (SECCOMP_USER_NOTIF_FLAG_CONTINUE); Answer then returns 0, not the
  // call's result. Only for a call whose arguments are all registers the
  // sentry has checked and that reads no task memory, which a task could
  // change between the check and the kernel's read (seccomp_unotify(2)).
  // Its one use: close(2) of an fd the sentry installed in a task, which
  // nothing else can remove from the task's table (there is no ADDFD
  // inverse): the exec stub's close of the files it mapped.
  static SyscallAnswer Continue() {
    return SyscallAnswer(Kind::kContinue, 0, 0);
  }

  Kind kind() const { return kind_; }
  int64_t value() const { return value_; }
  int error() const { return error_; }
  int host_fd() const { return host_fd_; }
  FdPlacement placement() const { return placement_; }
  int number() const { return number_; }
  CloseOnExec cloexec() const { return cloexec_; }

 private:
  SyscallAnswer(Kind kind, int64_t value, int error)
      : kind_(kind), value_(value), error_(error) {}

  Kind kind_;
  int64_t value_ = 0;
  int error_ = 0;
  int host_fd_ = -1;
  FdPlacement placement_ = FdPlacement::kLowest;
  int number_ = -1;
  CloseOnExec cloexec_ = CloseOnExec::kNo;
};

class Platform {
 public:
  virtual ~Platform() = default;

  // The next trapped call; blocks until there is one. EINTR if
  // interrupted; ECANCELED once no task is left.
  virtual Result<SyscallRequest> Receive() = 0;
  // A descriptor that polls readable when Receive would not block (for an
  // event loop), or -1.
  virtual int ReceiveFd() const { return -1; }

  // Copies task memory at [addr, addr + out.size()) of the task that made
  // `req`. Returns the bytes copied, which are fewer than asked only when
  // the range runs into unmapped memory (as copy_from_user); EFAULT if not
  // one byte could be read; ESRCH if the task is gone.
  virtual Result<size_t> ReadMemory(const SyscallRequest& req, TaskAddr addr,
                                    std::span<uint8_t> out) = 0;
  // The same, into the task (process_vm_writev semantics).
  virtual Result<size_t> WriteMemory(const SyscallRequest& req, TaskAddr addr,
                                     std::span<const uint8_t> in) = 0;
  // Whether `req` still waits for its answer (SECCOMP_IOCTL_NOTIF_ID_VALID).
  virtual bool StillPending(const SyscallRequest& req) = 0;
  // Answers `req` (once). Returns what the task's call returns: the value,
  // or the fd number installed. ENOENT: the call was interrupted and will
  // come again as a new request (nothing was installed).
  virtual Result<int64_t> Answer(const SyscallRequest& req,
                                 const SyscallAnswer& answer) = 0;

  // --- The data plane (DESIGN.md): host fds at the task's numbers -------
  // Installs `host_fd` (borrowed) at exactly `number` in the task of
  // `req`, replacing what is there, without answering (a call that makes
  // two fds, pipe(2), installs the first this way). Not atomic with the
  // answer; safe because the task waits killably once its call is
  // received (a signal cannot end the call in between). ENOENT: the task
  // is gone.
  virtual Result<void> AddFd(const SyscallRequest& req, int host_fd,
                             int number, CloseOnExec cloexec) {
    (void)req, (void)host_fd, (void)number, (void)cloexec;
    return Errno(ENOSYS);
  }
  // A duplicate of the host fd at `number` in the task of `req`
  // (pidfd_getfd): what dup(2) installs again at a new number, and what
  // the sentry asks for a host file's position. EBADF if the task has no
  // host fd there.
  virtual Result<UniqueFd> GetTaskFd(const SyscallRequest& req, int number) {
    (void)req, (void)number;
    return Errno(ENOSYS);
  }
};

}  // namespace veil::sentry
