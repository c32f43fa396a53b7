// SPDX-License-Identifier: Apache-2.0
//
// The mount points of the calling process's mount namespace, read with
// listmount(2) and statmount(2) (Linux 6.8) rather than /proc, which the
// confined gofer does not have.
//
// Why the gofer needs them: in its namespace host mounts below DIR are
// mounts too, so the kernel refuses rmdir and rename of a mount point
// (EBUSY), but Linux lets anyone rename an *ancestor* of one, and the mount
// moves along, in the host's namespace as well. HostBackend therefore asks,
// before it renames a directory, whether any mount point lies below it.
//
// Thread-safety: stateless; each call reads the table afresh.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "gofer/server/host_node.h"

namespace veil::gofer {

// Every mount point below the process's root, as a path relative to that
// root ("/a/deep"), the root itself excluded; a mount unmounted while
// the table is read is left out. Errors: ENOSYS before Linux 6.8 (or
// under a seccomp filter without the calls); any other listmount(2) or
// statmount(2) errno (a mount point could not be read: the list would be
// incomplete); ENODATA if the kernel gave no mount point for a mount.
Result<std::vector<std::string>> MountPointsBelowRoot();

// True if a mount point in `points` (as above) lies strictly below the
// directory `dir`, found by walking each point's parent components from
// `root_fd` (the process's root) with the backend's lookups and comparing
// identities. Components that no longer resolve are skipped.
bool HasMountPointBelow(int root_fd, const std::vector<std::string>& points,
                        const InodeKey& dir);

}  // namespace veil::gofer
