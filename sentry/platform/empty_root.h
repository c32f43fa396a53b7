// SPDX-License-Identifier: Apache-2.0
//
// An empty, read-only root: the mount namespace of a sentry process or of
// an app task after which a path the host kernel resolves finds nothing
// (DESIGN.md, "Processes": defence in depth under the seccomp filter).
//
//   EnterEmptyRoot(file):
//     mount("/", MS_REC | MS_PRIVATE)      nothing of ours propagates
//     fsopen("tmpfs") ... fsmount          a new, detached tmpfs (mode 0555)
//     [openat(mnt, file->name, O_CREAT)]   one file copied in, mode 0555
//     mount_setattr(RDONLY|NOSUID|NODEV)   read-only from here on
//     move_mount(mnt -> "/")               stacked on the old root
//     fchdir(mnt); pivot_root(".", ".")    the tmpfs becomes "/"
//     umount2(".", MNT_DETACH)             the old root (and every host
//     chdir("/")                           mount under it) is gone
//
// The caller must already be in a mount namespace of its own
// (unshare(CLONE_NEWNS)) with CAP_SYS_ADMIN over it. Raw system calls
// only, no allocation: safe between fork and exec.
//
// The one file: the task's root holds the sentry's exec stub, so that the
// tracer can turn a task's execve into an execve of the stub by a path
// that names no host file and no sandbox file (sentry/sandbox/README.md,
// "Exec"). The sentry's own root holds nothing.
#pragma once

#include "base/result.h"

namespace veil::sentry {

// A file to place in the new root: `name` (one component, no slash),
// its bytes read from `source_fd` (offset 0 to end of file, with pread).
struct EmptyRootFile {
  const char* name = nullptr;
  int source_fd = -1;
};

// Errors: the failing step's errno (EPERM without CAP_SYS_ADMIN over the
// mount namespace; EINVAL from pivot_root when "/" is a rootfs/initramfs),
// with the step named in the message.
Result<void> EnterEmptyRoot(const EmptyRootFile* file);

}  // namespace veil::sentry
