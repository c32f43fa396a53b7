// SPDX-License-Identifier: Apache-2.0
//
// Confinement of the gofer process, applied before it serves anything.
// The gofer is the one veil process that can reach the host's files, so
// it shrinks its own reach to the directory it exports (DESIGN.md):
//
//   EnterRoot(dir):  unshare(CLONE_NEWNS)            own mount namespace
//                    mount("/", MS_REC|MS_SLAVE)     host mounts come in,
//                                                    ours never go out
//                    mount(dir, dir, MS_BIND|MS_REC) dir as its own mount,
//                    remount MS_NOSUID|MS_NODEV      no devices, no set-id;
//                      (+MS_RDONLY for --ro)         kernel-enforced EROFS
//                    mount_setattr(AT_RECURSIVE)     the same for submounts
//                    chdir(dir); pivot_root(".", ".")
//                    umount2(".", MNT_DETACH)        the old root is gone
//                    chdir("/")
//   RestrictSelf():  prctl(PR_SET_DUMPABLE, 0)       no same-uid ptrace
//                    prctl(PR_SET_NO_NEW_PRIVS)      required for seccomp
//                    capset: keep only the file capabilities it needs
//                    seccomp allowlist (seccomp_filter.h)
//
// The bind mount is recursive and a slave of the host's, so mounts below
// dir (a /proc in a rootfs, say), present or added later, are mounts in
// the gofer's namespace too: the kernel answers EBUSY to rmdir(2) or
// rename(2) of their mount points, so a client can neither detach nor move
// them. They are not served: lookups never cross a mount (RESOLVE_NO_XDEV),
// so the gofer serves one filesystem. If
// pivot_root is refused (the host root is an initramfs: EINVAL) the gofer
// chroots instead and logs it; the seccomp filter denies chroot, mount and
// every other way back out.
//
// Each failure is an Errno whose message names the step. Needs
// CAP_SYS_ADMIN (root) for EnterRoot. Call from a single-threaded process:
// unshare(CLONE_NEWNS) and the capability and seccomp changes apply to the
// calling thread only.
#pragma once

#include <string>

#include "base/result.h"
#include "gofer/server/host_backend.h"

namespace veil::gofer {

// Makes `root` (an absolute or relative path) the process's "/" in a
// private mount namespace, as above.
Result<void> EnterRoot(const std::string& root, Access access);

// Drops privileges and installs the seccomp filter. After this the process
// can only serve files (seccomp_filter.h lists what that means).
Result<void> RestrictSelf();

}  // namespace veil::gofer
