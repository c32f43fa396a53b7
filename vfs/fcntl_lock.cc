// SPDX-License-Identifier: Apache-2.0
//
// fcntl(2) record locks and flock(2) on a description (fs/locks.c
// fcntl_getlk, fcntl_setlk, do_lock_file_wait, the flock syscall).
#include "vfs/fcntl_lock.h"

#include <sys/file.h>

namespace veil::vfs {
namespace {

// LOCK_MAND (glibc defines it only with _GNU_SOURCE).
constexpr int kLockMand = 32;

bool IsOfdCommand(int cmd) {
  return cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
}

// flock64_to_posix_lock, with assign_type last as Linux checks it.
Result<RecordLock> ToRequest(FileDescription& file, const struct flock& fl,
                             const LockOwner& process) {
  int64_t size = 0;
  if (fl.l_whence == SEEK_END)
    size = static_cast<int64_t>(VEIL_TRY(file.Stat()).size);
  int64_t offset = fl.l_whence == SEEK_CUR ? file.offset() : 0;
  RecordLock request;
  request.range = VEIL_TRY(
      ResolveLockRange(fl.l_whence, fl.l_start, fl.l_len, offset, size));
  // assign_type: only the three lock types.
  if (fl.l_type != F_RDLCK && fl.l_type != F_WRLCK && fl.l_type != F_UNLCK)
    return Errno(EINVAL);
  request.type = fl.l_type;
  request.owner = process;
  return request;
}

// The W commands' loop (do_lock_file_wait, flock_lock_inode_wait): try,
// wait for a notification, try again; an interrupt cancels the wait.
template <typename Attempt>
Result<void> WaitLoop(FileLocks& locks, ThreadLockWaiter& waiter,
                      Attempt attempt) {
  waiter.ResetNotification();
  for (;;) {
    LockStatus status = VEIL_TRY(attempt());
    if (status == LockStatus::kDone) return Ok();
    Result<void> woken = waiter.Wait();
    if (!woken) {
      locks.CancelWait(waiter);
      waiter.ResetNotification();  // a Notify that raced with the interrupt
      return woken.error();        // EINTR
    }
  }
}

// The checks fcntl_setlk makes before it locks, in Linux's order.
Result<RecordLock> CheckSetRequest(FileDescription& file, int cmd,
                                   const struct flock& fl,
                                   const LockOwner& process) {
  // do_fcntl on an O_PATH file: only a few commands; locks are EBADF.
  if (file.is_path()) return Errno(EBADF);
  RecordLock request = VEIL_TRY(ToRequest(file, fl, process));
  // check_fmode_for_setlk: a read lock needs FMODE_READ, a write lock
  // FMODE_WRITE.
  if (request.type == F_RDLCK && !file.readable()) return Errno(EBADF);
  if (request.type == F_WRLCK && !file.writable()) return Errno(EBADF);
  if (IsOfdCommand(cmd)) {
    // fcntl_setlk: OFD locks take no pid.
    if (fl.l_pid != 0) return Errno(EINVAL);
    request.owner = LockOwner::Description(&file);
  }
  return request;
}

// flock_translate_cmd.
Result<short> FlockType(int operation) {
  switch (operation & ~LOCK_NB) {
    case LOCK_SH:
      return short{F_RDLCK};
    case LOCK_EX:
      return short{F_WRLCK};
    case LOCK_UN:
      return short{F_UNLCK};
    default:
      return Errno(EINVAL);
  }
}

// The flock syscall's checks; nullopt for an ignored LOCK_MAND request.
Result<std::optional<short>> CheckFlock(FileDescription& file, int operation) {
  // flock: LOCK_MAND is ignored (with a warning) before anything else.
  if (operation & kLockMand) return std::optional<short>();
  short type = VEIL_TRY(FlockType(operation));
  if (file.is_path()) return Errno(EBADF);  // fdget refuses O_PATH
  // flock: to lock, the file must be open for reading or writing.
  if (type != F_UNLCK && !file.readable() && !file.writable())
    return Errno(EBADF);
  return std::optional<short>(type);
}

}  // namespace

Result<void> GetRecordLock(FileDescription& file, int cmd,
                           const LockOwner& process, struct flock* fl) {
  if (file.is_path()) return Errno(EBADF);
  // fcntl_getlk: only F_OFD_GETLK may ask with F_UNLCK.
  if (cmd != F_OFD_GETLK && fl->l_type != F_RDLCK && fl->l_type != F_WRLCK)
    return Errno(EINVAL);
  RecordLock request = VEIL_TRY(ToRequest(file, *fl, process));
  if (cmd == F_OFD_GETLK) {
    if (fl->l_pid != 0) return Errno(EINVAL);  // fcntl_getlk
    request.owner = LockOwner::Description(&file);
  }
  FileLocks* locks = file.inode().locks_if_any();
  std::optional<RecordLock> found =
      locks ? locks->TestRecord(request) : std::nullopt;
  if (!found) {
    fl->l_type = F_UNLCK;
    return Ok();
  }
  // posix_lock_to_flock.
  fl->l_type = found->type;
  fl->l_whence = SEEK_SET;
  fl->l_start = found->range.start;
  fl->l_len = found->range.end == kLockOffsetMax
                  ? 0
                  : found->range.end - found->range.start + 1;
  fl->l_pid = found->owner.pid;  // locks_translate_pid: -1 for OFD
  return Ok();
}

Result<LockStatus> SetRecordLock(FileDescription& file, int cmd,
                                 const struct flock& fl,
                                 const LockOwner& process, LockWaiter* waiter) {
  RecordLock request = VEIL_TRY(CheckSetRequest(file, cmd, fl, process));
  bool blocking = cmd == F_SETLKW || cmd == F_OFD_SETLKW;
  return file.inode().locks().SetRecord(request, blocking ? waiter : nullptr);
}

Result<void> SetRecordLockBlocking(FileDescription& file, int cmd,
                                   const struct flock& fl,
                                   const LockOwner& process,
                                   ThreadLockWaiter& waiter) {
  RecordLock request = VEIL_TRY(CheckSetRequest(file, cmd, fl, process));
  FileLocks& locks = file.inode().locks();
  if (cmd != F_SETLKW && cmd != F_OFD_SETLKW) {
    VEIL_TRY(locks.SetRecord(request, nullptr));
    return Ok();
  }
  return WaitLoop(locks, waiter,
                  [&] { return locks.SetRecord(request, &waiter); });
}

Result<LockStatus> Flock(FileDescription& file, int operation,
                         LockWaiter* waiter) {
  std::optional<short> type = VEIL_TRY(CheckFlock(file, operation));
  if (!type) return LockStatus::kDone;
  return file.inode().locks().SetFlock(
      LockOwner::Description(&file), *type,
      (operation & LOCK_NB) ? nullptr : waiter);
}

Result<void> FlockBlocking(FileDescription& file, int operation,
                           ThreadLockWaiter& waiter) {
  std::optional<short> type = VEIL_TRY(CheckFlock(file, operation));
  if (!type) return Ok();
  FileLocks& locks = file.inode().locks();
  LockOwner owner = LockOwner::Description(&file);
  if (operation & LOCK_NB) {
    VEIL_TRY(locks.SetFlock(owner, *type, nullptr));
    return Ok();
  }
  return WaitLoop(locks, waiter,
                  [&] { return locks.SetFlock(owner, *type, &waiter); });
}

void CancelLockWait(FileDescription& file, LockWaiter& waiter) {
  if (FileLocks* locks = file.inode().locks_if_any()) locks->CancelWait(waiter);
}

void ReleasePosixLocks(FileDescription& file, const LockOwner& process) {
  if (FileLocks* locks = file.inode().locks_if_any())
    locks->ReleaseRecords(process);
}

}  // namespace veil::vfs
