// SPDX-License-Identifier: Apache-2.0
//
// The sandbox's /dev: the memory devices Linux's drivers/char/mem.c and
// random.c provide (null, zero, full, random, urandom), registered with
// the Vfs by number, and a tmpfs on /dev holding their nodes, as an OCI
// runtime gives a container. gVisor: pkg/sentry/devices/memdev.
#pragma once

#include "base/result.h"
#include "vfs/vfs.h"

namespace veil::sentry {

// Registers the memory devices' drivers with `vfs`: 1:3 null, 1:5 zero,
// 1:7 full, 1:8 random, 1:9 urandom.
void RegisterMemoryDevices(vfs::Vfs& vfs);

// RegisterMemoryDevices, then a tmpfs (mode 0755) on /dev (made in the
// rootfs's upper layer if missing) with those nodes (0666) and the
// links fd, stdin, stdout and stderr into /proc/self/fd, and a tmpfs
// (mode 1777) on /dev/shm. Errors: those of
// mkdir, mount and mknod in the VFS.
Result<void> MountDev(vfs::Vfs& vfs);

}  // namespace veil::sentry
