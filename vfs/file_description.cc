// SPDX-License-Identifier: Apache-2.0
#include "vfs/file_description.h"

#include <dirent.h>
#include <linux/falloc.h>

#include <cstdint>
#include <cstring>

#include "vfs/file_lock.h"
#include "vfs/internal/resolver.h"

namespace veil::vfs {

// --- FileImpl defaults (Linux with the file_operations hook NULL) ---------

Result<size_t> FileImpl::PRead(std::span<uint8_t>, int64_t) {
  return Errno(EINVAL);
}
Result<size_t> FileImpl::PWrite(const Credentials&, std::span<const uint8_t>,
                                int64_t*, WriteAt) {
  return Errno(EINVAL);
}
Result<int64_t> FileImpl::Seek(int64_t offset, int whence, int64_t current) {
  // Like noop/default llseek without a size: SET and CUR only.
  switch (whence) {
    case SEEK_SET: break;
    case SEEK_CUR:
      // A sum past INT64_MAX is EINVAL (vfs_setpos), never overflow.
      if (__builtin_add_overflow(offset, current, &offset)) return Errno(EINVAL);
      break;
    default: return Errno(EINVAL);
  }
  if (offset < 0) return Errno(EINVAL);
  return offset;
}
Result<void> FileImpl::ReadDir(uint64_t*, const DirEmitter&) {
  return Errno(ENOTDIR);
}
Result<void> FileImpl::Truncate(uint64_t) { return Errno(EINVAL); }
Result<void> FileImpl::Allocate(const Credentials&, int, int64_t, int64_t) {
  return Errno(EOPNOTSUPP);
}
Result<HostMemory> FileImpl::GetHostMemory() { return Errno(ENODEV); }

// --- FileDescription ------------------------------------------------------

namespace {

// rw_verify_area: a negative position, or one that would pass the largest
// file offset, is EINVAL. Returns the count clamped to MAX_RW_COUNT.
Result<size_t> VerifyArea(int64_t pos, size_t count) {
  constexpr size_t kMaxRwCount = 0x7ffff000;  // INT_MAX & PAGE_MASK
  if (count > kMaxRwCount) count = kMaxRwCount;
  if (pos < 0) return Errno(EINVAL);
  if (static_cast<uint64_t>(pos) + count > uint64_t{INT64_MAX})
    return Errno(EINVAL);
  return count;
}

// A call that would sleep answers EAGAIN to a non-blocking caller
// (pipe_read, pipe_write: "if (filp->f_flags & O_NONBLOCK) ret = -EAGAIN").
Result<size_t> NonBlocking(Result<size_t> r, int flags) {
  if (!r && IsWouldBlock(r.error()) && (flags & O_NONBLOCK))
    return Errno(EAGAIN);
  return r;
}

}  // namespace

FileDescription::FileDescription(Location location, int flags,
                                 Credentials creds,
                                 std::unique_ptr<FileImpl> impl)
    : location_(std::move(location)),
      flags_(flags),
      creds_(std::move(creds)),
      impl_(std::move(impl)) {
  impl_->status_flags_ = &flags_;
}

FileDescription::~FileDescription() {
  // locks_remove_file: the last reference drops the description's OFD
  // locks and its flock lock (POSIX locks went at close(2)).
  if (FileLocks* locks = inode().locks_if_any()) {
    LockOwner self = LockOwner::Description(this);
    locks->ReleaseRecords(self);
    locks->ReleaseFlock(self);
  }
}

bool FileDescription::readable() const {
  int flags = this->flags();
  if (flags & O_PATH) return false;
  int acc = flags & O_ACCMODE;
  return acc == O_RDONLY || acc == O_RDWR;
}

bool FileDescription::writable() const {
  int flags = this->flags();
  if (flags & O_PATH) return false;
  int acc = flags & O_ACCMODE;
  return acc == O_WRONLY || acc == O_RDWR;
}

Result<size_t> FileDescription::Read(std::span<uint8_t> buf) {
  if (!readable()) return Errno(EBADF);  // FMODE_READ missing
  MutexLock lock(offset_mutex_);
  size_t count = VEIL_TRY(VerifyArea(offset_, buf.size()));
  size_t n =
      VEIL_TRY(NonBlocking(impl_->PRead(buf.first(count), offset_), flags()));
  offset_ += static_cast<int64_t>(n);
  return n;
}

Result<size_t> FileDescription::Write(const Credentials& creds,
                                      std::span<const uint8_t> buf) {
  if (!writable()) return Errno(EBADF);  // FMODE_WRITE missing
  MutexLock lock(offset_mutex_);
  int64_t offset = offset_;
  size_t count = VEIL_TRY(VerifyArea(offset, buf.size()));
  const int status = flags();  // once: the old set or the new, not a mix
  size_t n = VEIL_TRY(NonBlocking(
      impl_->PWrite(creds, buf.first(count), &offset,
                    (status & O_APPEND) ? WriteAt::kEnd : WriteAt::kOffset),
      status));
  // new_sync_write: the position moves only when something was written
  // (an empty write with O_APPEND leaves it where it was).
  if (n > 0) offset_ = offset;
  return n;
}

Result<size_t> FileDescription::PRead(std::span<uint8_t> buf, int64_t offset) {
  if (offset < 0) return Errno(EINVAL);  // ksys_pread64, before the fd
  if (is_path()) return Errno(EBADF);
  if (!impl_->Positional()) return Errno(ESPIPE);
  if (!readable()) return Errno(EBADF);
  size_t count = VEIL_TRY(VerifyArea(offset, buf.size()));
  return NonBlocking(impl_->PRead(buf.first(count), offset), flags());
}

Result<size_t> FileDescription::PWrite(const Credentials& creds,
                                       std::span<const uint8_t> buf,
                                       int64_t offset) {
  if (offset < 0) return Errno(EINVAL);  // ksys_pwrite64, before the fd
  if (is_path()) return Errno(EBADF);
  if (!impl_->Positional()) return Errno(ESPIPE);
  if (!writable()) return Errno(EBADF);
  size_t count = VEIL_TRY(VerifyArea(offset, buf.size()));
  // NOTE: as Linux, pwrite on an O_APPEND file appends.
  const int status = flags();
  return NonBlocking(
      impl_->PWrite(creds, buf.first(count), &offset,
                    (status & O_APPEND) ? WriteAt::kEnd : WriteAt::kOffset),
      status);
}

Result<int64_t> FileDescription::Seek(int64_t offset, int whence) {
  if (is_path()) return Errno(EBADF);
  // ksys_lseek: an unknown whence is EINVAL before the file is asked.
  if (whence < SEEK_SET || whence > SEEK_HOLE) return Errno(EINVAL);
  MutexLock lock(offset_mutex_);
  offset_ = VEIL_TRY(impl_->Seek(offset, whence, offset_));
  return offset_;
}

Result<size_t> FileDescription::Getdents64(std::span<uint8_t> buf) {
  if (is_path()) return Errno(EBADF);
  MutexLock lock(offset_mutex_);
  size_t used = 0;
  uint64_t cookie = static_cast<uint64_t>(offset_);
  bool too_small = false;
  Result<void> r = impl_->ReadDir(&cookie, [&](const DirEntry& e) {
    // struct linux_dirent64: ino, off, reclen, type, name + NUL, 8-aligned.
    constexpr size_t kHeader = 8 + 8 + 2 + 1;
    size_t reclen = (kHeader + e.name.size() + 1 + 7) & ~size_t{7};
    if (used + reclen > buf.size()) {
      too_small = used == 0;
      return false;
    }
    uint8_t* p = buf.data() + used;
    std::memset(p, 0, reclen);
    uint64_t ino = e.ino;
    int64_t off = static_cast<int64_t>(e.next_cookie);
    uint16_t len16 = static_cast<uint16_t>(reclen);
    std::memcpy(p, &ino, 8);
    std::memcpy(p + 8, &off, 8);
    std::memcpy(p + 16, &len16, 2);
    p[18] = e.type;
    std::memcpy(p + kHeader, e.name.data(), e.name.size());
    used += reclen;
    return true;
  });
  if (!r) return r.error();
  // getdents64: a buffer too small for even one entry is EINVAL.
  if (too_small) return Errno(EINVAL);
  offset_ = static_cast<int64_t>(cookie);
  return used;
}

Result<void> FileDescription::Allocate(const Credentials& creds, int mode,
                                       int64_t offset, int64_t length) {
  if (is_path()) return Errno(EBADF);
  // vfs_fallocate, in Linux's order of checks.
  if (offset < 0 || length <= 0) return Errno(EINVAL);
  constexpr int kModeMask = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE |
                            FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE |
                            FALLOC_FL_UNSHARE_RANGE | 0x80 /* WRITE_ZEROES */;
  if (mode & ~(kModeMask | FALLOC_FL_KEEP_SIZE)) return Errno(EOPNOTSUPP);
  switch (mode & kModeMask) {
    case 0:
    case FALLOC_FL_UNSHARE_RANGE:
    case FALLOC_FL_ZERO_RANGE:
      break;
    case FALLOC_FL_PUNCH_HOLE:
      if (!(mode & FALLOC_FL_KEEP_SIZE)) return Errno(EOPNOTSUPP);
      break;
    case FALLOC_FL_COLLAPSE_RANGE:
    case FALLOC_FL_INSERT_RANGE:
    case 0x80:
      if (mode & FALLOC_FL_KEEP_SIZE) return Errno(EOPNOTSUPP);
      break;
    default:
      return Errno(EOPNOTSUPP);
  }
  if (!writable()) return Errno(EBADF);
  Inode& node = inode();
  if (node.type() == S_IFIFO) return Errno(ESPIPE);
  if (node.IsDir()) return Errno(EISDIR);
  if (!node.IsRegular() && node.type() != S_IFBLK) return Errno(ENODEV);
  if (offset + length < 0) return Errno(EFBIG);  // wrapped through zero
  return impl_->Allocate(creds, mode, offset, length);
}

Result<Attr> FileDescription::Stat() {
  MutexLock lock(inode().fs().mutex());
  return inode().GetAttrLocked();
}

Result<void> FileDescription::SetStatusFlags(const Credentials& creds,
                                             int flags) {
  // do_fcntl: F_SETFL is not among the commands O_PATH allows.
  if (is_path()) return Errno(EBADF);
  int old = this->flags();
  // setfl: only the owner or CAP_FOWNER may turn O_NOATIME on.
  if ((flags & O_NOATIME) && !(old & O_NOATIME)) {
    Attr attr = VEIL_TRY(Stat());
    if (!internal::OwnerOrCapable(creds, attr)) return Errno(EPERM);
  }
  // setfl: O_DIRECT needs FMODE_CAN_ODIRECT, except on a FIFO (where it
  // selects packet mode).
  if ((flags & O_DIRECT) && inode().type() != S_IFIFO && !impl_->CanDirectIo())
    return Errno(EINVAL);
  // SETFL_MASK; FASYNC changes only through ->fasync.
  int mask = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;
  if (impl_->HasFasync()) mask |= O_ASYNC;
  while (!flags_.compare_exchange_weak(old, (flags & mask) | (old & ~mask),
                                       std::memory_order_relaxed)) {
  }
  return Ok();
}

Result<HostMemory> FileDescription::GetHostMemory() {
  if (is_path()) return Errno(EBADF);
  return impl_->GetHostMemory();
}

}  // namespace veil::vfs
