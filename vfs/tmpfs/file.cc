// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs open files and file data: regular files over a PageStore, a
// FileStore's pages or a host file of their own, directories over the entry map (mm/shmem.c shmem_file_operations,
// fs/libfs.c offset_dir_operations).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>


#include "base/host_io.h"
#include "vfs/tmpfs/inode.h"

namespace veil::vfs::tmpfs {
namespace {

class RegularFile final : public FileImpl {
 public:
  // O_NOATIME: reads leave atime alone (file_accessed). F_SETFL may
  // change it later, so reads ask the description.
  RegularFile(Ref<TmpfsInode> inode, int flags)
      : inode_(std::move(inode)), open_flags_(flags) {}

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    MutexLock lock(inode_->fs().mutex());
    size_t done = VEIL_TRY(inode_->ReadLocked(buf, offset));
    if (!(StatusFlags(open_flags_) & O_NOATIME)) inode_->TouchAtimeLocked();
    return done;
  }

  Result<size_t> PWrite(const Credentials& creds, std::span<const uint8_t> buf,
                        int64_t* offset, bool append) override {
    MutexLock lock(inode_->fs().mutex());
    if (append) *offset = static_cast<int64_t>(inode_->SizeLocked());
    if (buf.empty()) return size_t{0};
    size_t done = VEIL_TRY(inode_->WriteLocked(buf, *offset));
    *offset += static_cast<int64_t>(done);
    inode_->DataModifiedLocked(creds);
    return done;
  }

  Result<int64_t> Seek(int64_t offset, int whence, int64_t current) override {
    MutexLock lock(inode_->fs().mutex());
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
        return inode_->SeekDataHoleLocked(offset, whence);
      }
      default:
        return Errno(EINVAL);
    }
    if (offset < 0) return Errno(EINVAL);
    return offset;
  }

  Result<void> Allocate(const Credentials& creds, int mode, int64_t offset,
                        int64_t length) override {
    MutexLock lock(inode_->fs().mutex());
    VEIL_TRY_VOID(inode_->AllocateLocked(mode, offset, length));
    inode_->DataModifiedLocked(creds);
    return Ok();
  }

  // The sentry maps or installs the fd: the data moves to a host file of
  // its own for good (on disk beside a self-backed tmpfs's store).
  Result<HostMemory> GetHostMemory() override {
    MutexLock lock(inode_->fs().mutex());
    int fd = VEIL_TRY(inode_->HostFileLocked(TmpfsInode::HostFile::kBacking));
    return HostMemory{fd, 0};
  }

  // shmem_file_open (Linux 6.6+): regular files take O_DIRECT.
  bool CanDirectIo() const override { return true; }

 private:
  const Ref<TmpfsInode> inode_;
  const int open_flags_;
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
    MutexLock lock(inode_->fs().mutex());
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

Result<int> TmpfsInode::HostFileLocked(HostFile kind) {
  if (!IsRegular()) return Errno(EINVAL);
  if (!host_file_) {
    UniqueFd file;
    if (kind == HostFile::kBacking && stored_) {
      file = VEIL_TRY(tmpfs().store()->CreateFile());
    } else {
      int fd = memfd_create("veil-tmpfs", MFD_CLOEXEC);
      if (fd < 0) return Errno::FromErrno();
      file.reset(fd);
    }
    if (stored_) {
      VEIL_TRY_VOID(stored_->CopyTo(file.get()));
      stored_.reset();  // frees its pages
    } else {
      VEIL_TRY_VOID(data_.CopyTo(file.get()));
      data_.Clear();
    }
    host_file_ = std::move(file);
  }
  return host_file_.get();
}

TmpfsInode::HostFile TmpfsInode::EdgeHostFileLocked() const {
  // A self-backed file with more data than the memfd threshold would
  // bring it all into memory, which is what self-backing is for avoiding:
  // it goes beside the store, and inherits that filesystem's limits near
  // the largest offsets (ext4: EFBIG past 16 TiB) instead of shmem's.
  if (stored_ &&
      stored_->pages() * StorePages::kPageSize > tmpfs().memfd_threshold())
    return HostFile::kBacking;
  return HostFile::kMemory;
}

Result<size_t> TmpfsInode::ReadLocked(std::span<uint8_t> buf, int64_t offset) {
  if (!host_file_) {
    if (stored_) return stored_->Read(buf, static_cast<uint64_t>(offset));
    return data_.Read(buf, static_cast<uint64_t>(offset));
  }
  HostIo io = PReadFull(host_file_.get(), buf, static_cast<uint64_t>(offset));
  if (io.error != 0 && io.done == 0) return Errno(io.error);
  return io.done;
}

Result<size_t> TmpfsInode::WriteLocked(std::span<const uint8_t> buf,
                                       int64_t offset) {
  if (!host_file_) {
    uint64_t start = static_cast<uint64_t>(offset);
    uint64_t end = start + buf.size();
    // Writes reaching past kPageStoreMaxEnd go to a memfd: shmem has edge
    // behaviour near the largest file offset (SEEK_DATA misses the very
    // last page, whose end overflows loff_t) that is simpler to inherit
    // than to model. (A self-backed file holding more than a little data
    // goes to a file on the store's disk instead: see EdgeHostFile.)
    if (end > kPageStoreMaxEnd) {
      VEIL_TRY(HostFileLocked(EdgeHostFileLocked()));
    } else if (stored_) {
      return stored_->Write(buf, start);
    } else {
      // Move to a memfd before the pages would pass the threshold, so a
      // big write never sits in process memory on its way there.
      uint64_t pages = data_.pages() + data_.PagesAdded(start, buf.size());
      if (pages * PageStore::kPageSize > tmpfs().memfd_threshold()) {
        VEIL_TRY(HostFileLocked(HostFile::kMemory));
      } else {
        data_.Write(buf, start);
        return buf.size();
      }
    }
  }
  HostIo io =
      PWriteFull(host_file_.get(), buf, static_cast<uint64_t>(offset));
  if (io.error != 0 && io.done == 0) return Errno(io.error);
  return io.done;
}

Result<int64_t> TmpfsInode::SeekDataHoleLocked(int64_t offset, int whence) {
  if (host_file_) {
    off_t r = lseek(host_file_.get(), offset, whence);
    if (r < 0) return Errno::FromErrno();
    return static_cast<int64_t>(r);
  }
  uint64_t pos = static_cast<uint64_t>(offset);
  if (stored_) {
    if (whence == SEEK_DATA)
      return static_cast<int64_t>(VEIL_TRY(stored_->SeekData(pos)));
    return static_cast<int64_t>(stored_->SeekHole(pos));
  }
  if (whence == SEEK_DATA)
    return static_cast<int64_t>(VEIL_TRY(data_.SeekData(pos)));
  return static_cast<int64_t>(data_.SeekHole(pos));
}

Result<void> TmpfsInode::AllocateLocked(int mode, int64_t offset,
                                        int64_t length) {
  // shmem_fallocate knows only these modes; a host file beside the store
  // (ext4, xfs) would accept more.
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
    return Errno(EOPNOTSUPP);
  uint64_t start = static_cast<uint64_t>(offset);
  uint64_t len = static_cast<uint64_t>(length);
  if (!host_file_ && stored_ && start + len <= kPageStoreMaxEnd) {
    if (mode & FALLOC_FL_PUNCH_HOLE) return stored_->PunchHole(start, len);
    return stored_->Allocate(start, len, mode & FALLOC_FL_KEEP_SIZE);
  }
  // Otherwise the data moves to a memfd, a host tmpfs file: its fallocate
  // is exactly shmem's (pages past EOF, errnos).
  int fd = VEIL_TRY(HostFileLocked(EdgeHostFileLocked()));
  if (fallocate(fd, mode, offset, length) != 0) return Errno::FromErrno();
  return Ok();
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
