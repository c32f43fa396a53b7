// SPDX-License-Identifier: Apache-2.0
//
// `veil do`'s sandbox: finds the command and the exec stub, runs the
// command under the sentry, and turns its end into veil's exit status.
#include "tools/do_sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "sentry/loader/stub_binary.h"
#include "sentry/platform/self_confine.h"
#include "sentry/sandbox/sandbox.h"
#include "tools/do_command.h"

namespace veil::tools {
namespace {

constexpr int kExitSetupFailed = 125;
constexpr int kExitCannotRun = 126;
constexpr int kExitNotFound = 127;

// A sealed memfd holding a copy of `fd`'s file.
Result<UniqueFd> SealedCopy(int fd) {
  UniqueFd copy(memfd_create(sentry::loader::kStubBinaryName,
                             MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!copy) return Errno::FromErrno();
  char buf[65536];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno::FromErrno();
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = write(copy.get(), buf + done,
                              static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Errno::FromErrno();
      done += w;
    }
    offset += n;
  }
  if (fcntl(copy.get(), F_ADD_SEALS,
            F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    return Errno::FromErrno();
  }
  return copy;
}

}  // namespace

std::optional<UniqueFd> OpenExecStub() {
  Result<std::string> path = sentry::loader::StubPathNextToSelf();
  Result<UniqueFd> stub =
      path ? sentry::loader::OpenStubBinary(*path) : Result<UniqueFd>(path.error());
  if (stub) stub = SealedCopy(stub->get());
  if (!stub) {
    std::fprintf(stderr,
                 "veil do: cannot find the exec stub (%s, next to veil): %s\n",
                 sentry::loader::kStubBinaryName,
                 std::strerror(stub.error().code()));
    return std::nullopt;
  }
  return std::move(*stub);
}

int ExitStatusOfSentry(pid_t sentry) {
  Result<int> status = sentry::WaitForSentry(sentry);
  if (!status) {
    std::fprintf(stderr, "veil do: lost the sentry: %s\n",
                 std::strerror(status.error().code()));
    return kExitSetupFailed;
  }
  if (WIFEXITED(*status)) return WEXITSTATUS(*status);
  if (WIFSIGNALED(*status)) {
    if (WTERMSIG(*status) == SIGSYS) {
      std::fprintf(stderr,
                   "veil do: the sentry made a call outside its seccomp "
                   "allowlist and was killed (the kernel's audit log names "
                   "it)\n");
    }
    return 128 + WTERMSIG(*status);
  }
  return kExitSetupFailed;
}

int RunSandbox(vfs::Vfs& vfs, const SandboxOptions& given) {
  SandboxOptions options = given;
  vfs::Context ctx = vfs.RootContext();
  std::optional<sentry::TaskCreds> creds;
  if (!options.user.empty()) {
    Result<SandboxUser> user = LookUpUser(vfs, options.user);
    if (!user) {
      std::fprintf(stderr, "veil do: --user %s: %s\n", options.user.c_str(),
                   user.error().message() ? user.error().message()
                                          : std::strerror(user.error().code()));
      return kExitSetupFailed;
    }
    // As a user's login (initgroups, setgid, setuid): no capabilities.
    sentry::TaskCreds c;
    c.uid = c.euid = c.suid = c.fsuid = user->uid;
    c.gid = c.egid = c.sgid = c.fsgid = user->gid;
    c.groups = user->groups;
    std::sort(c.groups.begin(), c.groups.end());
    if (user->uid != 0) c.cap_permitted = c.cap_effective = 0;
    ctx.creds = c.Vfs();
    creds = std::move(c);
    if (options.default_env) {
      for (std::string& kv : options.env)
        if (kv.starts_with("HOME=")) kv = "HOME=" + user->home;
    }
  }
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
  spec.stub_fd = options.stub_fd;
  spec.before_serving = options.before_serving;
  spec.twins = options.twins;
  spec.proc = options.proc;
  spec.creds = creds;
  spec.control_fd = options.control_fd;
  spec.snapshot_layer = options.snapshot_layer;
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
