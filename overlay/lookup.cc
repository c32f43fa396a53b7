// SPDX-License-Identifier: Apache-2.0
//
// Name lookup across the layers (fs/overlayfs/namei.c ovl_lookup,
// ovl_lookup_single, ovl_lower_positive) and the layer helpers.
#include <sys/stat.h>

#include <mutex>

#include "overlay/internal/inode.h"

namespace veil::overlay::internal {

bool IsWhiteoutLocked(vfs::Inode& inode) {
  if (inode.type() != S_IFCHR) return false;
  return inode.GetAttrLocked().rdev == 0;
}

bool IsWhiteout(vfs::Inode& inode) {
  if (inode.type() != S_IFCHR) return false;
  std::lock_guard lock(inode.fs().mutex());
  return IsWhiteoutLocked(inode);
}

namespace {

bool IsOpaqueDirLocked(vfs::Inode& inode) {
  if (!inode.IsDir()) return false;
  Result<std::string> v = inode.GetXattrLocked(kOpaqueXattr);
  return v && *v == "y";
}

}  // namespace

bool IsImpureDirLocked(vfs::Inode& inode) {
  if (!inode.IsDir()) return false;
  Result<std::string> v = inode.GetXattrLocked(kImpureXattr);
  return v && *v == "y";
}

bool IsOpaqueDir(vfs::Inode& inode) {
  std::lock_guard lock(inode.fs().mutex());
  return IsOpaqueDirLocked(inode);
}

vfs::CreateSpec WhiteoutSpec() {
  // ovl_whiteout/vfs_whiteout: mode 0, owned by the mounter (root).
  vfs::CreateSpec spec;
  spec.mode = S_IFCHR;
  spec.rdev = 0;
  return spec;
}

Result<Layers> OverlayInode::LookupLayersLocked(std::string_view name) {
  if (!IsDir()) return Errno(ENOTDIR);
  // A removed directory holds nothing (its upper became a whiteout).
  if (dead_) return Errno(ENOENT);
  Layers out;
  if (upper_) {
    std::lock_guard lock(upper_->fs().mutex());
    Result<Ref<vfs::Inode>> found = upper_->LookupLocked(name);
    if (found) {
      Ref<vfs::Inode>& child = *found;
      // A whiteout hides the name in every lower layer.
      if (IsWhiteoutLocked(*child)) return Errno(ENOENT);
      out.origin = ReadOriginXattrLocked(*child);
      out.opaque = IsOpaqueDirLocked(*child);
      out.impure = IsImpureDirLocked(*child);
      out.upper = RefPtr<vfs::Inode>(std::move(child));
    } else if (found.error().code() != ENOENT) {
      return found.error();
    }
  }
  // An upper non-directory, or an opaque upper directory, hides the lowers.
  if (out.upper && (!out.upper->IsDir() || out.opaque)) return out;
  for (const LowerEntry& dir : lowers_) {
    std::lock_guard lock(dir.inode->fs().mutex());
    Result<Ref<vfs::Inode>> found = dir.inode->LookupLocked(name);
    if (!found) {
      if (found.error().code() == ENOENT) continue;
      return found.error();
    }
    Ref<vfs::Inode>& child = *found;
    if (IsWhiteoutLocked(*child)) break;
    bool merging = out.upper || !out.lowers.empty();
    if (!child->IsDir()) {
      // ovl_lookup_single: a non-directory ends the stack, and below a
      // directory it is not part of the name at all.
      if (!merging) out.lowers.push_back(LowerEntry{child, dir.layer});
      break;
    }
    bool opaque = IsOpaqueDirLocked(*child);
    out.lowers.push_back(LowerEntry{std::move(child), dir.layer});
    if (opaque) break;
  }
  if (!out.upper && out.lowers.empty()) return Errno(ENOENT);
  return out;
}

Result<Ref<vfs::Inode>> OverlayInode::LookupLocked(std::string_view name) {
  Layers layers = VEIL_TRY(LookupLayersLocked(name));
  return Ref<vfs::Inode>(MakeRef<OverlayInode>(
      ofs(), std::move(layers), RefPtr<OverlayInode>(this), name));
}

bool OverlayInode::LowerPositiveLocked(std::string_view name,
                                       const OverlayInode& child) {
  // A child without an upper copy lives in a lower layer.
  if (!child.upper_) return true;
  for (const LowerEntry& dir : lowers_) {
    std::lock_guard lock(dir.inode->fs().mutex());
    Result<Ref<vfs::Inode>> found = dir.inode->LookupLocked(name);
    if (!found) {
      int err = found.error().code();
      if (err == ENOENT || err == ENAMETOOLONG) continue;
      return true;  // "assume something is there, we just couldn't access it"
    }
    return !IsWhiteoutLocked(**found);
  }
  return false;
}

}  // namespace veil::overlay::internal
