// SPDX-License-Identifier: Apache-2.0
//
// The lock table of one file and the global graph of waiting process
// owners (fs/locks.c: posix_lock_inode, posix_test_lock, flock_lock_inode,
// posix_locks_deadlock).
#include "vfs/file_lock.h"

#include <algorithm>

namespace veil::vfs {
namespace {

// fs/locks.c MAX_DEADLK_ITERATIONS: a longer chain is not a deadlock.
constexpr int kMaxDeadlockIterations = 10;

// A process owner waiting for a lock held by `blocker` (Linux: a request
// in blocked_hash, with fl_blocker leading to the lock it waits on).
struct BlockedWait {
  const LockWaiter* waiter;
  LockOwner waiting;
  LockOwner blocker;
};

// Linux blocked_lock_lock and blocked_hash: global, because a cycle can
// pass through several files. Leaked on purpose: no destruction order
// problem with threads still running at exit.
Mutex& BlockedMutex() {
  static auto* mu = new Mutex;
  return *mu;
}
std::vector<BlockedWait>& Blocked() {  // guarded by BlockedMutex()
  static auto* blocked = new std::vector<BlockedWait>;
  return *blocked;
}

void RemoveBlockedLocked(const LockWaiter* waiter) {
  std::erase_if(Blocked(),
                [waiter](const BlockedWait& b) { return b.waiter == waiter; });
}

// posix_locks_deadlock: follows "the owner of the lock I wait for waits
// for ..." from `blocker`; a chain that comes back to `caller` is a cycle.
bool WouldDeadlockLocked(const LockOwner& caller, LockOwner blocker) {
  for (int i = 0;;) {
    auto it = std::find_if(
        Blocked().begin(), Blocked().end(),
        [&](const BlockedWait& b) { return b.waiting.SameAs(blocker); });
    if (it == Blocked().end()) return false;
    if (i++ > kMaxDeadlockIterations) return false;
    if (it->blocker.SameAs(caller)) return true;
    blocker = it->blocker;
  }
}

bool Overlaps(const LockRange& a, const LockRange& b) {
  return a.start <= b.end && b.start <= a.end;
}

// locks_conflict: two read locks never conflict.
bool TypesConflict(short a, short b) { return a == F_WRLCK || b == F_WRLCK; }

// posix_locks_conflict: another owner's overlapping lock, one of them a
// write lock.
bool RecordsConflict(const RecordLock& request, const RecordLock& held) {
  return !request.owner.SameAs(held.owner) &&
         Overlaps(request.range, held.range) &&
         TypesConflict(request.type, held.type);
}

}  // namespace

// --- ThreadLockWaiter -------------------------------------------------------

void ThreadLockWaiter::Notify() {
  MutexLock lock(mu_);
  notified_ = true;
  cv_.SignalAll();
}

void ThreadLockWaiter::Interrupt() {
  MutexLock lock(mu_);
  interrupted_ = true;
  cv_.SignalAll();
}

Result<void> ThreadLockWaiter::Wait() {
  MutexLock lock(mu_);
  while (!notified_ && !interrupted_) cv_.Wait(mu_);
  if (notified_) {
    notified_ = false;
    return Ok();
  }
  interrupted_ = false;
  return Errno(EINTR);  // wait_event_interruptible: a signal came first
}

void ThreadLockWaiter::ResetNotification() {
  MutexLock lock(mu_);
  notified_ = false;
}

// --- FileLocks --------------------------------------------------------------

FileLocks::~FileLocks() {
  // Nobody can be queued: a waiter's request holds a description of this
  // file, which holds the inode that owns us.
}

std::optional<RecordLock> FileLocks::TestRecord(const RecordLock& request) {
  MutexLock lock(mu_);
  for (const RecordLock& held : records_) {
    // posix_test_locks_conflict: F_UNLCK looks for the caller's own locks.
    bool hit = request.type == F_UNLCK ? request.owner.SameAs(held.owner) &&
                                             Overlaps(request.range, held.range)
                                       : RecordsConflict(request, held);
    if (hit) return held;
  }
  return std::nullopt;
}

Result<LockStatus> FileLocks::SetRecord(const RecordLock& request,
                                        LockWaiter* waiter) {
  MutexLock lock(mu_);
  if (request.type != F_UNLCK) {
    for (const RecordLock& held : records_) {
      if (!RecordsConflict(request, held)) continue;
      // posix_lock_inode: without FL_SLEEP a conflict is EAGAIN.
      if (waiter == nullptr) return Errno(EAGAIN);
      MutexLock blocked_lock(BlockedMutex());
      // A caller retrying without a notification is queued once, and
      // waits only for what it found this time.
      RemoveBlockedLocked(waiter);
      if (request.owner.kind == LockOwner::Kind::kProcess) {
        // posix_locks_deadlock: waiting would close a cycle of processes.
        if (WouldDeadlockLocked(request.owner, held.owner)) {
          std::erase(record_waiters_, waiter);
          return Errno(EDEADLK);
        }
        Blocked().push_back({waiter, request.owner, held.owner});
      }
      if (std::find(record_waiters_.begin(), record_waiters_.end(), waiter) ==
          record_waiters_.end())
        record_waiters_.push_back(waiter);
      return LockStatus::kQueued;
    }
  }

  // The owner's locks are contiguous in the list and sorted by start. Cut
  // the request's range out of them, add the request, and merge locks of
  // one type that touch: the result is what posix_lock_inode leaves.
  std::vector<RecordLock> mine;
  bool overlapped = false;
  for (const RecordLock& held : records_) {
    if (!held.owner.SameAs(request.owner)) continue;
    if (!Overlaps(held.range, request.range)) {
      mine.push_back(held);
      continue;
    }
    overlapped = true;
    if (held.range.start < request.range.start)
      mine.push_back(
          {held.owner, held.type, {held.range.start, request.range.start - 1}});
    if (held.range.end > request.range.end)
      mine.push_back(
          {held.owner, held.type, {request.range.end + 1, held.range.end}});
  }
  if (request.type != F_UNLCK) mine.push_back(request);
  std::sort(mine.begin(), mine.end(),
            [](const RecordLock& a, const RecordLock& b) {
              return a.range.start < b.range.start;
            });
  std::vector<RecordLock> merged;
  for (const RecordLock& l : mine) {
    // "start - 1" rather than "end + 1", which overflows at OFFSET_MAX.
    if (!merged.empty() && merged.back().type == l.type &&
        l.range.start - 1 <= merged.back().range.end) {
      merged.back().range.end = std::max(merged.back().range.end, l.range.end);
      continue;
    }
    merged.push_back(l);
  }

  // The group keeps its place in the list; a new owner goes to the end.
  std::vector<RecordLock> result;
  result.reserve(records_.size() + 2);
  bool placed = false;
  for (const RecordLock& held : records_) {
    if (held.owner.SameAs(request.owner)) {
      if (!placed) result.insert(result.end(), merged.begin(), merged.end());
      placed = true;
      continue;
    }
    result.push_back(held);
  }
  if (!placed) result.insert(result.end(), merged.begin(), merged.end());
  records_ = std::move(result);

  // Something of the owner's was released, shrunk or changed type: a
  // waiter may now get its lock (locks_wake_up_blocks).
  if (overlapped) WakeRecordWaitersLocked();
  return LockStatus::kDone;
}

Result<LockStatus> FileLocks::SetFlock(const LockOwner& owner, short type,
                                       LockWaiter* waiter) {
  MutexLock lock(mu_);
  auto mine =
      std::find_if(flocks_.begin(), flocks_.end(),
                   [&](const RecordLock& l) { return l.owner.SameAs(owner); });
  if (mine != flocks_.end()) {
    // flock_lock_inode: asking again for what one has succeeds at once.
    if (mine->type == type) return LockStatus::kDone;
    // A conversion drops the old lock before asking for the new one.
    flocks_.erase(mine);
    WakeFlockWaitersLocked();
  }
  if (type == F_UNLCK) return LockStatus::kDone;
  for (const RecordLock& held : flocks_) {
    // flock_locks_conflict: locks of one description never conflict.
    if (held.owner.SameAs(owner) || !TypesConflict(type, held.type)) continue;
    if (waiter == nullptr) return Errno(EWOULDBLOCK);  // LOCK_NB
    if (std::find(flock_waiters_.begin(), flock_waiters_.end(), waiter) ==
        flock_waiters_.end())
      flock_waiters_.push_back(waiter);
    return LockStatus::kQueued;
  }
  flocks_.push_back({owner, type, {}});
  return LockStatus::kDone;
}

void FileLocks::CancelWait(LockWaiter& waiter) {
  MutexLock lock(mu_);
  std::erase(record_waiters_, &waiter);
  std::erase(flock_waiters_, &waiter);
  MutexLock blocked_lock(BlockedMutex());
  RemoveBlockedLocked(&waiter);
}

void FileLocks::ReleaseRecords(const LockOwner& owner) {
  MutexLock lock(mu_);
  size_t removed = std::erase_if(
      records_, [&](const RecordLock& l) { return l.owner.SameAs(owner); });
  if (removed > 0) WakeRecordWaitersLocked();
}

void FileLocks::ReleaseFlock(const LockOwner& owner) {
  MutexLock lock(mu_);
  size_t removed = std::erase_if(
      flocks_, [&](const RecordLock& l) { return l.owner.SameAs(owner); });
  if (removed > 0) WakeFlockWaitersLocked();
}

std::vector<RecordLock> FileLocks::RecordsForTesting() {
  MutexLock lock(mu_);
  return records_;
}

std::vector<RecordLock> FileLocks::FlocksForTesting() {
  MutexLock lock(mu_);
  return flocks_;
}

size_t FileLocks::QueuedForTesting() {
  MutexLock lock(mu_);
  return record_waiters_.size() + flock_waiters_.size();
}

void FileLocks::WakeRecordWaitersLocked() {
  if (record_waiters_.empty()) return;
  {
    // A woken waiter waits for nothing until it queues again
    // (__locks_delete_block), so it cannot make a false cycle.
    MutexLock blocked_lock(BlockedMutex());
    for (LockWaiter* w : record_waiters_) RemoveBlockedLocked(w);
  }
  for (LockWaiter* w : record_waiters_) w->Notify();
  record_waiters_.clear();
}

void FileLocks::WakeFlockWaitersLocked() {
  for (LockWaiter* w : flock_waiters_) w->Notify();
  flock_waiters_.clear();
}

// --- Ranges -----------------------------------------------------------------

Result<LockRange> ResolveLockRange(short whence, int64_t start, int64_t len,
                                   int64_t offset, int64_t size) {
  int64_t base;
  switch (whence) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = offset;
      break;
    case SEEK_END:
      base = size;
      break;
    default:
      return Errno(EINVAL);  // flock64_to_posix_lock: bad l_whence
  }
  // flock64_to_posix_lock: a start past OFFSET_MAX is EOVERFLOW, one
  // before 0 is EINVAL.
  if (start > kLockOffsetMax - base) return Errno(EOVERFLOW);
  LockRange range;
  range.start = base + start;
  if (range.start < 0) return Errno(EINVAL);
  if (len > 0) {
    // An end past OFFSET_MAX is EOVERFLOW.
    if (len - 1 > kLockOffsetMax - range.start) return Errno(EOVERFLOW);
    range.end = range.start + (len - 1);
  } else if (len < 0) {
    // POSIX-2001: [start + len, start - 1]; below 0 is EINVAL.
    if (range.start + len < 0) return Errno(EINVAL);
    range.end = range.start - 1;
    range.start += len;
  } else {
    range.end = kLockOffsetMax;  // l_len 0: to end of file
  }
  return range;
}

}  // namespace veil::vfs
