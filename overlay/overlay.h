// SPDX-License-Identifier: Apache-2.0
//
// OverlayFs: a union of one writable upper filesystem over one or more
// read-only lower filesystems, with Linux overlayfs semantics (the
// kernel's with redirect_dir=on, index=off, metacopy=off; see DirRename).
// Linux analogue: fs/overlayfs. veil's rootfs is an OverlayFs whose lower is the gofer
// client (the image) and whose upper is a tmpfs, so writes never reach the
// host.
//
// On-layer format (the kernel's, so an upper layer reads the same way):
//  - a whiteout is a 0:0 character device; it hides the name below it;
//  - a directory with xattr `trusted.overlay.opaque` = "y" hides everything
//    below it;
//  - `trusted.overlay.*` xattrs on layer files are private; a user's own
//    `trusted.overlay.X` is stored escaped as `trusted.overlay.overlay.X`;
//  - an upper directory moved away from its lower path carries
//    `trusted.overlay.redirect` (see DirRename), as the kernel's;
//  - an upper file copied up from a lower file whose identity it keeps
//    carries `trusted.overlay.veil.origin` (8 bytes, little endian: the
//    overlay inode number it inherited). veil's own format, named apart
//    from the kernel's file-handle `origin` so neither misreads the other.
//
// Inode numbers ("xino"): every inode reports the overlay's st_dev and
// st_ino = (fsid << 56) | real st_ino, where fsid is 0 for the upper and
// 1..n for the lower filesystems. A file copied up from a lower file with
// one link keeps the lower number (it is stored in the origin xattr), as
// overlayfs does when layers share a filesystem; a copy of a lower hard
// link (nlink > 1) breaks the link and reports its upper number, as Linux
// without index=on. A real number that needs the top 8 bits is mapped to
// a number the overlay allocates (fsid 255), stable while it is mounted.
//
// Data: a regular file is read from the layer that holds it; opening for
// write (or O_TRUNC), truncate, chmod/chown/utimens, xattr changes and
// link copy the file up first (parents first, data once, keeping mode,
// owner, times and xattrs). A description opened read-only before a
// copy-up reads the upper copy afterwards, as Linux >= 4.19 does.
//
// Ownership: refcounted. The overlay holds its layers; overlay inodes hold
// layer inodes, so the layers outlive every overlay inode.
//
// Locking: the VFS holds the overlay's mutex() around every inode hook.
// Under it the overlay takes one layer's mutex at a time, only for the
// layer call it makes, so the order is always overlay -> one layer, never
// two layers together (upper and lower are distinct filesystems). Layers
// never call back into the overlay. Open-file I/O takes the overlay mutex
// briefly to find the layer file, then does the I/O without it.
//
// Contract for layers: the upper and the lowers are private to the
// overlay (not changed behind its back, as Linux requires), and one
// OverlayFs is served through one dentry tree (one Vfs, whose bind mounts
// share it): the VFS caches names without revalidation.
#pragma once

#include <sys/statfs.h>

#include <cstdint>
#include <map>
#include <vector>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/filesystem.h"
#include "vfs/inode.h"

namespace veil::overlay {

namespace internal {
class OverlayInode;
}  // namespace internal

// How rename(2) treats a directory that exists in a lower layer. Either
// way, redirects already on the upper layer (from a snapshot, say) are
// followed, as Linux does by default (redirect_always_follow).
enum class DirRename {
  // The directory is copied up (itself, not its contents) and moved; its
  // upper copy records where its lower directories are in
  // `trusted.overlay.redirect` (its old name, or "/path" from the lower
  // roots), as Linux with redirect_dir=on. The rootfs default: programs
  // expect rename(2) of a directory to work.
  kRedirect,
  // EXDEV, as Linux without redirect_dir (the kernel's default): mv(1)
  // and friends fall back to copying the tree.
  kExdev,
};

struct OverlayOptions {
  DirRename dir_rename = DirRename::kRedirect;
};

class OverlayFs final : public vfs::Filesystem {
 public:
  // `upper` is written; `lowers` (topmost first, at least one) are only
  // read. EINVAL if there is no lower, more than 254 lowers, or one
  // filesystem appears twice; ENOTDIR if a root is not a directory.
  static Result<Ref<OverlayFs>> Create(Ref<vfs::Filesystem> upper,
                                       std::vector<Ref<vfs::Filesystem>> lowers,
                                       const OverlayOptions& options = {});

  const char* TypeName() const override { return "overlay"; }
  Ref<vfs::Inode> Root() override;
  // The upper's statfs as an overlay (f_type OVERLAYFS_SUPER_MAGIC).
  Result<struct statfs> StatFsLocked() override;
  // setxattr/removexattr of any name copy up first (overlayfs's catch-all
  // xattr handler); the namespace is checked after.
  bool ResolvesXattrNamespaces() const override { return true; }

  vfs::Filesystem& upper() const { return *upper_; }
  size_t lower_count() const { return lowers_.size(); }
  const OverlayOptions& options() const { return options_; }
  // ovl_allow_offline_changes: whether files may be added to the lower
  // layers between mounts and show up. Not with redirects, which name
  // lower paths; then the overlay also marks new directories in merged
  // ones opaque, as Linux does.
  bool AllowsOfflineChanges() const {
    return options_.dir_rename != DirRename::kRedirect;
  }

  // The xino fsid of lower `lower_index` (the upper's is 0). Create
  // rejects a filesystem given twice, so each layer is its own.
  static uint32_t FsidOfLower(size_t lower_index) {
    return static_cast<uint32_t>(lower_index + 1);
  }
  // The overlay inode number of real inode `real_ino` of fsid `fsid`.
  // Caller holds mutex().
  uint64_t MapInoLocked(uint32_t fsid, uint64_t real_ino);

 private:
  friend class RefCounted<vfs::Filesystem>;
  OverlayFs(Ref<vfs::Filesystem> upper,
            std::vector<Ref<vfs::Filesystem>> lowers,
            const OverlayOptions& options);
  ~OverlayFs() override;

  // Declared before root_ so that they outlive it: overlay inodes hold
  // layer inodes, which do not hold their filesystems.
  const Ref<vfs::Filesystem> upper_;
  const std::vector<Ref<vfs::Filesystem>> lowers_;
  const OverlayOptions options_;
  RefPtr<internal::OverlayInode> root_;
  // Real numbers too big for the xino split, by (fsid, real ino). Guarded
  // by mutex().
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> overflow_inos_;
  uint64_t next_overflow_ino_ = 1;
};

}  // namespace veil::overlay
