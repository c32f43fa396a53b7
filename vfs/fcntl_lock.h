// SPDX-License-Identifier: Apache-2.0
//
// The lock calls as the sentry's syscall handlers make them: fcntl(2)
// F_GETLK/F_SETLK/F_SETLKW and their F_OFD_ twins, flock(2), and the
// release on close. Linux analogue: fcntl_getlk, fcntl_setlk, the flock
// syscall, locks_remove_posix and locks_remove_file in fs/locks.c.
// Arguments are checked in Linux's order and fail with its errnos.
//
// Owners: `process` identifies the calling process for POSIX locks (the
// sentry passes its thread group: id and the pid F_GETLK reports). OFD
// and flock locks belong to the description and ignore it.
//
// Waiting, two ways:
//  - Event loop: SetRecordLock/Flock with a LockWaiter. A blocking request
//    that conflicts answers kQueued; the caller parks the task until
//    Notify(), then calls again with the same arguments. To give up (a
//    signal), CancelLockWait().
//  - Threads: SetRecordLockBlocking/FlockBlocking block the calling thread
//    in a ThreadLockWaiter; its Interrupt() ends the wait with EINTR and
//    leaves nothing queued.
// Nothing is held while waiting: no VFS lock, no lock-table mutex.
//
// Thread-safety: all functions may be called concurrently.
#pragma once

#include <fcntl.h>

#include "base/result.h"
#include "vfs/file_description.h"
#include "vfs/file_lock.h"

namespace veil::vfs {

// fcntl(F_GETLK / F_OFD_GETLK). On entry `*fl` is the caller's struct; on
// success it is left alone except l_type = F_UNLCK when nothing conflicts,
// or describes the first conflicting lock (l_whence SEEK_SET, l_len 0 for
// "to end of file", l_pid the owner's pid, -1 for an OFD lock).
// Errors: EBADF on an O_PATH description; EINVAL for l_type other than
// F_RDLCK/F_WRLCK (F_OFD_GETLK also accepts F_UNLCK: "my own locks
// there?", Linux 6.5+), a bad l_whence, a range before 0, or F_OFD_GETLK
// with l_pid != 0; EOVERFLOW for a range past OFFSET_MAX.
Result<void> GetRecordLock(FileDescription& file, int cmd,
                           const LockOwner& process, struct flock* fl);

// fcntl(F_SETLK / F_SETLKW / F_OFD_SETLK / F_OFD_SETLKW). `waiter` is
// used by the W commands only (without one they act as the non-W ones).
// Errors: as GetRecordLock for the arguments, then EBADF for a read lock
// on a description not open for reading or a write lock on one not open
// for writing, then EINVAL for an OFD command with l_pid != 0; EAGAIN on a
// conflict (non-W); EDEADLK when a process's W request would wait in a
// cycle of processes waiting on each other.
Result<LockStatus> SetRecordLock(FileDescription& file, int cmd,
                                 const struct flock& fl,
                                 const LockOwner& process, LockWaiter* waiter);
// As SetRecordLock, blocking the thread for the W commands; EINTR when
// `waiter` is interrupted while waiting.
Result<void> SetRecordLockBlocking(FileDescription& file, int cmd,
                                   const struct flock& fl,
                                   const LockOwner& process,
                                   ThreadLockWaiter& waiter);

// flock(2): LOCK_SH, LOCK_EX or LOCK_UN, optionally | LOCK_NB. `waiter`
// null, or LOCK_NB, never waits. A LOCK_MAND request is ignored and
// succeeds (Linux since 5.15). Errors: EINVAL for another operation;
// EBADF on an O_PATH description or (to lock) one open for neither
// reading nor writing; EWOULDBLOCK on a conflict with LOCK_NB.
Result<LockStatus> Flock(FileDescription& file, int operation,
                         LockWaiter* waiter);
Result<void> FlockBlocking(FileDescription& file, int operation,
                           ThreadLockWaiter& waiter);

// Takes a waiter queued by SetRecordLock/Flock on `file` off the queue.
void CancelLockWait(FileDescription& file, LockWaiter& waiter);

// close(2) of any descriptor of `file` by `process` (filp_close ->
// locks_remove_posix): releases all of the process's POSIX locks on the
// file, whichever descriptor took them. OFD and flock locks stay until
// the description's last reference goes (~FileDescription).
void ReleasePosixLocks(FileDescription& file, const LockOwner& process);

}  // namespace veil::vfs
