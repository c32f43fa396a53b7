// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs open files: regular files over a memfd, directories over the entry
// map (mm/shmem.c shmem_file_operations, fs/libfs.c offset_dir_operations).
#include <sys/mman.h>
#include <unistd.h>

#include <mutex>

#include "vfs/tmpfs/inode.h"

namespace veil::vfs::tmpfs {
namespace {

class RegularFile final : public FileImpl {
 public:
  // O_NOATIME: reads leave atime alone (file_accessed).
  RegularFile(Ref<TmpfsInode> inode, int flags)
      : inode_(std::move(inode)), noatime_(flags & O_NOATIME) {}

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    std::lock_guard lock(inode_->fs().mutex());
    size_t done = 0;
    if (int fd = inode_->memfd(); fd >= 0) {
      while (done < buf.size()) {
        ssize_t n = pread(fd, buf.data() + done, buf.size() - done,
                          offset + static_cast<int64_t>(done));
        if (n < 0) {
          if (errno == EINTR) continue;
          if (done > 0) break;
          return Errno::FromErrno();
        }
        if (n == 0) break;
        done += static_cast<size_t>(n);
      }
    }
    if (!noatime_) inode_->TouchAtimeLocked();
    return done;
  }

  Result<size_t> PWrite(const Credentials& creds, std::span<const uint8_t> buf,
                        int64_t* offset, bool append) override {
    std::lock_guard lock(inode_->fs().mutex());
    if (append) *offset = static_cast<int64_t>(inode_->SizeLocked());
    if (buf.empty()) return size_t{0};
    int fd = VEIL_TRY(inode_->MemfdLocked());
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = pwrite(fd, buf.data() + done, buf.size() - done,
                         *offset + static_cast<int64_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (done > 0) break;
        return Errno::FromErrno();
      }
      done += static_cast<size_t>(n);
    }
    *offset += static_cast<int64_t>(done);
    inode_->DataModifiedLocked(creds);
    return done;
  }

  Result<int64_t> Seek(int64_t offset, int whence, int64_t current) override {
    std::lock_guard lock(inode_->fs().mutex());
    int64_t size = static_cast<int64_t>(inode_->SizeLocked());
    switch (whence) {
      case SEEK_SET:
        break;
      // A sum past INT64_MAX is EINVAL (vfs_setpos), never overflow.
      case SEEK_CUR:
        if (__builtin_add_overflow(offset, current, &offset))
          return Errno(EINVAL);
        break;
      case SEEK_END:
        if (__builtin_add_overflow(offset, size, &offset)) return Errno(EINVAL);
        break;
      case SEEK_DATA:
      case SEEK_HOLE: {
        // shmem_file_llseek: negative or past-EOF offsets are ENXIO.
        if (offset < 0 || offset >= size) return Errno(ENXIO);
        off_t r = lseek(inode_->memfd(), offset, whence);
        if (r < 0) return Errno::FromErrno();
        return static_cast<int64_t>(r);
      }
      default:
        return Errno(EINVAL);
    }
    if (offset < 0) return Errno(EINVAL);
    return offset;
  }

  Result<void> Allocate(const Credentials& creds, int mode, int64_t offset,
                        int64_t length) override {
    std::lock_guard lock(inode_->fs().mutex());
    int fd = VEIL_TRY(inode_->MemfdLocked());
    // The memfd is a host tmpfs file: its fallocate is exactly shmem's.
    if (fallocate(fd, mode, offset, length) != 0) return Errno::FromErrno();
    inode_->DataModifiedLocked(creds);
    return Ok();
  }

  Result<HostMemory> GetHostMemory() override {
    std::lock_guard lock(inode_->fs().mutex());
    int fd = VEIL_TRY(inode_->MemfdLocked());
    return HostMemory{fd, 0};
  }

 private:
  const Ref<TmpfsInode> inode_;
  const bool noatime_;
};

class Directory final : public FileImpl {
 public:
  explicit Directory(Ref<TmpfsInode> inode) : inode_(std::move(inode)) {}

  // Linux generic_read_dir.
  Result<size_t> PRead(std::span<uint8_t>, int64_t) override {
    return Errno(EISDIR);
  }
  Result<size_t> PWrite(const Credentials&, std::span<const uint8_t>,
                        int64_t*, bool) override {
    return Errno(EISDIR);
  }

  Result<void> ReadDir(uint64_t* cookie, const DirEmitter& emit) override {
    std::lock_guard lock(inode_->fs().mutex());
    bool stopped = false;
    VEIL_TRY_VOID(inode_->ReadDirLocked(*cookie, [&](const DirEntry& e) {
      if (!emit(e)) {
        stopped = true;
        return false;
      }
      *cookie = e.next_cookie;
      return true;
    }));
    // offset_iterate_dir: once the end is reached the position stays at
    // "end of directory"; entries created later need a seek to be seen.
    if (!stopped) *cookie = kEndOfDirCookie;
    inode_->TouchAtimeLocked();
    return Ok();
  }

 private:
  const Ref<TmpfsInode> inode_;
};


}  // namespace

Result<int> TmpfsInode::MemfdLocked() {
  if (!IsRegular()) return Errno(EINVAL);
  if (!memfd_) {
    int fd = memfd_create("veil-tmpfs", MFD_CLOEXEC);
    if (fd < 0) return Errno::FromErrno();
    memfd_.reset(fd);
  }
  return memfd_.get();
}

Result<std::unique_ptr<FileImpl>> TmpfsInode::OpenLocked(int flags) {
  Ref<TmpfsInode> self(*this);
  switch (type()) {
    case S_IFREG:
      return std::unique_ptr<FileImpl>(new RegularFile(self, flags));
    case S_IFDIR:
      return std::unique_ptr<FileImpl>(new Directory(self));
    case S_IFIFO:
      if (!fifo_) fifo_ = std::make_unique<FifoPipe>();
      return OpenFifoLocked(*this, *fifo_, flags);
    default:
      // Device nodes without a driver, and sockets: ENXIO. (Symlinks never
      // get here: the VFS opens them only with O_PATH, which needs no hook.)
      return Errno(ENXIO);
  }
}

}  // namespace veil::vfs::tmpfs
