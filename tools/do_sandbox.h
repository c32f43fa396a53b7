// SPDX-License-Identifier: Apache-2.0
//
// The sandbox `veil do` runs: a command started under the sentry over a
// Vfs the caller built.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vfs/vfs.h"

namespace veil::tools {

// Whether file I/O on open files runs natively (the data plane of
// DESIGN.md) or is trapped and served by the VFS (--strict).
enum class DataPlane : uint8_t { kNative, kTrapped };
enum class SyscallTrace : uint8_t { kOff, kPrint };

struct SandboxOptions {
  std::vector<std::string> argv;  // the command, argv[0] first
  std::vector<std::string> env;   // K=V
  std::string cwd = "/";          // in the sandbox
  DataPlane data_plane = DataPlane::kNative;
  SyscallTrace trace = SyscallTrace::kOff;
};

// Runs options.argv in `vfs` and returns the exit status veil should
// have: the command's, 128+N for a signal N, 125 if the sandbox could not
// start, 127 if the command was not found, 126 if it could not be run.
int RunSandbox(vfs::Vfs& vfs, const SandboxOptions& options);

}  // namespace veil::tools
