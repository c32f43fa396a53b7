// SPDX-License-Identifier: Apache-2.0
//
// Mount: a filesystem (or a subtree of one, for bind mounts) attached at a
// dentry of another mount. Linux analogue: struct mount / vfsmount.
// Location: a (mount, dentry) pair naming one place in the mount tree.
// Linux analogue: struct path.
//
// Ownership: refcounted. The mount table holds each mount; a Location holds
// its mount, so a mount with open files, a cwd on it, or a resolution in
// progress is busy and cannot be unmounted (EBUSY).
// Thread-safety: immutable after creation except where it is attached
// (parent_, mountpoint_), which only MountTable reads and writes, under its
// lock (MountTable::MountPointOf).
#pragma once

#include <cstdint>

#include "base/ref.h"
#include "vfs/dentry.h"
#include "vfs/filesystem.h"

namespace veil::vfs {

enum MountFlags : uint32_t {
  kMountReadOnly = 1u << 0,  // MS_RDONLY: writes fail with EROFS
  kMountNoSuid = 1u << 1,    // MS_NOSUID
  kMountNoExec = 1u << 2,    // MS_NOEXEC
  kMountNoDev = 1u << 3,     // MS_NODEV
};

class Mount final : public RefCounted<Mount> {
 public:
  Mount(Ref<Filesystem> fs, Ref<Dentry> root, uint32_t flags)
      : fs_(std::move(fs)), root_(std::move(root)), flags_(flags) {}

  Filesystem& fs() const { return *fs_; }
  const Ref<Dentry>& root() const { return root_; }
  uint32_t flags() const { return flags_; }
  bool read_only() const { return flags_ & kMountReadOnly; }

  // Whether references exist beyond `held` known ones (Linux: mnt_count
  // in propagate_mount_busy): open files, cwds, roots and resolutions in
  // progress each hold one. Meaningful under the mount table's exclusive
  // lock: a new reference is then made only by copying an existing one
  // (already counted), since resolution into a mount takes the lock shared.
  bool BusyBeyond(uint64_t held) const { return RefCount() > held; }

 private:
  friend class MountTable;
  const Ref<Filesystem> fs_;
  const Ref<Dentry> root_;
  const uint32_t flags_;
  // Where this mount is attached: null for the namespace root and once
  // unmounted. Guarded by the owning MountTable's mutex (the analysis
  // cannot name another object's lock here; MountTable's methods carry
  // the claim).
  RefPtr<Mount> parent_;
  RefPtr<Dentry> mountpoint_;
};

struct Location {
  Ref<Mount> mount;
  Ref<Dentry> dentry;

  friend bool operator==(const Location& a, const Location& b) {
    return a.mount.get() == b.mount.get() && a.dentry.get() == b.dentry.get();
  }
};

}  // namespace veil::vfs
