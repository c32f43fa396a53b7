// SPDX-License-Identifier: Apache-2.0
//
// The sandbox `veil do` runs: a command started under the sentry over a
// Vfs the caller built.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "sentry/kernel/host_twins.h"
#include "sentry/kernel/procfs.h"
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
  int stub_fd = -1;  // OpenExecStub's
  // sentry::SandboxSpec::before_serving (the sentry's own filter).
  std::function<Result<void>()> before_serving;
  // The native data plane's host twins, made before confinement.
  std::shared_ptr<sentry::HostTwins> twins;
  // The host facts the sandbox's /proc shows, read before confinement.
  std::optional<sentry::ProcHostInfo> proc;
  // --user's SPEC (do_command.h LookUpUser), or empty: root.
  std::string user;
  bool default_env = false;  // env is DefaultEnvironment()'s
  // The sentry's end of veil's control link (sandbox_registry.h), or -1.
  int control_fd = -1;
  // The rootfs's upper layer, for live snapshots (null: none).
  RefPtr<vfs::Filesystem> snapshot_layer;
};

// The exec stub next to veil, checked and copied into a sealed memfd (a
// change to the installed file cannot reach a running sandbox; the
// sentry keeps it across its confinement). Prints the reason and returns
// nullopt on failure.
std::optional<UniqueFd> OpenExecStub();

// In veil, after EnterSentryNamespaces: waits for the sentry and returns
// veil's exit status (the sentry's; 128+N if a signal N ended it, with a
// note when that was its seccomp filter's SIGSYS).
int ExitStatusOfSentry(pid_t sentry);

// Runs options.argv in `vfs` and returns the exit status veil should
// have: the command's, 128+N for a signal N, 125 if the sandbox could not
// start, 127 if the command was not found, 126 if it could not be run.
int RunSandbox(vfs::Vfs& vfs, const SandboxOptions& options);

}  // namespace veil::tools
