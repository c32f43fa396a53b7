// SPDX-License-Identifier: Apache-2.0
//
// FIFO files over a host pipe (fs/pipe.c fifo_open, pipe_read, pipe_write,
// pipe_poll, pipe_release).
#include "vfs/fifo.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>


namespace veil::vfs {
namespace {

enum class Access : uint8_t { kRead = 1, kWrite = 2, kReadWrite = 3 };

bool Reads(Access a) { return static_cast<int>(a) & 1; }
bool Writes(Access a) { return static_cast<int>(a) & 2; }

// The host pipe's readiness for `events` (POLLIN or POLLOUT) right now.
bool HostReady(const UniqueFd& fd, short events) {
  pollfd p = {fd.get(), events, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & events);
}

}  // namespace

class FifoFile final : public FileImpl {
 public:
  // Which peer counter a blocking open waits on (wait_for_partner).
  enum class Await : uint8_t { kNone, kWriter, kReader };

  FifoFile(Inode& inode, FifoPipe& pipe, Access access)
      : inode_(inode), pipe_(pipe), access_(access) {}

  ~FifoFile() override {
    MutexLock lock(inode_->fs().mutex());
    // pipe_release (and fifo_open's err_rd/err_wr for an open that gave
    // up): the last reader wakes writers (EPIPE), the last writer wakes
    // readers (end of file).
    EventMask wake = 0;
    if (Reads(access_) && --pipe_.readers_ == 0) wake |= kEventErr | kEventOut;
    if (Writes(access_) && --pipe_.writers_ == 0) wake |= kEventHup | kEventIn;
    if (pipe_.readers_ == 0 && pipe_.writers_ == 0) {
      // pipe_release: the last close frees the buffer.
      pipe_.read_end_.reset();
      pipe_.write_end_.reset();
    }
    if (wake) pipe_.queue_.Notify(wake);
  }

  // Set up by OpenFifoLocked, under the filesystem mutex.
  void AwaitLocked(Await await, uint64_t from) {
    await_ = await;
    await_from_ = from;
  }
  void SetSeenWriterLocked(uint64_t w_counter) { seen_writer_ = w_counter; }

  Result<void> CompleteOpen() override {
    MutexLock lock(inode_->fs().mutex());
    // wait_for_partner: done once the peer's counter moved since we
    // opened, even if that peer has closed again.
    const uint64_t now =
        await_ == Await::kWriter ? pipe_.w_counter_ : pipe_.r_counter_;
    if (await_ != Await::kNone && now == await_from_) return kWouldBlock;
    await_ = Await::kNone;
    return Ok();
  }

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t) override {
    MutexLock lock(inode_->fs().mutex());
    if (buf.empty()) return size_t{0};
    ssize_t n = read(pipe_.read_end_.get(), buf.data(), buf.size());
    if (n > 0) {
      inode_->TouchAtimeLocked();  // pipe_read: file_accessed
      pipe_.queue_.Notify(kEventOut);  // pipe_read: wake_up(wr_wait)
    }
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EAGAIN) return Errno::FromErrno();
    // pipe_read: an empty pipe without writers is end of file; with
    // writers the reader sleeps (EAGAIN under O_NONBLOCK).
    if (pipe_.writers_ == 0) return size_t{0};
    return kWouldBlock;
  }

  Result<size_t> PWrite(const Credentials&, std::span<const uint8_t> buf,
                        int64_t*, WriteAt) override {
    MutexLock lock(inode_->fs().mutex());
    // pipe_write: no reader left is EPIPE (the sentry raises SIGPIPE).
    if (pipe_.readers_ == 0) return Errno(EPIPE);
    if (buf.empty()) return size_t{0};
    // The host pipe is non-blocking: up to PIPE_BUF bytes go in whole or
    // not at all (EAGAIN), more may go in part, as pipe_write does.
    ssize_t n = write(pipe_.write_end_.get(), buf.data(), buf.size());
    if (n < 0) {
      // pipe_write: a full pipe puts the writer to sleep (EAGAIN under
      // O_NONBLOCK).
      if (errno == EAGAIN) return kWouldBlock;
      return Errno::FromErrno();
    }
    if (n > 0) {
      inode_->StampModifiedLocked();  // pipe_write: file_update_time
      pipe_.queue_.Notify(kEventIn);  // pipe_write: wake_up(rd_wait)
    }
    return static_cast<size_t>(n);
  }

  EventMask Readiness(EventMask mask) override {
    MutexLock lock(inode_->fs().mutex());
    // pipe_poll.
    EventMask ready = 0;
    if (Reads(access_)) {
      if (HostReady(pipe_.read_end_, POLLIN)) ready |= kEventIn;
      // No HUP before a writer was ever seen: a non-blocking reader that
      // opened alone must not see its empty FIFO as hung up (f_version).
      if (pipe_.writers_ == 0 && seen_writer_ != pipe_.w_counter_)
        ready |= kEventHup;
    }
    if (Writes(access_)) {
      if (HostReady(pipe_.write_end_, POLLOUT)) ready |= kEventOut;
      if (pipe_.readers_ == 0) ready |= kEventErr;
    }
    return ready & (mask | kEventErr | kEventHup);
  }

  WaitSource WaitSourceFor(EventMask mask) override {
    MutexLock lock(inode_->fs().mutex());
    // The host pipe lives while this file is counted, so its fds stay
    // valid as long as the description (see HostPoll).
    WaitSource source;
    source.queue = &pipe_.queue_;
    int i = 0;
    if (Reads(access_) && (mask & kEventIn))
      source.host[i++] = {pipe_.read_end_.get(), POLLIN};
    if (Writes(access_) && (mask & kEventOut))
      source.host[i++] = {pipe_.write_end_.get(), POLLOUT};
    return source;
  }

  // Pipes cannot seek, nor read or write at a position.
  Result<int64_t> Seek(int64_t, int, int64_t) override { return Errno(ESPIPE); }
  bool Positional() const override { return false; }
  // pipe_fasync: O_ASYNC takes on a FIFO.
  bool HasFasync() const override { return true; }

 private:
  const Ref<Inode> inode_;
  FifoPipe& pipe_;  // owned by *inode_, which we hold
  const Access access_;
  // Guarded by the filesystem mutex.
  Await await_ = Await::kNone;
  uint64_t await_from_ = 0;  // the awaited counter when we opened
  // w_counter when a non-blocking reader opened alone (Linux f_version);
  // 0 otherwise, which no w_counter equals once a writer has opened.
  uint64_t seen_writer_ = 0;
};

Result<std::unique_ptr<FileImpl>> OpenFifoLocked(Inode& inode, FifoPipe& pipe,
                                                 int flags, FifoKind kind) {
  // fifo_open's is_pipe: a pipe's own inode (opened again through
  // /proc/PID/fd) never waits for a partner and is never ENXIO.
  const bool is_pipe = kind == FifoKind::kPipe;
  int acc = flags & O_ACCMODE;
  // fifo_open: O_ACCMODE (3) opens for neither reading nor writing.
  if (acc == O_ACCMODE) return Errno(EINVAL);
  const Access access = acc == O_RDONLY   ? Access::kRead
                        : acc == O_WRONLY ? Access::kWrite
                                          : Access::kReadWrite;
  const bool nonblock = flags & O_NONBLOCK;
  // fifo_open: a non-blocking writer without readers is ENXIO.
  if (!is_pipe && access == Access::kWrite && nonblock && pipe.readers_ == 0)
    return Errno(ENXIO);
  if (!pipe.read_end_) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return Errno::FromErrno();
    pipe.read_end_.reset(fds[0]);
    pipe.write_end_.reset(fds[1]);
  }
  auto file = std::make_unique<FifoFile>(inode, pipe, access);
  // fifo_open counts the opener before it waits; from here the file's
  // destructor un-counts it, on every path.
  EventMask wake = 0;
  if (Reads(access)) {
    ++pipe.r_counter_;
    if (pipe.readers_++ == 0) wake |= kEventPeerOpened;  // wake_up_partner
  }
  if (Writes(access)) {
    ++pipe.w_counter_;
    if (pipe.writers_++ == 0) wake |= kEventPeerOpened;
  }
  if (!is_pipe && access == Access::kRead && pipe.writers_ == 0) {
    if (nonblock) {
      file->SetSeenWriterLocked(pipe.w_counter_);  // suppress HUP until then
    } else {
      file->AwaitLocked(FifoFile::Await::kWriter, pipe.w_counter_);
    }
  }
  if (!is_pipe && access == Access::kWrite && pipe.readers_ == 0)
    file->AwaitLocked(FifoFile::Await::kReader, pipe.r_counter_);
  if (wake) pipe.queue_.Notify(wake);
  return std::unique_ptr<FileImpl>(std::move(file));
}

}  // namespace veil::vfs
