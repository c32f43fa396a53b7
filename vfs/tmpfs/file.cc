// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs open files and file data: regular files over a PageStore, a
// FileStore's pages or a host file of their own, directories over the entry map (mm/shmem.c shmem_file_operations,
// fs/libfs.c offset_dir_operations).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include <sys/stat.h>

#include "base/host_io.h"
#include "vfs/tmpfs/inode.h"

namespace veil::vfs::tmpfs {
namespace {

class RegularFile final : public FileImpl {
 public:
  // O_NOATIME: reads leave atime alone (file_accessed). F_SETFL may
  // change it later, so reads ask the description. Every call goes to the
  // inode's data lock, never the filesystem mutex (inode.h).
  RegularFile(Ref<TmpfsInode> inode, int flags)
      : inode_(std::move(inode)), open_flags_(flags) {}

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    return inode_->Read(buf, offset,
                        (StatusFlags(open_flags_) & O_NOATIME)
                            ? TmpfsInode::Atime::kLeave
                            : TmpfsInode::Atime::kTouch);
  }

  Result<size_t> PWrite(const Credentials& creds, std::span<const uint8_t> buf,
                        int64_t* offset, WriteAt at) override {
    return inode_->Write(creds, buf, offset, at);
  }

  Result<int64_t> Seek(int64_t offset, int whence, int64_t current) override {
    return inode_->Seek(offset, whence, current);
  }

  Result<void> Allocate(const Credentials& creds, int mode, int64_t offset,
                        int64_t length) override {
    return inode_->Allocate(creds, mode, offset, length);
  }

  // The sentry maps or installs the fd: the data moves to a host file of
  // its own (on disk beside a self-backed tmpfs's store) while this
  // description is open, or for good once mapped (inode.h BeginHostUse).
  Result<HostMemory> GetHostMemory() override {
    if (!using_host_.exchange(true)) {
      Result<int> fd = inode_->BeginHostUse();
      if (!fd) {
        using_host_ = false;
        return fd.error();
      }
      return HostMemory{*fd, 0};
    }
    int fd = VEIL_TRY(inode_->MappableFd());
    return HostMemory{fd, 0};
  }
  void NoteMapped() override { inode_->NoteMapped(); }
  ~RegularFile() override {
    if (using_host_) inode_->EndHostUse();
  }

  // shmem_file_open (Linux 6.6+): regular files take O_DIRECT.
  bool CanDirectIo() const override { return true; }

 private:
  const Ref<TmpfsInode> inode_;
  const int open_flags_;
  std::atomic<bool> using_host_{false};  // BeginHostUse done
};

class Directory final : public FileImpl {
 public:
  explicit Directory(Ref<TmpfsInode> inode) : inode_(std::move(inode)) {}

  // Linux generic_read_dir.
  Result<size_t> PRead(std::span<uint8_t>, int64_t) override {
    return Errno(EISDIR);
  }
  Result<size_t> PWrite(const Credentials&, std::span<const uint8_t>,
                        int64_t*, WriteAt) override {
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

// --- Regular file data: the entry points (no lock held on entry) ---------

Result<size_t> TmpfsInode::Read(std::span<uint8_t> buf, int64_t offset,
                                Atime atime) {
  size_t done;
  {
    ReaderMutexLock data(data_mu_);
    SyncHostTimes(HostTimesFrom::kTasks);
    done = VEIL_TRY(ReadDataLocked(buf, offset));
    SyncHostTimes(HostTimesFrom::kVeil);  // our pread stamped its atime
  }
  if (atime == Atime::kTouch) TouchAtime();
  return done;
}

Result<size_t> TmpfsInode::Write(const Credentials& creds,
                                 std::span<const uint8_t> buf, int64_t* offset,
                                 WriteAt at) {
  WriterMutexLock data(data_mu_);
  SyncHostTimes(HostTimesFrom::kTasks);
  if (at == WriteAt::kEnd) *offset = static_cast<int64_t>(SizeDataLocked());
  if (buf.empty()) return size_t{0};
  Result<size_t> done = WriteDataLocked(buf, *offset);
  if (!done) {
    PublishDataLocked(nullptr, {});  // a failed move may have changed blocks
    return done.error();
  }
  *offset += static_cast<int64_t>(*done);
  PublishDataLocked(&creds, Now());
  return *done;
}

Result<int64_t> TmpfsInode::Seek(int64_t offset, int whence, int64_t current) {
  switch (whence) {
    case SEEK_SET:
      break;
    // A sum past INT64_MAX is EINVAL (vfs_setpos), never overflow.
    case SEEK_CUR:
      if (__builtin_add_overflow(offset, current, &offset))
        return Errno(EINVAL);
      break;
    case SEEK_END: {
      // generic_file_llseek reads i_size without the inode lock: so do we.
      int64_t size = static_cast<int64_t>(PublishedSize());
      if (__builtin_add_overflow(offset, size, &offset)) return Errno(EINVAL);
      break;
    }
    case SEEK_DATA:
    case SEEK_HOLE: {
      // shmem_file_llseek, under the inode lock: negative or past-EOF
      // offsets are ENXIO.
      ReaderMutexLock data(data_mu_);
      if (offset < 0 || static_cast<uint64_t>(offset) >= SizeDataLocked())
        return Errno(ENXIO);
      return SeekHolesDataLocked(offset, whence);
    }
    default:
      return Errno(EINVAL);
  }
  if (offset < 0) return Errno(EINVAL);
  return offset;
}

Result<void> TmpfsInode::Allocate(const Credentials& creds, int mode,
                                  int64_t offset, int64_t length) {
  WriterMutexLock data(data_mu_);
  SyncHostTimes(HostTimesFrom::kTasks);
  if (Result<void> r = AllocateDataLocked(mode, offset, length); !r) {
    PublishDataLocked(nullptr, {});
    return r;
  }
  PublishDataLocked(&creds, Now());
  return Ok();
}

Result<int> TmpfsInode::MappableFd() {
  WriterMutexLock data(data_mu_);
  return HostFileDataLocked(HostFile::kBacking);
}



Result<void> TmpfsInode::TruncateData(uint64_t size, timespec now) {
  WriterMutexLock data(data_mu_);
  SyncHostTimes(HostTimesFrom::kTasks);
  const uint64_t old_size = SizeDataLocked();
  const bool has_pages = BlocksDataLocked() > 0;
  // Without a page store (threshold 0) a size change makes the memfd, as
  // it always did.
  if (!host_file_ && !stored_ && tmpfs().memfd_threshold() == 0 &&
      size != old_size)
    VEIL_TRY(HostFileDataLocked(HostFile::kMemory));
  if (host_file_) {
    // shmem_setattr truncates past the new size even when the size stays
    // (dropping blocks fallocate(KEEP_SIZE) put beyond EOF): so does the
    // memfd's ftruncate.
    if (ftruncate(host_file_.get(), static_cast<off_t>(size)) != 0)
      return Errno::FromErrno();
  } else if (stored_) {
    // ftruncate's negative length.
    if (size > uint64_t{INT64_MAX}) return Errno(EINVAL);
    VEIL_TRY_VOID(stored_->Truncate(size));
  } else {
    // ftruncate's negative length. (The page store never has pages past
    // EOF: only fallocate puts them there, and it makes the memfd.)
    if (size > uint64_t{INT64_MAX}) return Errno(EINVAL);
    data_.Truncate(size);
  }
  PublishDataLocked(nullptr, now);
  // A size change stamps mtime and ctime; so does shmem_truncate_range,
  // which runs for any shrink-or-same of a file that has pages.
  if (size != old_size || (size <= old_size && has_pages))
    StampMtimeCtime(now);
  return Ok();
}

// --- Under the data lock ----------------------------------------------------

uint64_t TmpfsInode::SizeDataLocked() {
  if (host_file_) {
    struct stat st;
    if (fstat(host_file_.get(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_size);
  }
  return stored_ ? stored_->size() : data_.size();
}

uint64_t TmpfsInode::BlocksDataLocked() {
  if (host_file_) {
    struct stat st;
    if (fstat(host_file_.get(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_blocks);
  }
  // 8 per page, as shmem counts.
  return (stored_ ? stored_->pages() : data_.pages()) *
         (PageStore::kPageSize / 512);
}

void TmpfsInode::PublishDataLocked(const Credentials* writer, timespec now) {
  SyncHostTimes(HostTimesFrom::kVeil);  // our change's stamps
  MutexLock meta(meta_mu_);
  if (!host_file_) {
    data_size_ = stored_ ? stored_->size() : data_.size();
    data_blocks_ = BlocksDataLocked();
  }
  if (!writer) return;
  // file_update_time and file_remove_privs, judged against the mode as it
  // is now.
  mtime_ = now;
  ctime_ = now;
  mode_ &= ~SetIdBitsClearedByWrite(*writer, mode_, gid_);
  AtimeChangedMetaLocked();
}

Result<int> TmpfsInode::HostFileDataLocked(HostFile kind) {
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
    host_pinned_ = true;  // BeginHostUse says otherwise for its own
    SyncHostTimes(HostTimesFrom::kVeil);  // the copy's stamps are not ours
    // From now on stat asks the host file (the published size and blocks
    // were those of the data it now holds).
    MutexLock meta(meta_mu_);
    host_fd_ = host_file_.get();
  }
  return host_file_.get();
}

TmpfsInode::HostFile TmpfsInode::EdgeHostFileDataLocked() const {
  // A self-backed file with more data than the memfd threshold would
  // bring it all into memory, which is what self-backing is for avoiding:
  // it goes beside the store, and inherits that filesystem's limits near
  // the largest offsets (ext4: EFBIG past 16 TiB) instead of shmem's.
  if (stored_ &&
      stored_->pages() * StorePages::kPageSize > tmpfs().memfd_threshold())
    return HostFile::kBacking;
  return HostFile::kMemory;
}

Result<size_t> TmpfsInode::ReadDataLocked(std::span<uint8_t> buf,
                                          int64_t offset) {
  if (!host_file_) {
    if (stored_) return stored_->Read(buf, static_cast<uint64_t>(offset));
    return data_.Read(buf, static_cast<uint64_t>(offset));
  }
  HostIo io = PReadFull(host_file_.get(), buf, static_cast<uint64_t>(offset));
  if (io.error != 0 && io.done == 0) return Errno(io.error);
  return io.done;
}

Result<size_t> TmpfsInode::WriteDataLocked(std::span<const uint8_t> buf,
                                           int64_t offset) {
  if (!host_file_) {
    uint64_t start = static_cast<uint64_t>(offset);
    uint64_t end = start + buf.size();
    // Writes reaching past kPageStoreMaxEnd go to a memfd: shmem has edge
    // behaviour near the largest file offset (SEEK_DATA misses the very
    // last page, whose end overflows loff_t) that is simpler to inherit
    // than to model. (A self-backed file holding more than a little data
    // goes to a file on the store's disk instead: see
    // EdgeHostFileDataLocked.)
    if (end > kPageStoreMaxEnd) {
      VEIL_TRY(HostFileDataLocked(EdgeHostFileDataLocked()));
    } else if (stored_) {
      return stored_->Write(buf, start);
    } else {
      // Move to a memfd before the pages would pass the threshold, so a
      // big write never sits in process memory on its way there.
      uint64_t pages = data_.pages() + data_.PagesAdded(start, buf.size());
      if (pages * PageStore::kPageSize > tmpfs().memfd_threshold()) {
        VEIL_TRY(HostFileDataLocked(HostFile::kMemory));
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

Result<int64_t> TmpfsInode::SeekHolesDataLocked(int64_t offset, int whence) {
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

Result<void> TmpfsInode::AllocateDataLocked(int mode, int64_t offset,
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
  int fd = VEIL_TRY(HostFileDataLocked(EdgeHostFileDataLocked()));
  host_pinned_ = true;  // fallocated extents would not come back as such
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
