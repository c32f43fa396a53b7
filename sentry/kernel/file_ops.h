// SPDX-License-Identifier: Apache-2.0
//
// The helpers the file syscall handlers share: where a *at() call starts,
// one OpenAt for open/openat/creat/openat2, installing and closing fds,
// and the stat structures. Linux analogue: fs/namei.c path_init,
// fs/open.c do_sys_openat2, fs/file.c, fs/stat.c cp_new_stat.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/ref.h"
#include "base/result.h"
#include "sentry/kernel/syscall_table.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/task_memory.h"
#include "vfs/attr.h"
#include "vfs/file_description.h"
#include "vfs/vfs.h"

namespace veil::sentry {

// x86-64's O_LARGEFILE (glibc defines it as 0 there): Linux sets it on
// every open of a 64-bit task (force_o_largefile), and F_GETFL shows it.
inline constexpr int kOLargefile = 0100000;

// The directory a *at() call with `path` starts from (path_init): the root
// for an absolute path (dirfd is then not looked at), the cwd for
// AT_FDCWD, else dirfd's file. Errors: EBADF for a dirfd that is not open;
// ENOTDIR for a non-directory dirfd with a non-empty relative path.
Result<vfs::Location> StartDir(Task& task, const vfs::Context& ctx, int dirfd,
                               std::string_view path);

// do_sys_openat2 after build_open_flags: copies the path in (getname),
// reserves an fd (EMFILE), opens in the VFS (waiting for a FIFO's peer,
// EINTR if interrupted), and installs it with FD_CLOEXEC if O_CLOEXEC.
// `how.flags` must already be checked (openat2) or masked (open).
Result<int64_t> OpenAt(Task& task, SyscallArgs& args, int dirfd, TaskAddr path,
                       vfs::OpenHow how);

// Installs `file` at the reserved number; in the default mode (the data
// plane) with its host twin (host_twins.h), which the answer installs at
// the same number in the task. Errors: the twin's (EMFILE, ENFILE).
Result<int> InstallWithTwin(Task& task, FdReservation fd,
                            Ref<vfs::FileDescription> file,
                            CloseOnExec cloexec);
// Reserves the lowest free fd and installs `file` there (with its twin).
Result<int> InstallLowest(Task& task, Ref<vfs::FileDescription> file,
                          CloseOnExec cloexec);

// close(2): removes `fd` (EBADF) and releases the process's POSIX locks
// on its file (filp_close -> locks_remove_posix).
Result<void> CloseFd(Task& task, int fd);
// What a description dropped from the table needs before it goes.
void ReleaseClosed(Task& task, vfs::FileDescription& file);

// At exec (begin_new_exec): a table shared under CLONE_FILES is copied
// first (unshare_files), then every FD_CLOEXEC fd is closed
// (do_close_on_exec). For the loader.
void CloseFilesOnExec(Task& task);
// unshare_fd: gives `task` a table of its own if it shares one.
void UnshareFiles(Task& task);

// A task path copied in once: "" allowed or not, and the one NULL-path
// exception newer kernels make for AT_EMPTY_PATH (vfs_empty_path: a NULL
// path with AT_EMPTY_PATH is "", Linux 6.11+).
enum class NullPath : uint8_t { kFault, kEmptyWithAtEmptyPath };
Result<std::string> CopyInAtPath(TaskMemory& mem, TaskAddr path, int flags,
                                 NullPath null_path);

}  // namespace veil::sentry
