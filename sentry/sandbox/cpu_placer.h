// SPDX-License-Identifier: Apache-2.0
//
// CpuPlacer: puts each task of a sandbox on one CPU of its own choosing
// (sched_setaffinity), the allowed CPU with the fewest live tasks, so a
// task and the sentry thread serving its calls meet on one CPU.
//
// Why: SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP brings the sentry's thread to
// the task's CPU when the task traps, but the way back is an ordinary
// wake-up, and an fd the sentry installs (ADDFD) is two more: with the
// sentry's thread still running, the scheduler wakes the task on another
// CPU, and on this machine kind a wake-up across CPUs costs tens of
// microseconds (an idle vCPU halts). Measured with the receivers of
// sandbox.cc (bench/syscalls, 2 vCPUs): open+close of a tmpfs file
// 30-55 µs unpinned, 18 µs pinned; dup2 17-45 µs against 8-10 µs.
// The price: the host's balancer cannot move a task, so two busy tasks
// placed on one CPU share it while another may idle; a task may change
// its own affinity (sched_setaffinity runs natively).
//
// Thread-safety: Place and the claims' release are internally locked.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <memory>
#include <vector>

#include "base/mutex.h"

namespace veil::sentry::internal {

class CpuPlacer final {
 public:
  // The CPUs the sentry may use (its own affinity when made).
  CpuPlacer();
  CpuPlacer(const CpuPlacer&) = delete;
  CpuPlacer& operator=(const CpuPlacer&) = delete;

  // A task's place: released (one task fewer on its CPU) when destroyed.
  class Claim final {
   public:
    Claim(CpuPlacer& placer, int cpu) : placer_(placer), cpu_(cpu) {}
    ~Claim() { placer_.Release(cpu_); }
    Claim(const Claim&) = delete;
    Claim& operator=(const Claim&) = delete;
    int cpu() const { return cpu_; }

   private:
    CpuPlacer& placer_;  // borrowed: outlives every claim
    const int cpu_;
  };

  // Pins task `tid` to the allowed CPU with the fewest live tasks. Null
  // when there is one CPU only or the host refuses (the task then runs
  // where the scheduler puts it).
  std::unique_ptr<Claim> Place(pid_t tid);

 private:
  void Release(int cpu);

  std::vector<int> cpus_;  // allowed, fixed after construction
  Mutex mu_;
  std::vector<int> live_ VEIL_GUARDED_BY(mu_);  // tasks per cpus_ index
};

}  // namespace veil::sentry::internal
