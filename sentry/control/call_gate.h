// SPDX-License-Identifier: Apache-2.0
//
// CallGate: lets a live snapshot see the sandbox's files at rest. Every
// served call holds the gate (Enter ... Leave) except while it sleeps in a
// wait (SlotSleep: a pipe read, a lock, a poll), so a call never holds it
// while it waits for another task. Pause holds new calls back and returns
// once no call holds the gate; Resume lets them go. A pause waits for the
// one before it to end; new calls wait for a pause asked for, so a stream
// of calls cannot starve it.
//
// Thread-safety: all methods from any thread.
#pragma once

#include <chrono>

#include "base/mutex.h"

namespace veil::sentry {

class CallGate final {
 public:
  void Enter() VEIL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (paused_) cv_.Wait(mu_);
    ++active_;
  }
  void Leave() VEIL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (--active_ == 0) cv_.SignalAll();
  }
  // False (and nothing paused) if calls still hold the gate at `deadline`.
  bool Pause(std::chrono::steady_clock::time_point deadline)
      VEIL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (paused_) {
      if (!cv_.WaitUntil(mu_, deadline)) return false;
    }
    paused_ = true;
    while (active_ > 0) {
      if (!cv_.WaitUntil(mu_, deadline) && active_ > 0) {
        paused_ = false;
        cv_.SignalAll();
        return false;
      }
    }
    return true;
  }
  void Resume() VEIL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    paused_ = false;
    cv_.SignalAll();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int active_ VEIL_GUARDED_BY(mu_) = 0;
  bool paused_ VEIL_GUARDED_BY(mu_) = false;
};

// Holds `gate` (if any) for a scope.
class GateHold final {
 public:
  explicit GateHold(CallGate* gate) : gate_(gate) {
    if (gate_ != nullptr) gate_->Enter();
  }
  ~GateHold() {
    if (gate_ != nullptr) gate_->Leave();
  }
  GateHold(const GateHold&) = delete;
  GateHold& operator=(const GateHold&) = delete;

 private:
  CallGate* const gate_;
};

}  // namespace veil::sentry
