// SPDX-License-Identifier: Apache-2.0
//
// FIFOs for any filesystem (Linux fs/pipe.c fifo_open, which is filesystem
// independent too: every FIFO inode gets an i_pipe). A filesystem keeps one
// FifoPipe per FIFO inode and opens it with OpenFifoLocked(); the pipe is a
// host pipe while anyone has the FIFO open, so the sentry can later hand its
// ends to tasks as their data plane.
//
// NOTE: the VFS never blocks. Where Linux would sleep (a blocking open
// without a peer, a blocking read of an empty pipe with writers, a write to
// a full pipe) this answers EAGAIN; the sentry's event loop parks the task
// and retries. TODO(#2): an explicit "would block" result for that.
//
// Thread-safety: a FifoPipe is guarded by its inode's filesystem mutex.
#pragma once

#include <memory>

#include "base/result.h"
#include "base/unique_fd.h"
#include "vfs/file_description.h"
#include "vfs/inode.h"

namespace veil::vfs {

class FifoPipe final {
 public:
  FifoPipe() = default;
  FifoPipe(const FifoPipe&) = delete;
  FifoPipe& operator=(const FifoPipe&) = delete;

 private:
  friend class FifoFile;
  friend Result<std::unique_ptr<FileImpl>> OpenFifoLocked(Inode&, FifoPipe&,
                                                          int);
  UniqueFd read_end_, write_end_;
  int readers_ = 0;
  int writers_ = 0;
};

// Opens FIFO `inode`, whose pipe state is `pipe` (owned by the inode, so it
// lives as long as the returned file, which holds the inode). Caller holds
// inode.fs().mutex(). Reads stamp atime (Inode::TouchAtimeLocked), writes
// mtime and ctime (Inode::StampModifiedLocked). Errors: ENXIO for a
// non-blocking writer without readers, EINVAL for O_ACCMODE (3).
Result<std::unique_ptr<FileImpl>> OpenFifoLocked(Inode& inode, FifoPipe& pipe,
                                                 int flags);

}  // namespace veil::vfs
