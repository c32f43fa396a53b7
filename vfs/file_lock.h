// SPDX-License-Identifier: Apache-2.0
//
// File locks: POSIX record locks, OFD locks and flock(2) locks on one
// file. Linux analogue: struct file_lock_context and fs/locks.c
// (posix_lock_inode, posix_test_lock, flock_lock_inode, the blocked_hash
// deadlock detector). Independent of the filesystem: every Inode can carry
// a FileLocks (Inode::locks()).
//
// Which inode: the one the task's description sees (FileDescription::
// inode(), Linux's file_inode()). For an overlay file that is the
// OverlayInode, which stays the same object across a copy-up, so a lock
// taken before the copy-up still holds after it. A lower file with several
// hard links has one overlay inode per name (as Linux without index=on), so
// locks through two of its names do not see each other until a copy-up
// would have broken the link anyway.
//
// Record locks (POSIX and OFD) share one list, ordered as Linux orders
// flc_posix (owners in the order of their first lock, each owner's locks
// by start), so F_GETLK reports the same conflicting lock Linux reports.
// flock locks are a separate list: they never conflict with record locks
// (Linux local filesystems).
//
// Waiting: a request that conflicts may queue a LockWaiter; the table
// notifies it once when the conflict may have gone (a lock of the file was
// removed, shrunk or downgraded) and the caller retries, exactly as Linux's
// locks_lock_file_wait loop does. The sentry implements LockWaiter to park
// and re-queue a task; ThreadLockWaiter blocks a thread and can be
// interrupted (EINTR).
//
// Ownership: a FileLocks belongs to its Inode. Waiters are borrowed: once
// queued, a waiter may be destroyed only after a later call on the same
// table returned (the retry after its notification, or CancelWait()):
// Notify() runs under the table's mutex, which that call waits for.
// Thread-safety: all methods may be called concurrently. Lock order:
// FileLocks::mu_, then the global deadlock-graph mutex (Linux:
// flc_lock, then blocked_lock_lock), then a waiter's own mutex inside
// Notify(). No two FileLocks mutexes are ever held together.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "base/mutex.h"
#include "base/result.h"

namespace veil::vfs {

// Linux OFFSET_MAX: a lock "to end of file" ends here.
inline constexpr int64_t kLockOffsetMax = INT64_MAX;

// Who holds a lock. POSIX locks belong to a process (Linux: fl_owner =
// current->files; the sentry passes the thread group), OFD and flock locks
// to an open file description. Two owners are the same only if both kind
// and id match.
struct LockOwner {
  enum class Kind : uint8_t { kProcess, kDescription };
  Kind kind = Kind::kProcess;
  uint64_t id = 0;
  pid_t pid = 0;  // what F_GETLK reports as l_pid (-1 for descriptions)

  static LockOwner Process(uint64_t id, pid_t pid) {
    return {Kind::kProcess, id, pid};
  }
  static LockOwner Description(const void* description) {
    return {Kind::kDescription, reinterpret_cast<uintptr_t>(description), -1};
  }
  bool SameAs(const LockOwner& other) const {
    return kind == other.kind && id == other.id;
  }
};

// A byte range [start, end], both inclusive; end == kLockOffsetMax means
// "to end of file, however it grows".
struct LockRange {
  int64_t start = 0;
  int64_t end = kLockOffsetMax;
  friend bool operator==(const LockRange&, const LockRange&) = default;
};

// One record lock or request. `type` is F_RDLCK, F_WRLCK or (for
// requests) F_UNLCK.
struct RecordLock {
  LockOwner owner;
  short type = F_RDLCK;
  LockRange range;
};

// What a set request did.
enum class LockStatus {
  kDone,    // acquired, changed or released
  kQueued,  // conflicts; the waiter is queued: wait for Notify(), retry
};

// Something a lock wait can wake. Notify() is called at most once per
// queueing, with the table's mutex held: it must only signal (set a flag,
// wake a thread, post an event), never block or call into file locks.
class LockWaiter {
 public:
  virtual void Notify() = 0;

 protected:
  LockWaiter() = default;
  ~LockWaiter() = default;
};

// A waiter for a thread that blocks (the blocking calls in fcntl_lock.h).
// Interrupt() from any thread makes the pending wait, or the next one if
// none is pending, return EINTR (Linux: a signal during
// wait_event_interruptible); the interrupt is consumed by that return.
// Thread-safety: Interrupt() and Notify() from any thread; Wait() from the
// owning thread only.
class ThreadLockWaiter final : public LockWaiter {
 public:
  ThreadLockWaiter() = default;
  ThreadLockWaiter(const ThreadLockWaiter&) = delete;
  ThreadLockWaiter& operator=(const ThreadLockWaiter&) = delete;

  void Notify() override;
  void Interrupt();

  // Blocks until notified (Ok) or interrupted (EINTR). A notification wins
  // over an interrupt that arrived with it, as the wait condition is
  // checked first in Linux.
  Result<void> Wait();
  // Forgets a notification left over from a cancelled wait.
  void ResetNotification();

 private:
  Mutex mu_;
  CondVar cv_;
  bool notified_ VEIL_GUARDED_BY(mu_) = false;
  bool interrupted_ VEIL_GUARDED_BY(mu_) = false;
};

// The locks of one file (Linux: struct file_lock_context).
class FileLocks final {
 public:
  FileLocks() = default;
  ~FileLocks();
  FileLocks(const FileLocks&) = delete;
  FileLocks& operator=(const FileLocks&) = delete;

  // --- Record locks (POSIX and OFD) -------------------------------------

  // posix_test_lock: the first lock, in list order, that conflicts with
  // `request` (another owner, overlapping, one of the two a write lock),
  // or nullopt. A request of type F_UNLCK (F_OFD_GETLK's extension, Linux
  // 6.5+) instead finds the first of the owner's own locks it overlaps.
  std::optional<RecordLock> TestRecord(const RecordLock& request);

  // posix_lock_inode: sets, changes or releases (F_UNLCK) the owner's
  // locks over the range, splitting and merging its existing locks.
  // On a conflict: EAGAIN if `waiter` is null (Linux F_SETLK); otherwise
  // EDEADLK if a process owner waiting would close a cycle of processes
  // waiting on each other (OFD owners are not checked, as Linux), else
  // the waiter is queued and the result is kQueued.
  Result<LockStatus> SetRecord(const RecordLock& request, LockWaiter* waiter);

  // --- flock(2) -----------------------------------------------------------

  // flock_lock_inode: `owner` is a description; `type` F_RDLCK (LOCK_SH),
  // F_WRLCK (LOCK_EX) or F_UNLCK. A conversion removes the old lock first
  // and then asks for the new one (not atomic, as Linux and BSD): if that
  // fails with EAGAIN, the old lock is gone. On a conflict as SetRecord,
  // without the deadlock check.
  Result<LockStatus> SetFlock(const LockOwner& owner, short type,
                              LockWaiter* waiter);

  // --- Waiting and release ------------------------------------------------

  // Takes `waiter` off this file's queues if it is still there (an
  // interrupted wait). Afterwards the table never touches it.
  void CancelWait(LockWaiter& waiter);

  // Removes every record lock of `owner` (locks_remove_posix: a process
  // closing any descriptor of the file; an OFD owner's last close).
  void ReleaseRecords(const LockOwner& owner);
  // Removes `owner`'s flock lock (locks_remove_flock, at last close).
  void ReleaseFlock(const LockOwner& owner);

  // The record locks in list order; flock locks as (owner, type).
  std::vector<RecordLock> RecordsForTesting();
  std::vector<RecordLock> FlocksForTesting();
  // How many waiters are queued (record and flock).
  size_t QueuedForTesting();

 private:
  // Notifies and dequeues every queued record (or flock) waiter.
  void WakeRecordWaitersLocked() VEIL_REQUIRES(mu_);
  void WakeFlockWaitersLocked() VEIL_REQUIRES(mu_);

  Mutex mu_;
  std::vector<RecordLock> records_ VEIL_GUARDED_BY(mu_);
  std::vector<RecordLock> flocks_ VEIL_GUARDED_BY(mu_);  // Range unused
  std::vector<LockWaiter*> record_waiters_ VEIL_GUARDED_BY(mu_);  // Borrowed
  std::vector<LockWaiter*> flock_waiters_ VEIL_GUARDED_BY(mu_);  // Borrowed
};

// flock64_to_posix_lock: the range a struct flock names. `offset` is the
// description's file offset (SEEK_CUR), `size` the file's size (SEEK_END).
// EINVAL for an unknown l_whence or a range that starts before 0;
// EOVERFLOW when the start or end would pass OFFSET_MAX. l_len 0 locks to
// end of file; a negative l_len locks [start + l_len, start - 1].
Result<LockRange> ResolveLockRange(short whence, int64_t start, int64_t len,
                                   int64_t offset, int64_t size);

}  // namespace veil::vfs
