// SPDX-License-Identifier: Apache-2.0
//
// FIFOs for any filesystem (Linux fs/pipe.c fifo_open, pipe_read,
// pipe_write, pipe_poll, which are filesystem independent too: every FIFO
// inode gets an i_pipe). A filesystem keeps one FifoPipe per FIFO inode and
// opens it with OpenFifoLocked(); the data is a host pipe, made by the
// first open and freed by the last close, so the sentry can later hand its
// ends to tasks as their data plane.
//
// Blocking (vfs/wait.h): where Linux sleeps, a FIFO answers kWouldBlock to
// a caller without O_NONBLOCK and EAGAIN (or ENXIO) to one with it:
//  - open: a reader without O_NONBLOCK waits for a writer and a writer for
//    a reader; O_RDWR never waits; a non-blocking reader opens at once; a
//    non-blocking writer without readers is ENXIO. A waiting open is a
//    description that is counted as a reader or writer already (Linux
//    counts before wait_for_partner) but not complete:
//    FileDescription::CompleteOpen() answers kWouldBlock until the peer's
//    open counter moves (r_counter/w_counter: a peer that opened and closed
//    again in between still completes the open). Dropping the description
//    un-counts it, so an interrupted open leaves no phantom peer.
//  - read: an empty pipe with writers would block; without writers it is
//    end of file (0).
//  - write: no readers is EPIPE; a full pipe would block. Writes of at most
//    PIPE_BUF bytes are atomic (the host pipe's own rule); larger ones may
//    write part and report it.
// Events go to the pipe's WaitQueue: kEventPeerOpened when a reader or
// writer opens, kEventHup|kEventIn when the last writer closes,
// kEventErr|kEventOut when the last reader does, and kEventIn/kEventOut
// after the VFS's own writes and reads. Data that tasks move natively
// through the host pipe is seen only on the host fds, which
// FileImpl::WaitSourceFor names.
//
// NOTE: the VFS holds both ends of the host pipe while the FIFO is open,
// so the host never reports end of file or POLLHUP on them; the VFS does
// (pipe_read's "no writers", Readiness). A sentry that hands a task the
// host read end as its data plane must give it the hang-up itself.
//
// Thread-safety: a FifoPipe is guarded by its inode's filesystem mutex;
// its WaitQueue has its own (taken after it).
#pragma once

#include <cstdint>
#include <memory>

#include "base/result.h"
#include "base/unique_fd.h"
#include "vfs/file_description.h"
#include "vfs/inode.h"
#include "vfs/wait.h"

namespace veil::vfs {

// A named FIFO, or a pipe's own inode (pipe(2), opened again through
// /proc/PID/fd/N: fifo_open's is_pipe, which never waits for a partner).
enum class FifoKind : uint8_t { kFifo, kPipe };

class FifoPipe final {
 public:
  FifoPipe() = default;
  FifoPipe(const FifoPipe&) = delete;
  FifoPipe& operator=(const FifoPipe&) = delete;

  int readers_for_testing() const { return readers_; }
  int writers_for_testing() const { return writers_; }

 private:
  friend class FifoFile;
  friend Result<std::unique_ptr<FileImpl>> OpenFifoLocked(Inode&, FifoPipe&,
                                                          int, FifoKind);
  UniqueFd read_end_, write_end_;
  int readers_ = 0;
  int writers_ = 0;
  // Opens ever made for reading and for writing (Linux r_counter and
  // w_counter): a waiting open completes when its peer's counter moves.
  uint64_t r_counter_ = 0;
  uint64_t w_counter_ = 0;
  WaitQueue queue_;
};

// Opens FIFO `inode`, whose pipe state is `pipe` (owned by the inode, so it
// lives as long as the returned file, which holds the inode). Caller holds
// inode.fs().mutex(). Reads stamp atime (Inode::TouchAtimeLocked), writes
// mtime and ctime (Inode::StampModifiedLocked). Errors: EINVAL for
// O_ACCMODE (3); ENXIO for a non-blocking writer without readers. A
// blocking open without its peer returns a file whose CompleteOpen()
// answers kWouldBlock until the peer comes (see above).
Result<std::unique_ptr<FileImpl>> OpenFifoLocked(
    Inode& inode, FifoPipe& pipe, int flags, FifoKind kind = FifoKind::kFifo);

}  // namespace veil::vfs
