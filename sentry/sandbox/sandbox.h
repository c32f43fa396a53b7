// SPDX-License-Identifier: Apache-2.0
//
// Sandbox: one program run under the sentry, from its first exec to the
// exit of its last task. It joins the sentry's parts: the platform
// (sentry/platform: the seccomp filter, notifications, the tracer), the
// kernel (sentry/kernel: tasks, fd tables, the syscall table and its
// handlers over the VFS) and the loader (sentry/loader: exec plans and
// the stub that carries them out). gVisor: the Kernel plus its Platform;
// Linux: the processes of one pid namespace.
//
// Threads:
//  - the tracer thread (sentry/platform/tracer.h) reports clones, exec
//    stops, execs and exits; exec stops prepare the new program's plan
//    there (path resolution and ELF parsing through the VFS);
//  - the receive thread takes every trapped call from the platform and
//    hands it to the task that made it;
//  - one worker thread per task serves its calls one at a time (a task
//    has at most one call pending), so a call that blocks (a pipe read)
//    blocks only its own task.
//
// Exec: an execve/execveat stops in the tracer (RET_TRACE); the sentry
// reads the path, argv and envp, resolves and parses the program in the
// VFS (PrepareExec) and either makes the call fail with the errno Linux
// gives, or turns it into an exec of our stub (kTaskStubPath, the one
// file of the tasks' own empty root: never a host or a sandbox path). Once the exec happened (OnExec) the task's
// close-on-exec fds are closed and its calls go to a StubServer until the
// stub has mapped the program and closed what it was given.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "sentry/kernel/host_twins.h"
#include "sentry/kernel/procfs.h"
#include "sentry/kernel/syscall_table.h"
#include "vfs/vfs.h"

namespace veil::sentry {

enum class StraceOutput : uint8_t { kOff, kStderr };

struct SandboxSpec {
  std::string path;               // the program, a sandbox path
  std::vector<std::string> argv;  // argv[0] first
  std::vector<std::string> envp;
  std::string cwd = "/";  // in the sandbox
  Mode mode = Mode::kStrict;
  StraceOutput strace = StraceOutput::kOff;
  // The exec stub's bytes (sentry/loader/stub_binary.h), read with pread:
  // a sealed memfd, opened before the sentry confines itself. Tasks exec
  // it as kTaskStubPath, the one file of their otherwise empty root.
  int stub_fd = -1;
  // Called once the first task exists (forked, not yet running the
  // program) and before any of its calls is served: where the sentry
  // installs its own seccomp allowlist, which the first task (and so
  // every task, a fork of it) must not inherit. An error kills the task
  // and is RunSandbox's.
  std::function<Result<void>()> before_serving;
  // Mode::kDefault's host twins (sentry/kernel/host_twins.h), made before
  // the sentry confined itself (they open host paths); null: made here.
  std::shared_ptr<HostTwins> twins;
  // The host facts /proc shows (captured before the sentry confined
  // itself): when set, a /proc of the sandbox (sentry/kernel/procfs.h)
  // is mounted for the run.
  std::optional<ProcHostInfo> proc;
  // The first program's credentials (veil do --user); root if unset.
  std::optional<TaskCreds> creds;
  // The sentry's end of veil's link for the control socket
  // (sentry/control/control_server.h), or -1: no control socket.
  // Borrowed; open until RunSandbox returns.
  int control_fd = -1;
  // The rootfs's upper layer, which a live snapshot writes (SNAPSHOT on
  // the control socket); null: no snapshots.
  RefPtr<vfs::Filesystem> snapshot_layer;
};

// The stub's path in the tasks' root (their own mount namespace): no host
// path and no sandbox path, never resolved by the sentry's VFS.
inline constexpr char kTaskStubPath[] = "/veil-exec-stub";

// Runs `spec` over `vfs` (which must outlive the call) with the sentry's
// own stdin, stdout and stderr as the program's, and returns the first
// task's wait status (waitpid's) once every task has exited. Errors: the
// program's exec errno (ENOENT, EACCES, ENOEXEC, ...) when it cannot even
// start; the platform's when the sandbox cannot be set up.
Result<int> RunSandbox(vfs::Vfs& vfs, const SandboxSpec& spec);

}  // namespace veil::sentry
