// SPDX-License-Identifier: Apache-2.0
//
// Blocking calls for a thread: what a Linux task does when it sleeps in
// the kernel, done by waiting in a ThreadWaiter (vfs/wait.h). For tests
// and the FUSE adapter; the sentry's event loop runs the same loop with a
// Waiter of its own and parks the task instead of a thread.
//
// Each helper follows the wait contract: try; on kWouldBlock register the
// waiter on the file's queue, try again, and only then wait (on the
// queue's notifications and the file's host fds), so no wake-up between
// the check and the wait is lost (Linux: prepare_to_wait, then test the
// condition, then schedule()). On a description with O_NONBLOCK they
// never wait: the plain call already answers EAGAIN. An interrupt
// (ThreadWaiter::Interrupt) ends a wait with EINTR (Linux: -ERESTARTSYS,
// which a task without SA_RESTART sees as EINTR) and leaves nothing
// registered. Nothing is held while waiting: no VFS lock, no queue lock.
//
// Thread-safety: as the calls they wrap; one ThreadWaiter per thread.
#pragma once

#include <span>
#include <string_view>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/file_description.h"
#include "vfs/vfs.h"
#include "vfs/wait.h"

namespace veil::vfs {

// Waits until `file`'s open is complete (a FIFO opened without O_NONBLOCK
// waits for its peer: fifo_open's wait_for_partner). EINTR if interrupted:
// the caller then drops `file`, which un-counts it.
Result<void> CompleteOpenBlocking(FileDescription& file, ThreadWaiter& waiter);

// open(2) as a task sees it: Vfs::OpenAt, then CompleteOpenBlocking.
// Errors: OpenAt's, and EINTR.
Result<Ref<FileDescription>> OpenAtBlocking(Vfs& vfs, const Context& ctx,
                                            const Location& dir,
                                            std::string_view path,
                                            const OpenHow& how,
                                            ThreadWaiter& waiter);

// read(2): waits while the read would block (pipe_read: an empty pipe
// with writers). Errors: Read's, and EINTR.
Result<size_t> ReadBlocking(FileDescription& file, std::span<uint8_t> buf,
                            ThreadWaiter& waiter);

// write(2): waits while the write would block, until every byte is
// written (pipe_write). Interrupted after writing some bytes it returns
// their count, as Linux does; before, EINTR. Other errors likewise: the
// count if any byte went, else the errno (EPIPE once the readers left).
Result<size_t> WriteBlocking(FileDescription& file, const Credentials& creds,
                             std::span<const uint8_t> buf,
                             ThreadWaiter& waiter);

}  // namespace veil::vfs
