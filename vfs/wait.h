// SPDX-License-Identifier: Apache-2.0
//
// Blocking: the "would block" outcome, events, waiters and wait queues.
// Linux analogue: wait_queue_head_t / wait_queue_entry_t and the poll
// masks (include/linux/wait.h, fs/select.c); gVisor's waiter.Queue and
// waiter.Entry. Everything a task can sleep on (a FIFO open, read or
// write; a record lock; later sockets and eventfds) uses these.
//
// The contract. A VFS call never sleeps. Where Linux would put the caller
// to sleep, the call answers `kWouldBlock` (an internal code, never an
// errno a task sees) if the caller did not ask for O_NONBLOCK, and the
// errno Linux gives a non-blocking caller (EAGAIN for reads and writes,
// ENXIO for a FIFO writer's open without readers) if it did. A caller
// that got kWouldBlock registers a Waiter on the file's WaitQueue (and
// watches the host fds the file names: FileImpl::WaitSourceFor), calls
// again, and waits only if the call still answers kWouldBlock: a
// notification between the two calls is not lost, because the waiter was
// registered before the second one (Linux: prepare_to_wait before the
// condition is checked). The sentry's event loop implements Waiter to
// park a task; ThreadWaiter blocks a thread (tests, the FUSE adapter, the
// vfs/blocking.h helpers).
//
// Thread-safety: WaitQueue's methods may be called concurrently from any
// thread. Lock order: a Filesystem mutex (or FileLocks::mu_), then a
// WaitQueue's mutex, then a waiter's own mutex inside Notify().
#pragma once

#include <poll.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/mutex.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace veil::vfs {

// "The call would sleep": kWouldBlock.code() is outside every errno Linux
// uses (user-visible ones end at 133, kernel-internal ones at 530), so it
// never passes for one. FileDescription turns it into EAGAIN for an
// O_NONBLOCK description; nothing may return it to a task.
inline constexpr int kWouldBlockCode = 4000;
inline constexpr Errno kWouldBlock(kWouldBlockCode, "operation would block");
inline bool IsWouldBlock(Errno e) { return e.code() == kWouldBlockCode; }

// Readiness events: poll(2)'s bits where poll has one (what a future
// poll/epoll reports as is), and internal ones above them (gVisor:
// EventInternal), which poll never sees.
using EventMask = uint32_t;
inline constexpr EventMask kEventIn = POLLIN;    // data to read
inline constexpr EventMask kEventOut = POLLOUT;  // room to write
inline constexpr EventMask kEventErr = POLLERR;  // e.g. a FIFO lost its readers
inline constexpr EventMask kEventHup = POLLHUP;  // e.g. a FIFO lost its writers
// A FIFO's peer opened (fifo_open's wake_up_partner): a blocked open can
// complete.
inline constexpr EventMask kEventPeerOpened = 1u << 16;
// A lock of the file was released, shrunk or downgraded (fs/locks.c
// locks_wake_up_blocks): a queued lock request can retry.
inline constexpr EventMask kEventLockChanged = 1u << 17;

// Something a wait can wake: a task parked by the sentry's event loop, or
// a blocked thread (ThreadWaiter).
class Waiter {
 public:
  // `events` may have become ready. Called with the notifier's mutex held
  // (a WaitQueue's or a FileLocks'), from any thread: it must only signal
  // (set a flag, wake a thread, post to an event loop), never block, and
  // never call back into the VFS (not even Unregister).
  virtual void Notify(EventMask events) = 0;

 protected:
  Waiter() = default;
  ~Waiter() = default;
};

// The waiters of one object (Linux: wait_queue_head_t). Owned by what can
// become ready: a FIFO's pipe state (vfs/fifo.h), later a socket.
// Registration is level-style, as gVisor's: a waiter stays registered,
// and is notified of every matching event, until it unregisters.
// Waiters are borrowed: a registered waiter must outlive its registration.
class WaitQueue final {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Notifies `waiter` of later events in `mask` (kEventErr and kEventHup
  // always count, as poll(2) always reports them). Registering again
  // replaces the mask.
  void Register(Waiter& waiter, EventMask mask);
  // Once this returns, no Notify() of this queue is running on `waiter`
  // or will be: it may be destroyed. A waiter not registered is ignored.
  void Unregister(Waiter& waiter);
  // Calls Notify(events & mask) on every waiter whose mask meets `events`.
  void Notify(EventMask events);

  size_t SizeForTesting();

 private:
  struct Entry {
    Waiter* waiter;  // borrowed; see the class comment
    EventMask mask;
  };
  Mutex mu_;
  std::vector<Entry> entries_ VEIL_GUARDED_BY(mu_);
};

// Registers a waiter for a scope (nothing if `queue` is null).
class WaitRegistration final {
 public:
  WaitRegistration(WaitQueue* queue, Waiter& waiter, EventMask mask)
      : queue_(queue), waiter_(waiter) {
    if (queue_) queue_->Register(waiter_, mask);
  }
  ~WaitRegistration() {
    if (queue_) queue_->Unregister(waiter_);
  }
  WaitRegistration(const WaitRegistration&) = delete;
  WaitRegistration& operator=(const WaitRegistration&) = delete;

 private:
  WaitQueue* const queue_;
  Waiter& waiter_;
};

// A host fd whose poll(2) readiness stands for events of a file: a FIFO's
// data lives in a host pipe, and tasks may move it natively (the data
// plane), so the VFS cannot see every change. The sentry adds the fd to
// its epoll; ThreadWaiter polls it. `fd` is borrowed from the file: valid
// while the description that named it is open.
struct HostPoll {
  int fd = -1;
  short events = 0;  // POLLIN, POLLOUT
};

// Where a waiter learns that events of a file may have become ready: the
// file's queue (what the VFS itself changes: peers opening and closing,
// its own reads and writes) and up to two host fds. No queue and no host
// fd: the file never changes readiness (a regular file is always ready).
struct WaitSource {
  WaitQueue* queue = nullptr;  // borrowed: owned by the file's inode
  HostPoll host[2];
};

// Told when a ThreadWaiter's thread goes to wait and when it is back
// (the sentry polls a task's pending signals only while its serving
// thread waits: a call that never waits costs nothing). Both run on the
// waiting thread, outside the waiter's lock; they must not call back into
// the waiter but may call Interrupt() later from another thread.
class SleepObserver {
 public:
  virtual void OnSleep() = 0;
  virtual void OnWake() = 0;

 protected:
  SleepObserver() = default;
  ~SleepObserver() = default;
};

// A waiter for a thread that blocks. Wait() returns once notified, or
// once a host fd it watches is ready, or with EINTR once interrupted.
// Interrupt() from any thread ends the pending wait, or the next one if
// none is pending (Linux: a signal during wait_event_interruptible); the
// interrupt is consumed by the wait it ends. A notification wins over an
// interrupt that came with it, as Linux checks the wait condition first.
// Thread-safety: Notify() and Interrupt() from any thread; Wait() and
// ResetNotification() from the owning thread only.
class ThreadWaiter final : public Waiter {
 public:
  ThreadWaiter() = default;
  ThreadWaiter(const ThreadWaiter&) = delete;
  ThreadWaiter& operator=(const ThreadWaiter&) = delete;

  void Notify(EventMask events) override;
  void Interrupt();

  // Blocks until notified (Ok) or interrupted (EINTR).
  Result<void> Wait() { return Wait({}); }
  // Blocks until notified or one of `host` is ready (Ok), or interrupted
  // (EINTR). With host fds the thread sleeps in poll(2) on them and an
  // eventfd that Notify and Interrupt write, made on first use (the
  // errnos of eventfd(2) if that fails).
  Result<void> Wait(std::span<const HostPoll> host);
  // Forgets a notification left over from an earlier wait.
  void ResetNotification();
  // Told around every Wait (null: nobody). Set before the waiter is first
  // used, by the thread that hands it to its serving thread; borrowed:
  // must outlive the waiter's use.
  void set_sleep_observer(SleepObserver* observer) {
    sleep_observer_ = observer;
  }

 private:
  // Consumes a pending notification (Ok) or interrupt (EINTR); nullopt if
  // neither. Caller holds mu_.
  std::optional<Result<void>> TakeWakeLocked() VEIL_REQUIRES(mu_);
  Result<void> WaitLocked(std::span<const HostPoll> host) VEIL_REQUIRES(mu_);

  SleepObserver* sleep_observer_ = nullptr;  // set before use, then fixed

  Mutex mu_;
  CondVar cv_;
  bool notified_ VEIL_GUARDED_BY(mu_) = false;
  bool interrupted_ VEIL_GUARDED_BY(mu_) = false;
  UniqueFd event_fd_ VEIL_GUARDED_BY(mu_);  // made by the first host wait
};

}  // namespace veil::vfs
