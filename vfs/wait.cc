// SPDX-License-Identifier: Apache-2.0
//
// Wait queues and the thread waiter (Linux: kernel/sched/wait.c
// __wake_up, prepare_to_wait; a blocked thread here sleeps in a condition
// variable or in poll(2) instead of schedule()).
#include "base/blocking.h"
#include "vfs/wait.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace veil::vfs {

// --- WaitQueue ---------------------------------------------------------------

void WaitQueue::Register(Waiter& waiter, EventMask mask) {
  mask |= kEventErr | kEventHup;  // poll(2) reports these unasked
  MutexLock lock(mu_);
  for (Entry& e : entries_) {
    if (e.waiter == &waiter) {
      e.mask = mask;
      return;
    }
  }
  entries_.push_back({&waiter, mask});
}

void WaitQueue::Unregister(Waiter& waiter) {
  // Notify() calls waiters under mu_, so once we hold it no call on
  // `waiter` is running, and after the erase none can start.
  MutexLock lock(mu_);
  std::erase_if(entries_, [&](const Entry& e) { return e.waiter == &waiter; });
}

void WaitQueue::Notify(EventMask events) {
  MutexLock lock(mu_);
  for (const Entry& e : entries_)
    if (EventMask hit = e.mask & events) e.waiter->Notify(hit);
}

size_t WaitQueue::SizeForTesting() {
  MutexLock lock(mu_);
  return entries_.size();
}

// --- ThreadWaiter ------------------------------------------------------------

namespace {

void Post(const UniqueFd& event_fd) {
  if (!event_fd) return;
  uint64_t one = 1;
  // A full counter (never reached: it is drained before every wait) or
  // EAGAIN would only mean a wake-up is already pending.
  (void)!write(event_fd.get(), &one, sizeof one);
}

}  // namespace

void ThreadWaiter::Notify(EventMask) {
  MutexLock lock(mu_);
  notified_ = true;
  cv_.SignalAll();
  Post(event_fd_);
}

void ThreadWaiter::Interrupt() {
  MutexLock lock(mu_);
  interrupted_ = true;
  cv_.SignalAll();
  Post(event_fd_);
}

void ThreadWaiter::ResetNotification() {
  MutexLock lock(mu_);
  notified_ = false;
}

std::optional<Result<void>> ThreadWaiter::TakeWakeLocked() {
  if (notified_) {
    notified_ = false;
    return Result<void>(Ok());
  }
  if (interrupted_) {
    interrupted_ = false;
    // wait_event_interruptible: a signal came first.
    return Result<void>(Errno(EINTR));
  }
  return std::nullopt;
}

Result<void> ThreadWaiter::Wait(std::span<const HostPoll> host) {
  MayBlock();  // another task may be what this waits for
  if (sleep_observer_ == nullptr) {
    MutexLock lock(mu_);
    return WaitLocked(host);
  }
  sleep_observer_->OnSleep();
  Result<void> result = [&] {
    MutexLock lock(mu_);
    return WaitLocked(host);
  }();
  sleep_observer_->OnWake();
  return result;
}

Result<void> ThreadWaiter::WaitLocked(std::span<const HostPoll> host) {
  bool any_host = std::any_of(host.begin(), host.end(),
                              [](const HostPoll& h) { return h.fd >= 0; });
  if (!any_host) {
    for (;;) {
      if (auto wake = TakeWakeLocked()) return *wake;
      cv_.Wait(mu_);
    }
  }
  if (!event_fd_) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return Errno::FromErrno();
    event_fd_.reset(fd);
  }
  std::vector<pollfd> fds;
  fds.push_back({event_fd_.get(), POLLIN, 0});
  for (const HostPoll& h : host)
    if (h.fd >= 0) fds.push_back({h.fd, h.events, 0});
  for (;;) {
    if (auto wake = TakeWakeLocked()) return *wake;
    // Drained under mu_: a Notify or Interrupt after this sets its flag
    // (checked after poll) and posts again, so poll cannot miss it.
    uint64_t drain;
    (void)!read(event_fd_.get(), &drain, sizeof drain);
    mu_.Unlock();
    int n = poll(fds.data(), fds.size(), -1);
    int saved = errno;
    mu_.Lock();
    if (n < 0 && saved != EINTR) return Errno(saved);
    if (auto wake = TakeWakeLocked()) return *wake;
    for (size_t i = 1; i < fds.size(); ++i)
      if (n > 0 && fds[i].revents != 0) return Ok();  // the host fd is ready
  }
}

}  // namespace veil::vfs
