// SPDX-License-Identifier: Apache-2.0
//
// Host directories as the trees of `veil snapshot DIR IMG` and `veil
// restore IMG DIR` (overlay/snapshot/tree.h): the image is written straight
// from the host files and applied straight into the host directory, with
// no copy of the tree in a veil tmpfs in between.
//
// `veil restore` runs as root into directories other users may reach, so
// nothing here acts on a host path after it was checked or created: DIR is
// opened once; every entry is created relative to its parent's
// descriptor, with one name, never following a symlink; its metadata is
// then set through its own descriptor (the file's, the directory's, or an
// O_PATH one for symlinks and nodes, checked to be the entry just made).
// Xattrs, which have no *at() calls before Linux 6.13, go through the
// entry's descriptor (f*xattr, or /proc/self/fd/N for an O_PATH one),
// never through a built path, so there is no length limit on paths
// either. A directory holds one host descriptor while it is in use: the
// writer keeps the directories waiting in its breadth-first queue open,
// the restore every directory until the end (it sets their metadata
// last), so a tree needs about as many descriptors as it has directories
// (RaiseFdLimit in snapshot_cli.h). Memory is O(1) per directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/unique_fd.h"
#include "overlay/snapshot/error.h"
#include "overlay/snapshot/tree.h"

namespace veil::tools {

// Reads the tree under host directory `dir` (a symlink at `dir` itself is
// followed; nothing below it is). Files are opened O_NOATIME where the
// host allows, so their atimes stay as they were.
snapshot::SnapshotResult<std::unique_ptr<snapshot::SourceDir>> HostSource(
    const std::string& dir);

// Whether a restore may bring setuid/setgid bits on files, file
// capabilities (security.capability) and device nodes onto the host.
enum class Privileged {
  kStrip,  // the default: left out, each counted and the first few named
  kKeep,   // --keep-privileged
};

// Whether a restore target that others can write is accepted.
enum class SharedTarget {
  kRefuse,  // the default
  kAccept,  // --force
};

// What a restore did not bring onto the host, counted.
struct RestoreReport {
  // Refused by the host for lack of privilege (not root): chown to other
  // users, device nodes, trusted.* xattrs.
  uint64_t skipped = 0;
  // Left out by Privileged::kStrip.
  uint64_t stripped = 0;
};

// The restore target, opened once.
struct RestoreDir {
  UniqueFd fd;
  // Set when it did not exist and was made (mode 0700): its parent and
  // name there, for RemoveCreated.
  UniqueFd parent;
  std::string name;

  bool created() const { return static_cast<bool>(parent); }
  // Removes the directory made for the restore (it must still be empty),
  // through the parent's descriptor, never by path.
  void RemoveCreated();
};

// Opens (or, when missing, creates) the directory `dir` to restore into,
// one component at a time without following a symlink that someone other
// than the caller or root owns (who could point it elsewhere meanwhile).
// Refused: not a directory; not empty; and, unless `shared` is kAccept, a
// directory someone other than the caller and root could change entries
// in while the restore runs (owned by another user, or group- or
// world-writable, which includes write granted by an ACL), or a path
// through another user's symlink. Messages name `dir` and the reason.
snapshot::SnapshotResult<RestoreDir> OpenRestoreDir(const std::string& dir,
                                                    SharedTarget shared);

// The target of a restore into `dir` (from OpenRestoreDir); `display` is
// its name for warnings. Counts go to `*report` (borrowed; must outlive
// the target). As non-root, what the host refuses for lack of privilege
// (see RestoreReport::skipped) is skipped with a warning on stderr (the
// first few named) and the rest of the tree is still written.
std::unique_ptr<snapshot::TargetDir> HostTarget(UniqueFd dir,
                                                std::string display,
                                                Privileged privileged,
                                                RestoreReport* report);

namespace internal {

// Whether the directory open at `fd` has no entries but "." and "..".
Result<bool> IsEmptyDir(int fd);

// "/proc/self/fd/N": how an O_PATH descriptor's xattrs (and, before
// Linux 6.6's fchmodat2, its mode) are reached. The magic link leads to
// the very inode the descriptor holds, a symlink included, whatever its
// name now is.
inline std::string ProcFdPath(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace internal
}  // namespace veil::tools
