// SPDX-License-Identifier: Apache-2.0
//
// FIFOs on a GoferFs (Linux fs/pipe.c fifo_open). The gofer serves the
// name; the pipe is the sentry's own, one host pipe per FIFO inode while
// anyone has it open, exactly as vfs/tmpfs does it: a sandbox's FIFO
// never connects to a host process.
//
// NOTE: the VFS never blocks. Where Linux would sleep (a blocking open
// without a peer, a read of an empty pipe with writers, a write to a full
// pipe) this answers EAGAIN, as tmpfs does. TODO(#2): an explicit "would
// block" result for the sentry's event loop.
// NOTE: a read does not move the FIFO's atime: the only way to set it on
// the server (SetStat) would move its ctime too, which Linux does not.
#include <fcntl.h>
#include <unistd.h>

#include <mutex>

#include "gofer/client/internal/gofer_inode.h"

namespace veil::gofer::client::internal {

namespace {

class FifoFile final : public vfs::FileImpl {
 public:
  FifoFile(Ref<GoferInode> inode, bool reads, bool writes)
      : inode_(std::move(inode)), reads_(reads), writes_(writes) {}

  ~FifoFile() override {
    std::lock_guard lock(inode_->fs().mutex());
    FifoState& st = inode_->FifoLocked();
    if (reads_) --st.readers;
    if (writes_) --st.writers;
    if (st.readers == 0 && st.writers == 0) {
      // pipe_release: the last close frees the buffer.
      st.read_end.reset();
      st.write_end.reset();
    }
  }

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t) override {
    std::lock_guard lock(inode_->fs().mutex());
    FifoState& st = inode_->FifoLocked();
    if (buf.empty()) return size_t{0};
    ssize_t n = read(st.read_end.get(), buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN && st.writers == 0) return size_t{0};  // EOF
    return Errno::FromErrno();
  }

  Result<size_t> PWrite(const vfs::Credentials&, std::span<const uint8_t> buf,
                        int64_t*, bool) override {
    std::lock_guard lock(inode_->fs().mutex());
    FifoState& st = inode_->FifoLocked();
    // pipe_write: no reader left is EPIPE (the sentry raises SIGPIPE).
    if (st.readers == 0) return Errno(EPIPE);
    if (buf.empty()) return size_t{0};
    ssize_t n = write(st.write_end.get(), buf.data(), buf.size());
    if (n < 0) return Errno::FromErrno();
    if (n > 0) {
      // pipe_write: file_update_time, which the server's utimensat does
      // exactly (mtime and ctime now). A failure to stamp does not undo
      // the write.
      lisafs::SetStatReq req;
      req.fd = inode_->control_fd();
      req.mask = lisafs::kSetStatMtime | lisafs::kSetStatMtimeNow;
      (void)inode_->client().Call(req);
      inode_->MarkStale();
    }
    return static_cast<size_t>(n);
  }

  // Pipes cannot seek, nor read or write at a position.
  Result<int64_t> Seek(int64_t, int, int64_t) override { return Errno(ESPIPE); }
  bool Positional() const override { return false; }

 private:
  const Ref<GoferInode> inode_;
  const bool reads_;
  const bool writes_;
};

}  // namespace

FifoState& GoferInode::FifoLocked() {
  if (!fifo_) fifo_ = std::make_unique<FifoState>();
  return *fifo_;
}

Result<std::unique_ptr<vfs::FileImpl>> GoferInode::OpenFifoLocked(int flags) {
  FifoState& st = FifoLocked();
  int acc = flags & O_ACCMODE;
  // fifo_open: O_ACCMODE (3) opens for neither reading nor writing: EINVAL.
  if (acc == O_ACCMODE) return Errno(EINVAL);
  bool reads = acc == O_RDONLY || acc == O_RDWR;
  bool writes = acc == O_WRONLY || acc == O_RDWR;
  // fifo_open: a non-blocking writer without readers is ENXIO.
  if (writes && !reads && st.readers == 0) return Errno(ENXIO);
  if (!st.read_end) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return Errno::FromErrno();
    st.read_end.reset(fds[0]);
    st.write_end.reset(fds[1]);
  }
  if (reads) ++st.readers;
  if (writes) ++st.writers;
  return std::unique_ptr<vfs::FileImpl>(
      new FifoFile(Ref<GoferInode>(*this), reads, writes));
}

}  // namespace veil::gofer::client::internal
