// SPDX-License-Identifier: Apache-2.0
//
// Launch: starts a host program (in veil: the sentry's own exec stub, a
// path of the host, never one of the sandbox) as the first task under a
// SeccompFilter, and returns the two halves of the platform for it: a
// SeccompPlatform over the filter's listener and a Tracer serving its
// ptrace stops.
//
// The sequence, on the tracer thread (tracer.h):
//   fork; child: default signal dispositions and an empty signal mask,
//   the requested stdio, every other fd marked close-on-exec (so no fd of
//   the sentry reaches the program), with kEmptyRoot a mount namespace of
//   its own whose root is empty but for the program (empty_root.h),
//   PR_SET_NO_NEW_PRIVS, install the filter
//   (NEW_LISTENER | WAIT_KILLABLE_RECV), send the listener to the parent
//   over an AF_UNIX socketpair (SCM_RIGHTS), stop itself (SIGSTOP),
//   execve. Parent: receive the listener, wait for the stop, PTRACE_SEIZE,
//   SIGCONT.
//
// What the filter must allow. The child makes these calls after the
// filter is in force, so the rules must let them run natively: sendmsg
// (the listener goes to the parent), getpid and kill (SIGSTOP to itself),
// exit_group (a failed step), rt_sigprocmask, rt_sigsuspend and
// rt_sigreturn (the init of a new pid namespace, which cannot stop itself,
// waits for the tracer's SIGCONT), and execve must be kAllow or kTrace (with
// kTrace the first exec is an OnExecStop like any other). Launch checks
// this and answers EINVAL otherwise. The child never calls close after
// the filter (the listener and the socket are O_CLOEXEC; exec drops them).
#pragma once

#include <sys/types.h>

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "sentry/platform/seccomp_filter.h"
#include "sentry/platform/seccomp_platform.h"
#include "sentry/platform/tracer.h"

namespace veil::sentry {

enum class PidNamespace : uint8_t {
  kShared,  // the sentry's
  kNew,     // one of its own, the first task its init (unshare(CLONE_NEWPID))
};

enum class MountNamespace : uint8_t {
  kShared,  // the sentry's
  // One of its own whose root is an empty, read-only tmpfs holding only
  // the program (empty_root.h): `path` is "/NAME" in that root, copied
  // there from `program_fd`.
  kEmptyRoot,
};

struct LaunchSpec {
  // The program, executed by the host kernel: a host path (kShared) or
  // "/NAME" in the task's own root (kEmptyRoot).
  std::string path;
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> envp;
  // Host fds that become the task's 0, 1 and 2 (-1: the sentry's own);
  // any numbers, {1, 0, 2} included.
  std::array<int, 3> stdio = {-1, -1, -1};
  // The tasks' pid namespace. Tids the platform and the tracer report
  // stay the sentry's (host) view either way.
  PidNamespace pid_namespace = PidNamespace::kShared;
  // The tasks' mount namespace, made in the child before the filter.
  MountNamespace mount_namespace = MountNamespace::kShared;
  int program_fd = -1;  // kEmptyRoot: the program's bytes (read with pread)
};

struct Launched {
  pid_t pid = -1;  // the first task (a child of the tracer thread)
  std::unique_ptr<SeccompPlatform> platform;
  // Destroying it kills every task left; destroy it before `platform`
  // goes only if no thread is in Receive.
  std::unique_ptr<Tracer> tracer;
};

// The syscalls the child makes under the filter before exec (above).
std::span<const int32_t> SyscallsBeforeExec();

// The observer's calls start on the tracer thread before Launch returns
// (the first exec stop, with execve kTrace): have it ready first.
// EINVAL: the filter does not allow what the child needs (above), or a
// kEmptyRoot spec without a "/NAME" path and a program_fd.
// Otherwise fork's, seccomp's (in the child) or ptrace's errno.
Result<Launched> Launch(const SeccompFilter& filter, const LaunchSpec& spec,
                        TaskObserver& observer, SyncWakeUp wake);

}  // namespace veil::sentry
