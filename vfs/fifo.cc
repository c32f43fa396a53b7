// SPDX-License-Identifier: Apache-2.0
#include "vfs/fifo.h"

#include <fcntl.h>
#include <unistd.h>


namespace veil::vfs {

class FifoFile final : public FileImpl {
 public:
  FifoFile(Inode& inode, FifoPipe& pipe, bool reads, bool writes)
      : inode_(inode), pipe_(pipe), reads_(reads), writes_(writes) {}

  ~FifoFile() override {
    MutexLock lock(inode_->fs().mutex());
    if (reads_) --pipe_.readers_;
    if (writes_) --pipe_.writers_;
    if (pipe_.readers_ == 0 && pipe_.writers_ == 0) {
      // pipe_release: the last close frees the buffer.
      pipe_.read_end_.reset();
      pipe_.write_end_.reset();
    }
  }

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t) override {
    MutexLock lock(inode_->fs().mutex());
    if (buf.empty()) return size_t{0};
    ssize_t n = read(pipe_.read_end_.get(), buf.data(), buf.size());
    if (n > 0) inode_->TouchAtimeLocked();  // pipe_read: file_accessed
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN && pipe_.writers_ == 0) return size_t{0};  // EOF
    return Errno::FromErrno();
  }

  Result<size_t> PWrite(const Credentials&, std::span<const uint8_t> buf,
                        int64_t*, bool) override {
    MutexLock lock(inode_->fs().mutex());
    // pipe_write: no reader left is EPIPE (the sentry raises SIGPIPE).
    if (pipe_.readers_ == 0) return Errno(EPIPE);
    if (buf.empty()) return size_t{0};
    ssize_t n = write(pipe_.write_end_.get(), buf.data(), buf.size());
    if (n < 0) return Errno::FromErrno();
    if (n > 0) inode_->StampModifiedLocked();  // pipe_write: file_update_time
    return static_cast<size_t>(n);
  }

  // Pipes cannot seek, nor read or write at a position.
  Result<int64_t> Seek(int64_t, int, int64_t) override { return Errno(ESPIPE); }
  bool Positional() const override { return false; }
  // pipe_fasync: O_ASYNC takes on a FIFO.
  bool HasFasync() const override { return true; }

 private:
  const Ref<Inode> inode_;
  FifoPipe& pipe_;  // owned by *inode_, which we hold
  const bool reads_;
  const bool writes_;
};

Result<std::unique_ptr<FileImpl>> OpenFifoLocked(Inode& inode, FifoPipe& pipe,
                                                 int flags) {
  int acc = flags & O_ACCMODE;
  // fifo_open: O_ACCMODE (3) opens for neither reading nor writing.
  if (acc == O_ACCMODE) return Errno(EINVAL);
  bool reads = acc == O_RDONLY || acc == O_RDWR;
  bool writes = acc == O_WRONLY || acc == O_RDWR;
  // fifo_open: a non-blocking writer without readers is ENXIO.
  if (writes && !reads && pipe.readers_ == 0) return Errno(ENXIO);
  if (!pipe.read_end_) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return Errno::FromErrno();
    pipe.read_end_.reset(fds[0]);
    pipe.write_end_.reset(fds[1]);
  }
  if (reads) ++pipe.readers_;
  if (writes) ++pipe.writers_;
  return std::unique_ptr<FileImpl>(new FifoFile(inode, pipe, reads, writes));
}

}  // namespace veil::vfs
