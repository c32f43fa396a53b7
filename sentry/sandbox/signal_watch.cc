// SPDX-License-Identifier: Apache-2.0
#include "sentry/sandbox/signal_watch.h"

#include "base/proc_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/proc_dir.h"
#include "base/unique_fd.h"
#include "sentry/sandbox/internal/sandbox_impl.h"

namespace veil::sentry::internal {
namespace {

// The first check comes this long after a wait began (most waits end
// sooner: a pipe whose writer is running), then every kPeriod; a wait
// older than kLongWait (a shell reading its terminal) is looked at every
// kLongPeriod only. These bound the delay of a handler, not correctness.
constexpr auto kFirstCheck = std::chrono::milliseconds(2);
constexpr auto kPeriod = std::chrono::milliseconds(5);
constexpr auto kLongWait = std::chrono::milliseconds(500);
constexpr auto kLongPeriod = std::chrono::milliseconds(20);

// A "Name:\t<hex>" mask line's value; false if `line` is not that field.
bool HexField(const char* line, const char* name, uint64_t* out) {
  size_t n = strlen(name);
  if (strncmp(line, name, n) != 0) return false;
  return sscanf(line + n, " %" SCNx64, out) == 1;
}

}  // namespace

SignalState PendingSignal(pid_t tid) {
  // Through the sentry's own procfs once it is confined (base/proc_dir.h).
  UniqueFd fd = OpenProcStatus(tid);
  if (!fd) return SignalState::kGone;
  char buf[8192];
  size_t used = 0;
  for (;;) {
    ssize_t n = read(fd.get(), buf + used, sizeof buf - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
    if (used == sizeof buf - 1) break;
  }
  if (used == 0) return SignalState::kGone;  // a zombie's is empty
  buf[used] = '\0';
  uint64_t own = 0, shared = 0, blocked = 0;
  int threads = 0;
  // The name line comes first and may hold anything: fields are matched
  // at the start of a line only.
  for (const char* line = buf; line != nullptr && *line != '\0';) {
    (void)(HexField(line, "SigPnd:", &own) ||
           HexField(line, "ShdPnd:", &shared) ||
           HexField(line, "SigBlk:", &blocked) ||
           sscanf(line, "Threads: %d", &threads) == 1);
    line = strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  uint64_t pending = own | (threads == 1 ? shared : 0);
  return (pending & ~blocked) != 0 ? SignalState::kPending : SignalState::kNone;
}

void SignalWatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void SignalWatcher::Stop() {
  {
    MutexLock lock(mu_);
    stopped_ = true;
    sleeping_.clear();
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void SignalWatcher::Sleeping(std::shared_ptr<TaskSlot> slot) {
  const Clock::time_point now = Clock::now();
  const TaskSlot* key = slot.get();
  bool first = false;
  {
    MutexLock lock(mu_);
    if (stopped_) return;
    first = sleeping_.empty();
    sleeping_[key] = Entry{std::move(slot), now, now + kFirstCheck};
  }
  if (first) cv_.Signal();  // the watcher slept with nothing to watch
}

void SignalWatcher::Awake(const TaskSlot* slot) {
  std::shared_ptr<TaskSlot> last;  // dropped outside the lock
  MutexLock lock(mu_);
  auto it = sleeping_.find(slot);
  if (it == sleeping_.end()) return;
  last = std::move(it->second.slot);
  sleeping_.erase(it);
}

void SignalWatcher::Run() {
  std::vector<std::shared_ptr<TaskSlot>> due;
  MutexLock lock(mu_);
  while (!stopped_) {
    if (sleeping_.empty()) {
      cv_.Wait(mu_);
      continue;
    }
    Clock::time_point next = Clock::time_point::max();
    for (const auto& [key, e] : sleeping_) next = std::min(next, e.next_check);
    if (Clock::now() < next) {
      (void)cv_.WaitUntil(mu_, next);
      continue;  // look again: the set may have changed
    }
    const Clock::time_point now = Clock::now();
    for (auto& [key, e] : sleeping_) {
      if (e.next_check > now) continue;
      due.push_back(e.slot);
      e.next_check = now + (now - e.since < kLongWait ? kPeriod : kLongPeriod);
    }
    mu_.Unlock();
    for (const std::shared_ptr<TaskSlot>& slot : due) {
      // A wait that ended meanwhile makes this interrupt stale: the
      // serving thread checks for a pending signal again before it
      // answers a restart code (SandboxImpl::ServeOne).
      if (PendingSignal(slot->task->tid()) == SignalState::kPending)
        slot->task->Interrupt();
    }
    due.clear();
    mu_.Lock();
  }
}

}  // namespace veil::sentry::internal
