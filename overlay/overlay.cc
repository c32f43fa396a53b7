// SPDX-License-Identifier: Apache-2.0
//
// OverlayFs: the filesystem object, its root and its inode numbers
// (fs/overlayfs/super.c ovl_fill_super, ovl_statfs; inode.c ovl_map_ino).
#include "overlay/overlay.h"

#include <linux/magic.h>

#include <set>

#include "overlay/internal/inode.h"

namespace veil::overlay {

using internal::Layers;
using internal::LowerEntry;
using internal::OverlayInode;

namespace {

// xino: the top bits of an inode number name the layer's filesystem.
constexpr unsigned kXinoShift = 56;
// The fsid of numbers the overlay allocates itself.
constexpr uint32_t kOverflowFsid = 0xff;

}  // namespace

OverlayFs::OverlayFs(Ref<vfs::Filesystem> upper,
                     std::vector<Ref<vfs::Filesystem>> lowers,
                     const OverlayOptions& options)
    : upper_(std::move(upper)), lowers_(std::move(lowers)), options_(options) {}

OverlayFs::~OverlayFs() = default;

Result<Ref<OverlayFs>> OverlayFs::Create(
    Ref<vfs::Filesystem> upper, std::vector<Ref<vfs::Filesystem>> lowers,
    const OverlayOptions& options) {
  // ovl_get_lowerstack: at least one lower layer; fsids must fit below
  // the overflow fsid.
  if (lowers.empty() || lowers.size() >= kOverflowFsid) return Errno(EINVAL);
  std::set<const vfs::Filesystem*> seen{upper.get()};
  for (const Ref<vfs::Filesystem>& lower : lowers) {
    // A layer twice would share inodes between "different" layers and
    // take its mutex twice in one copy-up.
    if (!seen.insert(lower.get()).second) return Errno(EINVAL);
  }
  Ref<OverlayFs> fs = AdoptRef(*new OverlayFs(upper, lowers, options));
  Layers layers;
  layers.upper = RefPtr<vfs::Inode>(upper->Root());
  if (!layers.upper->IsDir()) return Errno(ENOTDIR);
  {
    MutexLock lock(upper->mutex());
    layers.impure = internal::IsImpureDirLocked(*layers.upper);
  }
  for (size_t i = 0; i < lowers.size(); ++i) {
    Ref<vfs::Inode> root = lowers[i]->Root();
    if (!root->IsDir()) return Errno(ENOTDIR);
    // The root merges every lower root, opaque or not (ovl_get_lowerstack).
    layers.lowers.push_back(LowerEntry{root, static_cast<uint32_t>(i)});
  }
  MutexLock lock(fs->mutex());
  fs->root_ = RefPtr<OverlayInode>(
      MakeRef<OverlayInode>(*fs, std::move(layers), nullptr, ""));
  return fs;
}

Ref<vfs::Inode> OverlayFs::Root() { return root_.ToRef(); }

Result<struct statfs> OverlayFs::StatFsLocked() {
  struct statfs st;
  {
    MutexLock lock(upper_->mutex());
    st = VEIL_TRY(upper_->StatFsLocked());
  }
  // ovl_statfs: the upper's numbers under the overlay's own type and fsid.
  st.f_type = OVERLAYFS_SUPER_MAGIC;
  uint64_t dev = this->dev();
  st.f_fsid.__val[0] = static_cast<int>(dev & 0xffffffff);
  st.f_fsid.__val[1] = static_cast<int>(dev >> 32);
  return st;
}

uint64_t OverlayFs::MapInoLocked(uint32_t fsid, uint64_t real_ino) {
  if ((real_ino >> kXinoShift) == 0)
    return (uint64_t{fsid} << kXinoShift) | real_ino;
  // Linux falls back to a per-layer st_dev here; veil keeps one st_dev
  // and hands out a number of its own instead.
  auto [it, inserted] =
      overflow_inos_.try_emplace({fsid, real_ino}, next_overflow_ino_);
  if (inserted) ++next_overflow_ino_;
  return (uint64_t{kOverflowFsid} << kXinoShift) | it->second;
}

}  // namespace veil::overlay
