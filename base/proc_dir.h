// SPDX-License-Identifier: Apache-2.0
//
// The procfs the process reads itself and its children through: the
// sentry's tasks' status (their thread group and parent: the tracer,
// sentry/sandbox) and its own fds, reopened through /proc/self/fd (the
// data plane's host twins, sentry/kernel/host_twins.h). Unconfined, that
// is the host's /proc; a confined sentry has no /proc in its empty root,
// so it mounts a procfs of its own pid namespace before it pivots (a
// detached mount, reached only through this descriptor) and hands it
// over here (sentry/platform/self_confine.h).
//
// Thread-safety: SetProcDir once, before any task starts; OpenProcStatus
// from any thread.
#pragma once

#include <sys/types.h>

#include "base/result.h"
#include "base/unique_fd.h"

namespace veil {

// Takes the procfs root to use from now on (kept open for the process's
// life).
void SetProcDir(UniqueFd dir);

// The descriptor SetProcDir took, or -1 (the allowlist lets openat use it
// alone).
int ProcDirFd();

// "TID/status" under that directory, or "/proc/TID/status" if none was
// set (O_RDONLY | O_CLOEXEC). Invalid if it cannot be opened.
UniqueFd OpenProcStatus(pid_t tid);
// The same for /proc/TID/`name` (one component: status, stat, maps, ...).
UniqueFd OpenProcFile(pid_t tid, const char* name);

// A new open file description of the file `fd` refers to, opened through
// "self/fd/FD" (Linux: proc_fd_link; a magic link, so the file's own mount
// decides), with `flags` | O_CLOEXEC | O_NOCTTY. open's errno.
Result<UniqueFd> ReopenFd(int fd, int flags);

}  // namespace veil
