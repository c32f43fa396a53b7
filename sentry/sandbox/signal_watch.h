// SPDX-License-Identifier: Apache-2.0
//
// SignalWatcher: how the sentry learns that a signal came for a task whose
// call it is serving while that call waits (an empty pipe's read, F_SETLKW,
// a FIFO open, poll with a timeout). Such a task sleeps in the kernel's
// killable seccomp wait, which a signal does not end, so nothing tells the
// sentry; it looks instead. While a task's serving thread waits
// (vfs::SleepObserver, told by the task's ThreadWaiter), the watcher
// thread reads /proc/TID/status every few milliseconds and, once a signal
// the task does not block is pending, calls Task::Interrupt(): the wait
// ends with EINTR and the call answers Linux's restart code
// (sentry/kernel/restart.h). A call that never waits costs nothing: the
// watcher sleeps on its condition variable while no task waits, and the
// receivers' path has no new syscall.
//
// Thread-safety: Sleeping/Awake from serving threads, Start/Stop from the
// sandbox's main thread; `mu_` guards the set of waiting tasks and is a
// leaf (never held across /proc reads or Interrupt()).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>

#include "base/mutex.h"
#include "sentry/control/call_gate.h"
#include "vfs/wait.h"

namespace veil::sentry::internal {

struct TaskSlot;

enum class SignalState : uint8_t {
  kNone,     // nothing pending the thread would take now
  kPending,  // a signal it does not block is pending
  kGone,     // no such thread (it exited)
};

// From /proc/TID/status: SigPnd (the thread's own), and ShdPnd (the
// process's) only when its group has one thread (otherwise another thread
// may take it), less SigBlk.
SignalState PendingSignal(pid_t tid);

class SignalWatcher final {
 public:
  SignalWatcher() = default;
  ~SignalWatcher() { Stop(); }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  void Start() VEIL_EXCLUDES(mu_);
  // Ends the thread; later Sleeping calls are ignored.
  void Stop() VEIL_EXCLUDES(mu_);

  // The serving thread of `slot`'s task goes to wait / is back.
  void Sleeping(std::shared_ptr<TaskSlot> slot) VEIL_EXCLUDES(mu_);
  void Awake(const TaskSlot* slot) VEIL_EXCLUDES(mu_);

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::shared_ptr<TaskSlot> slot;
    Clock::time_point since;       // when the wait began
    Clock::time_point next_check;  // when /proc is read next
  };
  void Run() VEIL_EXCLUDES(mu_);

  Mutex mu_;
  CondVar cv_;  // the first waiting task, or Stop
  bool stopped_ VEIL_GUARDED_BY(mu_) = false;
  std::map<const TaskSlot*, Entry> sleeping_ VEIL_GUARDED_BY(mu_);
  std::thread thread_;  // Start/Stop's thread only
};

// A task's vfs::SleepObserver: reports its waits to the watcher, and
// lets go of the call gate while it sleeps (a live snapshot need not wait
// for a call that waits for another task).
class SlotSleep final : public vfs::SleepObserver {
 public:
  SlotSleep(SignalWatcher& watcher, CallGate& gate,
            std::weak_ptr<TaskSlot> slot, const TaskSlot* raw)
      : watcher_(watcher), gate_(gate), slot_(std::move(slot)), raw_(raw) {}
  void OnSleep() override {
    gate_.Leave();
    if (std::shared_ptr<TaskSlot> s = slot_.lock()) watcher_.Sleeping(s);
  }
  void OnWake() override {
    watcher_.Awake(raw_);
    gate_.Enter();
  }

 private:
  SignalWatcher& watcher_;  // borrowed: the sandbox's, outlives its tasks
  CallGate& gate_;          // the same
  const std::weak_ptr<TaskSlot> slot_;
  const TaskSlot* const raw_;  // the key; never dereferenced
};

}  // namespace veil::sentry::internal
