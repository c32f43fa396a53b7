// SPDX-License-Identifier: Apache-2.0
//
// SeccompPlatform: the Platform over a seccomp user-notification listener
// (the fd SECCOMP_FILTER_FLAG_NEW_LISTENER returns; SeccompFilter::Install,
// Launch in launcher.h).
//
// - Receive polls the listener and then takes the notification
//   (SECCOMP_IOCTL_NOTIF_RECV). It waits in poll(2), not in the ioctl,
//   because the kernel's synchronous wake-up (SYNC_WAKE_UP) reaches the
//   listener's poll queue only; a notification whose task died before it
//   was taken (ENOENT) is skipped; POLLHUP without a notification (every
//   task using the filter is gone) is ECANCELED.
// - Task memory: process_vm_readv/writev on the request's tid, with
//   copy_from_user's partial semantics (platform.h).
// - Answer: SECCOMP_IOCTL_NOTIF_SEND for values and errnos;
//   SECCOMP_IOCTL_NOTIF_ADDFD with SEND (kLowest) or SETFD|SEND (kExact),
//   so the fd is installed atomically with the answer. CONTINUE
//   (SECCOMP_USER_NOTIF_FLAG_CONTINUE) only for SyscallAnswer::Continue,
//   which the caller chooses for a registers-only call; the platform
//   never does on its own.
//   When the kernel refuses to install the fd (EMFILE at the task's
//   RLIMIT_NOFILE, EBADF for a kExact number beyond it), the request is
//   still pending: Answer then answers it with that errno itself (what
//   Linux's open or dup2 would return) and returns the same errno.
//
// The listener is put in SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP mode (kernel
// 6.6+): the kernel wakes the sentry thread on the task's CPU and the task
// on the sentry's, so a hand-off costs no cross-CPU wake-up. A kernel
// without it is logged once; the caller should then pin each task and the
// thread serving it to one CPU.
//
// Thread-safety: as platform.h (Receive from one thread at a time; the
// rest from any thread). The object holds no mutable state but the fd.
#pragma once

#include <memory>

#include "base/result.h"
#include "base/unique_fd.h"
#include "sentry/platform/platform.h"

namespace veil::sentry {

enum class SyncWakeUp : uint8_t { kOn, kOff };

class SeccompPlatform final : public Platform {
 public:
  // Takes the listener. kOn sets SYNC_WAKE_UP (a refusal is logged once,
  // not an error); kOff leaves the listener as the kernel made it (for
  // measurements).
  static std::unique_ptr<SeccompPlatform> Create(UniqueFd listener,
                                                 SyncWakeUp wake);

  // Whether the listener is in SYNC_WAKE_UP mode.
  bool sync_wake_up() const { return wake_ == SyncWakeUp::kOn; }

  // ^Platform
  Result<SyscallRequest> Receive() override;
  int ReceiveFd() const override { return listener_.get(); }
  Result<size_t> ReadMemory(const SyscallRequest& req, TaskAddr addr,
                            std::span<uint8_t> out) override;
  Result<size_t> WriteMemory(const SyscallRequest& req, TaskAddr addr,
                             std::span<const uint8_t> in) override;
  bool StillPending(const SyscallRequest& req) override;
  Result<int64_t> Answer(const SyscallRequest& req,
                         const SyscallAnswer& answer) override;
  Result<void> AddFd(const SyscallRequest& req, int host_fd, int number,
                     CloseOnExec cloexec) override;
  Result<UniqueFd> GetTaskFd(const SyscallRequest& req, int number) override;

 private:
  SeccompPlatform(UniqueFd listener, SyncWakeUp wake)
      : listener_(std::move(listener)), wake_(wake) {}

  const UniqueFd listener_;
  const SyncWakeUp wake_;  // what the listener is set to
};

}  // namespace veil::sentry
