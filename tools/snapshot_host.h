// SPDX-License-Identifier: Apache-2.0
//
// Copies between a host directory and a veil VFS tree, for `veil snapshot`
// and `veil restore` on plain directories (until the sentry's overlay
// provides the upper layer to snapshot).
//
// Both directions keep what a snapshot image keeps: file bytes with their
// holes, directories, symlinks, hard links, device nodes, FIFOs, sockets,
// mode, owner, atime/mtime and xattrs. Neither follows symlinks nor
// crosses into other host filesystems.
#pragma once

#include <cstdint>
#include <string>

#include "overlay/snapshot/error.h"
#include "overlay/snapshot/snapshot.h"
#include "vfs/vfs.h"

namespace veil::tools {

struct HostCopyStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  // Operations that the host refused for lack of privilege (chown,
  // mknod of a device, trusted.* xattrs as non-root): skipped, counted.
  uint64_t skipped = 0;
};

// Copies the tree under host directory `dir` into the VFS directory
// `target` (empty), as root. Entry 0's metadata goes to `target`.
snapshot::SnapshotResult<HostCopyStats> LoadHostTree(
    const std::string& dir, vfs::Vfs& vfs, const vfs::Location& target,
    const snapshot::ProgressFn& progress);

// Copies the VFS tree under `source` into the empty host directory `dir`.
snapshot::SnapshotResult<HostCopyStats> StoreHostTree(
    vfs::Vfs& vfs, const vfs::Location& source, const std::string& dir,
    const snapshot::ProgressFn& progress);

}  // namespace veil::tools
