// SPDX-License-Identifier: Apache-2.0
//
// Finding the exec stub on the host. The build (and an install) puts
// veil-exec-stub next to the `veil` binary; the sentry opens it before it
// confines itself and execs it for every exec in the sandbox (the host
// path belongs to veil's install, never to a sandbox).
//
// Thread-safety: functions.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace veil::sentry::loader {

inline constexpr char kStubBinaryName[] = "veil-exec-stub";

// "<directory of the running executable>/veil-exec-stub" (from
// /proc/self/exe, the sentry's own). readlink's errno on failure.
Result<std::string> StubPathNextToSelf();

// Opens `path` (O_RDONLY | O_CLOEXEC) and checks that it is our stub: an
// ELF executable whose first PT_LOAD is at kStubRegionStart and whose
// entry lies in that region. ENOEXEC for anything else; open's errno.
Result<UniqueFd> OpenStubBinary(const std::string& path);

}  // namespace veil::sentry::loader
