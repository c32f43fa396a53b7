// SPDX-License-Identifier: Apache-2.0
//
// HostBackend internals: entering a backend's chroot on the calling thread,
// per-thread credentials, and scratch-tree removal. See host_backend.h for
// why calls run this way.
#pragma once

#include <linux/capability.h>
#include <sys/types.h>

#include <vector>

#include "base/result.h"
#include "tests/difftest/backend.h"

namespace veil::difftest::internal {

// Logs `what` with strerror(errno) and aborts: for failures that would
// otherwise let a syscall run against the host's real root.
[[noreturn]] void Die(const char* what);

// Gives the calling thread its own root, cwd and umask (unshare(CLONE_FS),
// once per thread) and remembers its root for LeaveRoot().
Result<void> PrepareThread();
// fchdir(root_fd) + chroot("."). Requires PrepareThread().
bool EnterRoot(int root_fd);
// Back to the thread's original root, then fchdir(saved_cwd).
bool LeaveRoot(int saved_cwd);

struct CapState {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
};
bool GetCaps(CapState* caps);
bool HasEffective(const CapState& caps, int cap);

// {0, 0, {}}: runs with the caller's own (root) credentials.
bool IsPlainRoot(const Creds& creds);

// The calling thread's credentials before a call, to restore afterwards.
struct SavedCreds {
  uid_t fsuid = 0;
  gid_t fsgid = 0;
  std::vector<gid_t> groups;
  CapState caps;
};
// Switches the calling thread (only) to `creds`; non-root loses every
// effective capability. Aborts if the kernel refuses.
void SwitchCreds(const Creds& creds, SavedCreds* saved);
void RestoreCreds(const SavedCreds& saved);

// Removes `name` in `parent_fd` and everything below it, descriptor-relative
// so that trees deeper than PATH_MAX go too. Failures are logged.
void RemoveTreeAt(int parent_fd, const char* name);

}  // namespace veil::difftest::internal
