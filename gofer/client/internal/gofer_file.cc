// SPDX-License-Identifier: Apache-2.0
//
// Open regular files of a GoferFs. Data never passes the filesystem
// mutex: reads use the host descriptor the server donated (the sentry's
// data plane, DESIGN.md) or PRead, writes use PWrite, both in chunks of the
// client's max_io_size(); afterwards the inode's attributes are marked
// stale (size, blocks, times moved on the host). The filesystem mutex is
// taken only briefly around the data, for the cached attributes: after a
// read of a file not yet stale (relatime), before a write by a caller
// without CAP_FSETID (set-id removal), for an O_APPEND write's end and a
// SEEK_END's size. Writes of one file are serialised by its write mutex
// (Linux i_rwsem), taken before the filesystem mutex.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/host_io.h"
#include "gofer/client/internal/gofer_inode.h"

namespace veil::gofer::client::internal {

namespace {

class GoferFile final : public vfs::FileImpl {
 public:
  // `read` and `write` are the inode's handles this open uses (null when
  // the open does not read, or write); held until the file closes, so the
  // handle cache never releases them under us.
  GoferFile(Ref<GoferInode> inode, int flags,
            std::shared_ptr<const Handle> read,
            std::shared_ptr<const Handle> write,
            std::shared_ptr<const Handle> seek)
      : inode_(std::move(inode)),
        flags_(flags),
        read_(std::move(read)),
        write_(std::move(write)),
        seek_(std::move(seek)),
        read_fd_(read_ ? read_->fd : lisafs::kNoFdId),
        read_host_(read_ ? read_->host.get() : -1),
        write_fd_(write_ ? write_->fd : lisafs::kNoFdId) {}
  ~GoferFile() override {
    // Our handles may be idle now: the cache's bound applies to them.
    read_.reset();
    write_.reset();
    seek_.reset();
    inode_->gofer().handles().Trim();
  }

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    // Even an empty read reaches the host: shmem's read marks the file
    // accessed whatever it returns, and so must ours.
    Result<size_t> n =
        read_host_ >= 0 ? ReadHost(buf, offset) : ReadRemote(buf, offset);
    // Already stale (after a write, say): the next stat asks the server
    // anyway, and the filesystem mutex is not needed to know it.
    if (!inode_->stale()) {
      MutexLock lock(inode_->fs().mutex());
      inode_->NoteAccessLocked();
    }
    return n;
  }

  Result<size_t> PWrite(const vfs::Credentials& creds,
                        std::span<const uint8_t> buf, int64_t* offset,
                        vfs::WriteAt at) override {
    MutexLock write_lock(inode_->write_mutex());
    if (at == vfs::WriteAt::kEnd) {
      // The end of the file as the server knows it; no other write through
      // us can move it while we hold the write mutex.
      auto st = VEIL_TRY(
          inode_->client().Call(lisafs::FStatReq{inode_->control_fd()}));
      MutexLock lock(inode_->fs().mutex());
      VEIL_TRY_VOID(inode_->UpdateStatLocked(st.message.stat));
      *offset = static_cast<int64_t>(st.message.stat.size);
    }
    if (buf.empty()) return size_t{0};
    // file_remove_privs comes before the data (generic_file_write_iter);
    // a caller with CAP_FSETID removes nothing and needs no lock for it.
    if (!creds.HasCap(vfs::Capability::kFsetid)) {
      MutexLock lock(inode_->fs().mutex());
      VEIL_TRY_VOID(inode_->RemovePrivsLocked(creds));
    }
    const size_t chunk = inode_->client().max_io_size();
    size_t done = 0;
    while (done < buf.size()) {
      lisafs::PWriteReq req;
      req.fd = write_fd_;
      req.offset = static_cast<uint64_t>(*offset) + done;
      const size_t n = std::min(chunk, buf.size() - done);
      req.data.assign(buf.begin() + static_cast<ptrdiff_t>(done),
                      buf.begin() + static_cast<ptrdiff_t>(done + n));
      auto reply = inode_->client().Call(req);
      if (!reply) {
        if (done > 0) break;  // a short write, as Linux reports it
        inode_->MarkStale();
        return reply.error();
      }
      // The lisafs client checked count <= n; 0 would loop forever.
      if (reply->message.count == 0) break;
      done += reply->message.count;
    }
    inode_->MarkStale();
    if (done == 0) return Errno(EIO);
    *offset += static_cast<int64_t>(done);
    if (flags_ & (O_SYNC | O_DSYNC)) VEIL_TRY_VOID(Sync());
    return done;
  }

  Result<int64_t> Seek(int64_t offset, int whence, int64_t current) override {
    switch (whence) {
      case SEEK_SET:
        break;
      case SEEK_CUR:
        if (__builtin_add_overflow(offset, current, &offset))
          return Errno(EINVAL);
        break;
      case SEEK_END: {
        int64_t size = VEIL_TRY(Size());
        // Linux adds with wrap-around and then rejects the negative sum.
        if (__builtin_add_overflow(offset, size, &offset)) return Errno(EINVAL);
        break;
      }
      case SEEK_DATA:
      case SEEK_HOLE:
        return SeekData(offset, whence);
      default:
        return Errno(EINVAL);
    }
    if (offset < 0) return Errno(EINVAL);
    return offset;
  }

  Result<void> Allocate(const vfs::Credentials& creds, int mode, int64_t offset,
                        int64_t length) override {
    // Modes LISAFS cannot carry are ones tmpfs does not have either.
    if (static_cast<uint64_t>(mode) & ~lisafs::kFallocateModes)
      return Errno(EOPNOTSUPP);
    MutexLock write_lock(inode_->write_mutex());
    lisafs::FAllocateReq req;
    req.fd = write_fd_;
    req.mode = static_cast<uint64_t>(mode);
    req.offset = static_cast<uint64_t>(offset);
    req.length = static_cast<uint64_t>(length);
    auto reply = inode_->client().Call(req);
    inode_->MarkStale();
    if (!reply) return reply.error();
    // shmem_fallocate: file_modified() after a successful change.
    MutexLock lock(inode_->fs().mutex());
    return inode_->RemovePrivsLocked(creds);
  }

  Result<void> Sync() override {
    lisafs::FdId fd = write_fd_ != lisafs::kNoFdId ? write_fd_ : read_fd_;
    if (fd == lisafs::kNoFdId) return Ok();
    VEIL_TRY(inode_->client().Call(lisafs::FSyncReq{{fd}}));
    return Ok();
  }

  Result<vfs::HostMemory> GetHostMemory() override {
    // A writing open's host file is the one the server donated with the
    // write handle (only a server that donates writable files does);
    // else the read-only donated descriptor.
    if (write_fd_ != lisafs::kNoFdId) {
      if (!write_->host) return Errno(ENODEV);
      return vfs::HostMemory{write_->host.get(), 0};
    }
    if (read_host_ < 0) return Errno(ENODEV);
    return vfs::HostMemory{read_host_, 0};
  }

 private:
  Result<size_t> ReadHost(std::span<uint8_t> buf, int64_t offset) {
    // A read of nothing still reaches the host: shmem_file_read_iter marks
    // the file accessed (relatime) whatever the count.
    if (buf.empty()) {
      while (pread(read_host_, nullptr, 0, offset) < 0) {
        if (errno != EINTR) return Errno::FromErrno();
      }
      return size_t{0};
    }
    HostIo io = PReadFull(read_host_, buf, static_cast<uint64_t>(offset));
    if (io.error != 0 && io.done == 0) return Errno(io.error);
    return io.done;
  }

  Result<size_t> ReadRemote(std::span<uint8_t> buf, int64_t offset) {
    if (read_fd_ == lisafs::kNoFdId) return Errno(EBADF);
    const size_t chunk = inode_->client().max_io_size();
    size_t done = 0;
    do {
      const size_t want = std::min(chunk, buf.size() - done);
      lisafs::PReadReq req{read_fd_, static_cast<uint64_t>(offset) + done,
                           static_cast<uint32_t>(want)};
      auto reply = inode_->client().Call(req);
      if (!reply) {
        if (done > 0) break;
        return reply.error();
      }
      const std::vector<uint8_t>& data = reply->message.data;
      if (!data.empty())
        std::memcpy(buf.data() + done, data.data(), data.size());
      done += data.size();
      // Short means the end of the file: the server sends as much as a
      // reply can carry, and our chunks are no larger than that.
      if (data.size() < want) break;
    } while (done < buf.size());
    return done;
  }

  Result<int64_t> Size() {
    MutexLock lock(inode_->fs().mutex());
    VEIL_TRY_VOID(inode_->RefreshLocked());
    return static_cast<int64_t>(inode_->stat_locked().size());
  }

  // SEEK_DATA/SEEK_HOLE: the host's own answer, through a donated
  // descriptor (shmem_file_llseek knows the holes) or else from the gofer
  // on an open FDID (a write-only open has no donated descriptor, and an
  // unlinked file cannot be opened again for one).
  Result<int64_t> SeekData(int64_t offset, int whence) {
    if (offset < 0) return Errno(ENXIO);
    std::shared_ptr<const Handle> spare;
    if (read_ == nullptr && write_ == nullptr && seek_ == nullptr) {
      // Opened for neither (access mode 3) without a handle taken at the
      // open: the inode's read handle, if the file can still be opened.
      MutexLock lock(inode_->fs().mutex());
      Result<std::shared_ptr<const Handle>> h =
          inode_->EnsureHandleLocked(HandleKind::kRead);
      if (h) spare = std::move(*h);
    }
    for (const std::shared_ptr<const Handle>& h :
         {read_, write_, seek_, spare}) {
      if (h == nullptr) continue;
      if (h->host.valid()) {
        off_t r = lseek(h->host.get(), offset, whence);
        if (r < 0) return Errno::FromErrno();
        return static_cast<int64_t>(r);
      }
      auto reply = inode_->client().Call(lisafs::SeekDataReq{
          h->fd, static_cast<uint64_t>(offset), static_cast<uint32_t>(whence)});
      if (reply) return static_cast<int64_t>(reply->message.offset);
      if (reply.error().code() != EOPNOTSUPP) return reply.error();
      break;
    }
    // No handle, or a server without SeekData: the generic answer (the
    // whole file is data).
    int64_t size = VEIL_TRY(Size());
    if (offset >= size) return Errno(ENXIO);
    return whence == SEEK_DATA ? offset : size;
  }

  const Ref<GoferInode> inode_;
  const int flags_;
  std::shared_ptr<const Handle> read_;   // reset only by the destructor
  std::shared_ptr<const Handle> write_;  // reset only by the destructor
  // Access mode 3 (neither read nor write): a read handle taken at the
  // open, for SEEK_DATA/SEEK_HOLE only (the file may be unlinked by the
  // time they come), or null. Never used for data.
  std::shared_ptr<const Handle> seek_;
  const lisafs::FdId read_fd_;
  const int read_host_;  // borrowed from read_
  const lisafs::FdId write_fd_;
};

}  // namespace

Result<std::unique_ptr<vfs::FileImpl>> GoferInode::OpenFileLocked(int flags) {
  const int acc = flags & O_ACCMODE;
  std::shared_ptr<const Handle> read;
  std::shared_ptr<const Handle> write;
  if (acc == O_RDONLY || acc == O_RDWR)
    read = VEIL_TRY(EnsureHandleLocked(HandleKind::kRead));
  if (acc == O_WRONLY || acc == O_RDWR)
    write = VEIL_TRY(EnsureHandleLocked(HandleKind::kReadWrite));
  std::shared_ptr<const Handle> seek;
  if (acc == O_ACCMODE) {
    // may_open checked read and write permission; a file the gofer cannot
    // open still opens, and its holes are then guessed (SeekData).
    Result<std::shared_ptr<const Handle>> h =
        EnsureHandleLocked(HandleKind::kRead);
    if (h) seek = std::move(*h);
  }
  return std::unique_ptr<vfs::FileImpl>(
      new GoferFile(Ref<GoferInode>(*this), flags, std::move(read),
                    std::move(write), std::move(seek)));
}

}  // namespace veil::gofer::client::internal
