// SPDX-License-Identifier: Apache-2.0
//
// The sentry confines itself (DESIGN.md, "Processes"; sentry/README.md
// lists every step and every call of its allowlist with its reason):
//
//   EnterSentryNamespaces()   in the veil process, single-threaded, once
//                             the gofers run and every host file the
//                             sentry needs is open:
//     unshare(CLONE_NEWUSER)          root inside, the caller's uid and gid
//     uid_map "0 UID 1", setgroups    outside (one id each; setgroups
//       "deny", gid_map "0 GID 1"     denied, so no group can be dropped
//                                     to gain access)
//     unshare(NEWNS|NEWNET|NEWPID|    mounts, network (its own loopback,
//             NEWIPC|NEWUTS)          up: the host's is out of reach),
//                                     SysV IPC and a hostname of its own
//     fork                            the sentry: init of the new pid
//                                     namespace (it sees only itself and
//                                     its tasks); the caller stays behind
//                                     to wait for it and reap the gofers
//   ConfineSentryMounts()     in the sentry, before it makes a thread:
//     mount a procfs of its pid namespace, detached (base/proc_dir.h)
//     EnterEmptyRoot(nullptr)         "/" an empty read-only tmpfs
//   InstallSentryFilter()     once the first task was forked (it must not
//                             inherit the allowlist: every later task is
//                             a fork of it) and before any call is served:
//     PR_SET_NO_NEW_PRIVS; the allowlist on every thread (TSYNC);
//     anything else kills the sentry (SECCOMP_RET_KILL_PROCESS).
//
// VEIL_UNCONFINED=1 in the environment skips all three (debugging only);
// VEIL_SENTRY_FILTER=log makes the filter trap what it would kill
// (SECCOMP_RET_TRAP): the sentry prints the call's number on stderr and
// the call fails with ENOSYS, so one run finds every missing call.
// Neither is in --help; sentry/README.md documents them.
#pragma once

#include <string>

#include <sys/types.h>

#include <cstdint>

#include "base/result.h"

namespace veil::sentry {

enum class Confinement : uint8_t { kConfined, kUnconfined };
enum class FilterMode : uint8_t { kKill, kLog };

// kUnconfined if VEIL_UNCONFINED=1.
Confinement ConfinementFromEnvironment();
// kLog if VEIL_SENTRY_FILTER=log.
FilterMode FilterModeFromEnvironment();

// Which side of EnterSentryNamespaces' fork this is.
struct SentryFork {
  pid_t sentry = -1;  // in the caller: the sentry's pid; 0 in the sentry
  bool in_sentry() const { return sentry == 0; }
};

// Steps above. Errors: the failing step's errno, the step in the message.
// The caller must be single-threaded (unshare's EINVAL otherwise).
// `hostname`: the name uname(2) gives in the sandbox (its own UTS
// namespace).
Result<SentryFork> EnterSentryNamespaces(const std::string& hostname);

// In the sentry, single-threaded. Mounts need CAP_SYS_ADMIN in its
// namespaces, which EnterSentryNamespaces gave it.
Result<void> ConfineSentryMounts();

// The allowlist, on every thread of the process. EINVAL/EFAULT/...:
// libseccomp's or seccomp(2)'s errno.
// `fifo_dir_fd`: the data plane's FIFO directory (AddSentryAllowlist), or
// -1.
Result<void> InstallSentryFilter(FilterMode mode, int fifo_dir_fd = -1);

// What the caller of EnterSentryNamespaces does with the sentry: waits
// for it (EINTR retried) and returns its wait status.
Result<int> WaitForSentry(pid_t sentry);

}  // namespace veil::sentry
