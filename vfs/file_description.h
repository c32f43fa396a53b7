// SPDX-License-Identifier: Apache-2.0
//
// FileDescription: one open file — what open(2) creates and dup(2) shares.
// Linux analogue: struct file. FileImpl is the filesystem's per-open part
// (struct file_operations plus private_data).
//
// Ownership: refcounted; fd tables hold references. A description holds its
// Location (so the mount stays busy and the dentry alive) and its inode.
// Thread-safety: the offset is guarded by an internal mutex, so concurrent
// read(2)s on a shared description are serialised as Linux does with
// f_pos_lock. The status flags are one atomic word: F_SETFL replaces them
// at once, and every read or write loads them once, so it sees either the
// old or the new set (Linux: f_flags under f_lock). FileImpl hooks are
// called without any VFS lock held.
//
// Locks: the description owns its OFD and flock locks (vfs/fcntl_lock.h)
// and releases them when its last reference goes (Linux locks_remove_file).
#pragma once

#include <fcntl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "base/mutex.h"
#include "base/ref.h"
#include "base/result.h"
#include "vfs/attr.h"
#include "vfs/credentials.h"
#include "vfs/inode.h"
#include "vfs/mount.h"
#include "vfs/wait.h"

namespace veil::vfs {

class FileDescription;

// A host fd and the range of it that holds a file's bytes, for mapping
// them into a task (the sentry's data plane).
struct HostMemory {
  int fd = -1;          // borrowed; valid while the description is open
  uint64_t offset = 0;  // file offset 0 is this offset in fd
};

// Where a write lands: at the given offset, or at the end of the file
// (O_APPEND, found under the file's write lock so the data lands whole).
enum class WriteAt : uint8_t { kOffset, kEnd };

class FileImpl {
 public:
  virtual ~FileImpl() = default;

  // Defaults match Linux when the file_operations hook is NULL.
  // Linux: read on a file without ->read/->read_iter is EINVAL; on a
  // directory, generic_read_dir gives EISDIR (filesystems override).
  virtual Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset);
  // Writes at `*offset`, or at end of file for WriteAt::kEnd (O_APPEND);
  // on success `*offset` is the position after the data. `creds` decide
  // whether a setuid/setgid bit survives the write (file_remove_privs).
  virtual Result<size_t> PWrite(const Credentials& creds,
                                std::span<const uint8_t> buf, int64_t* offset,
                                WriteAt at);
  // lseek(2). `current` is the description's offset.
  virtual Result<int64_t> Seek(int64_t offset, int whence, int64_t current);
  // getdents: emits from `*cookie` and advances it. ENOTDIR by default.
  virtual Result<void> ReadDir(uint64_t* cookie, const DirEmitter& emit);
  // ftruncate(2) length change; permission checks done by the VFS.
  virtual Result<void> Truncate(uint64_t length);
  // fallocate(2). Linux: EOPNOTSUPP without ->fallocate. `creds` as for
  // PWrite.
  virtual Result<void> Allocate(const Credentials& creds, int mode,
                                int64_t offset, int64_t length);
  virtual Result<void> Sync() { return Ok(); }
  // False for pipes and FIFOs: pread/pwrite fail with ESPIPE (Linux: no
  // FMODE_PREAD/FMODE_PWRITE).
  virtual bool Positional() const { return true; }
  // EINVAL (not mappable) unless memory-backed.
  virtual Result<HostMemory> GetHostMemory();
  // A task maps the host memory GetHostMemory gave (mmap, exec): it must
  // stay the file's for as long as the file lives (tmpfs keeps it).
  virtual void NoteMapped() {}
  // Whether O_DIRECT may be set (Linux FMODE_CAN_ODIRECT, which a
  // filesystem opts into: shmem since 6.6 for regular files). F_SETFL
  // answers EINVAL otherwise.
  virtual bool CanDirectIo() const { return false; }
  // Whether O_ASYNC takes (Linux: the file has ->fasync, as pipes do);
  // F_SETFL silently leaves the bit alone otherwise.
  virtual bool HasFasync() const { return false; }

  // --- Blocking (vfs/wait.h) ----------------------------------------------
  // Calls that would sleep on Linux answer kWouldBlock; the description
  // turns that into EAGAIN for an O_NONBLOCK caller.

  // Whether an open that had to wait is complete (fifo_open's
  // wait_for_partner): Ok, or kWouldBlock until the file's queue reports
  // kEventPeerOpened. Only FIFOs ever wait.
  virtual Result<void> CompleteOpen() { return Ok(); }
  // The events of `mask` that are ready now, plus kEventErr and kEventHup
  // if they hold (Linux ->poll; the source of poll/epoll readiness).
  // Default: readable and writable, as Linux's DEFAULT_POLLMASK for files
  // without ->poll.
  virtual EventMask Readiness(EventMask mask) {
    return mask & (kEventIn | kEventOut);
  }
  // Where to wait for `mask` (vfs/wait.h WaitSource). Default: nothing to
  // wait on, the file never changes readiness.
  virtual WaitSource WaitSourceFor(EventMask) { return {}; }

 protected:
  // The status flags of the description this file belongs to, as F_GETFL
  // reports them now; `open_flags` for a file opened outside a
  // description (a layer's file under an overlay).
  int StatusFlags(int open_flags) const {
    return status_flags_ ? status_flags_->load(std::memory_order_relaxed)
                         : open_flags;
  }

 private:
  friend class FileDescription;
  // Borrowed: the description owns this FileImpl, so it outlives it.
  const std::atomic<int>* status_flags_ = nullptr;
};

class FileDescription final : public RefCounted<FileDescription> {
 public:
  // `creds` are the opener's (Linux f_cred); writes through this
  // description judge setuid/setgid removal by them.
  FileDescription(Location location, int flags, Credentials creds,
                  std::unique_ptr<FileImpl> impl);
  ~FileDescription();

  const Location& location() const { return location_; }
  Inode& inode() const { return location_.dentry->inode(); }
  // open(2) flags as F_GETFL reports them, with F_SETFL's changes.
  int flags() const { return flags_.load(std::memory_order_relaxed); }
  bool readable() const;
  bool writable() const;
  bool is_path() const { return flags() & O_PATH; }

  // F_SETFL (Linux setfl): sets O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME
  // and (where the file has ->fasync) O_ASYNC to what `flags` says; other
  // bits are ignored, as Linux ignores them. `creds` are the caller's.
  // Errors: EBADF on an O_PATH description; EPERM to turn O_NOATIME on for
  // a caller who neither owns the file nor has CAP_FOWNER
  // (inode_owner_or_capable); EINVAL for O_DIRECT on a file that cannot
  // do it (no FMODE_CAN_ODIRECT; FIFOs are exempt: packet mode).
  Result<void> SetStatusFlags(const Credentials& creds, int flags);
  FileImpl& impl() const { return *impl_; }

  // read(2)/write(2)/pread(2)/pwrite(2)/lseek(2)/getdents64(2)/fstat(2).
  // EBADF when the access mode does not allow the operation or the
  // description is O_PATH. `creds` are the calling task's: they decide
  // whether a write drops setuid/setgid (without them, the opener's).
  // A read or write that would sleep on Linux (a FIFO) answers
  // kWouldBlock, or EAGAIN when the description has O_NONBLOCK: the
  // caller waits (vfs/wait.h) and calls again; vfs/blocking.h has the
  // loops for a thread.
  Result<size_t> Read(std::span<uint8_t> buf);
  Result<size_t> Write(std::span<const uint8_t> buf) {
    return Write(creds_, buf);
  }
  Result<size_t> Write(const Credentials& creds, std::span<const uint8_t> buf);
  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset);
  Result<size_t> PWrite(std::span<const uint8_t> buf, int64_t offset) {
    return PWrite(creds_, buf, offset);
  }
  Result<size_t> PWrite(const Credentials& creds,
                        std::span<const uint8_t> buf, int64_t offset);
  Result<int64_t> Seek(int64_t offset, int whence);
  // Fills `buf` with linux_dirent64 records, as getdents64(2).
  Result<size_t> Getdents64(std::span<uint8_t> buf);
  Result<void> Allocate(int mode, int64_t offset, int64_t length) {
    return Allocate(creds_, mode, offset, length);
  }
  Result<void> Allocate(const Credentials& creds, int mode, int64_t offset,
                        int64_t length);
  Result<Attr> Stat();
  Result<HostMemory> GetHostMemory();
  void NoteMapped() { impl_->NoteMapped(); }

  // Blocking (vfs/wait.h). A description that Vfs::OpenAt returned with
  // an open still waiting for a FIFO peer answers kWouldBlock here until
  // the peer comes; it must not be installed in an fd table before this
  // is Ok. Dropping it instead gives the open up (Linux: a signal during
  // fifo_open's wait) and leaves no trace.
  Result<void> CompleteOpen() { return impl_->CompleteOpen(); }
  EventMask Readiness(EventMask mask) { return impl_->Readiness(mask); }
  WaitSource WaitSourceFor(EventMask mask) {
    return impl_->WaitSourceFor(mask);
  }

  int64_t offset() {
    MutexLock lock(offset_mutex_);
    return offset_;
  }

 private:
  const Location location_;
  std::atomic<int> flags_;  // F_GETFL; the access mode and O_PATH never change
  const Credentials creds_;
  const std::unique_ptr<FileImpl> impl_;
  Mutex offset_mutex_;
  int64_t offset_ VEIL_GUARDED_BY(offset_mutex_) = 0;
};

}  // namespace veil::vfs
