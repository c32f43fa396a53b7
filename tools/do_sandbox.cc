// SPDX-License-Identifier: Apache-2.0
//
// `veil do`'s sandbox: finds the command and the exec stub, runs the
// command under the sentry, and turns its end into veil's exit status.
#include "tools/do_sandbox.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstring>

#include "sentry/loader/stub_binary.h"
#include "sentry/sandbox/sandbox.h"
#include "tools/do_command.h"

namespace veil::tools {
namespace {

constexpr int kExitSetupFailed = 125;
constexpr int kExitCannotRun = 126;
constexpr int kExitNotFound = 127;

}  // namespace

int RunSandbox(vfs::Vfs& vfs, const SandboxOptions& options) {
  vfs::Context ctx = vfs.RootContext();
  auto cwd = vfs.ResolveAt(ctx, ctx.root, options.cwd, 0);
  if (!cwd) {
    std::fprintf(stderr, "veil do: --cwd %s: %s\n", options.cwd.c_str(),
                 std::strerror(cwd.error().code()));
    return kExitSetupFailed;
  }
  ctx.cwd = *cwd;
  const std::string& name = options.argv.front();
  Result<std::string> path = FindCommand(vfs, ctx, name, options.env);
  if (!path) {
    std::fprintf(stderr, "veil do: %s: %s\n", name.c_str(),
                 path.error().code() == ENOENT ? "command not found"
                                               : std::strerror(
                                                     path.error().code()));
    return path.error().code() == ENOENT ? kExitNotFound : kExitCannotRun;
  }
  Result<std::string> stub = sentry::loader::StubPathNextToSelf();
  if (stub) {
    if (auto checked = sentry::loader::OpenStubBinary(*stub); !checked)
      stub = checked.error();
  }
  if (!stub) {
    std::fprintf(stderr,
                 "veil do: cannot find the exec stub (%s, next to veil): %s\n",
                 sentry::loader::kStubBinaryName,
                 std::strerror(stub.error().code()));
    return kExitSetupFailed;
  }
  sentry::SandboxSpec spec;
  spec.path = *path;
  spec.argv = options.argv;
  spec.envp = options.env;
  spec.cwd = options.cwd;
  spec.mode = options.data_plane == DataPlane::kTrapped
                  ? sentry::Mode::kStrict
                  : sentry::Mode::kDefault;
  spec.strace = options.trace == SyscallTrace::kPrint
                    ? sentry::StraceOutput::kStderr
                    : sentry::StraceOutput::kOff;
  spec.stub_path = *stub;
  Result<int> status = sentry::RunSandbox(vfs, spec);
  if (!status) {
    const int err = status.error().code();
    std::fprintf(stderr, "veil do: %s: %s\n", name.c_str(), std::strerror(err));
    return err == ENOENT ? kExitNotFound
           : (err == EACCES || err == ENOEXEC) ? kExitCannotRun
                                                : kExitSetupFailed;
  }
  if (WIFEXITED(*status)) return WEXITSTATUS(*status);
  if (WIFSIGNALED(*status)) return 128 + WTERMSIG(*status);
  return kExitSetupFailed;
}

}  // namespace veil::tools
