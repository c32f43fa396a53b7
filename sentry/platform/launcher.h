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
//   the sentry reaches the program), PR_SET_NO_NEW_PRIVS, install the filter
//   (NEW_LISTENER | WAIT_KILLABLE_RECV), send the listener to the parent
//   over an AF_UNIX socketpair (SCM_RIGHTS), stop itself (SIGSTOP),
//   execve. Parent: receive the listener, wait for the stop, PTRACE_SEIZE,
//   SIGCONT.
//
// What the filter must allow. The child makes these calls after the
// filter is in force, so the rules must let them run natively: sendmsg
// (the listener goes to the parent), getpid and kill (SIGSTOP to itself),
// exit_group (a failed step), and execve must be kAllow or kTrace (with
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

struct LaunchSpec {
  std::string path;               // a host path, executed by the host kernel
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> envp;
  // Host fds that become the task's 0, 1 and 2 (-1: the sentry's own);
  // any numbers, {1, 0, 2} included.
  std::array<int, 3> stdio = {-1, -1, -1};
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
// EINVAL: the filter does not allow what the child needs (above).
// Otherwise fork's, seccomp's (in the child) or ptrace's errno.
Result<Launched> Launch(const SeccompFilter& filter, const LaunchSpec& spec,
                        TaskObserver& observer, SyncWakeUp wake);

}  // namespace veil::sentry
