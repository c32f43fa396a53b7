// SPDX-License-Identifier: Apache-2.0
//
// The /proc the sentry reads its tasks' status from (their thread group
// and parent: tracer.cc, sentry/sandbox). Unconfined, that is the host's
// /proc; a confined sentry has no /proc in its empty root, so it mounts a
// procfs of its own pid namespace before it pivots (a detached mount,
// reached only through this descriptor) and hands it over here.
//
// Thread-safety: SetProcDir once, before any task starts; OpenProcStatus
// from any thread.
#pragma once

#include <sys/types.h>

#include "base/unique_fd.h"

namespace veil::sentry {

// Takes the procfs root to use from now on (kept open for the process's
// life).
void SetProcDir(UniqueFd dir);

// The descriptor SetProcDir took, or -1 (the allowlist lets openat use it
// alone).
int ProcDirFd();

// "TID/status" under that directory, or "/proc/TID/status" if none was
// set (O_RDONLY | O_CLOEXEC). Invalid if it cannot be opened.
UniqueFd OpenProcStatus(pid_t tid);

}  // namespace veil::sentry
