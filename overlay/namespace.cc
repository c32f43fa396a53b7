// SPDX-License-Identifier: Apache-2.0
//
// Namespace changes: create, link, unlink/rmdir and rename
// (fs/overlayfs/dir.c ovl_create_or_link, ovl_create_over_whiteout,
// ovl_do_remove, ovl_rename). The VFS has done the generic checks; what is
// left is the overlay's part, in Linux's order: EXDEV and ENOTEMPTY before
// any copy-up, then copy-ups, then the upper change.
#include <linux/fs.h>
#include <sys/stat.h>


#include "overlay/internal/inode.h"

namespace veil::overlay::internal {
namespace {

// The upper entry `name` of `udir` if it is a whiteout. Caller holds the
// upper's lock.
RefPtr<vfs::Inode> UpperWhiteoutLocked(vfs::Inode& udir,
                                       std::string_view name) {
  Result<Ref<vfs::Inode>> found = udir.LookupLocked(name);
  if (found && IsWhiteoutLocked(**found)) return RefPtr<vfs::Inode>(*found);
  return nullptr;
}

// ovl_can_move: without redirects a directory moves only if it exists in
// the upper layer alone.
bool CanMove(const OverlayInode& inode) {
  return inode.ofs().options().dir_rename == DirRename::kRedirect ||
         !inode.IsDir() || (inode.upper() && !inode.IsMerged());
}

}  // namespace

Result<std::string> OverlayInode::RedirectForMoveLocked(bool samedir) const {
  if (samedir) return redirect_ ? *redirect_ : name_;
  // The absolute lower path: the names (or redirects) of this directory
  // and its ancestors, up to the root or the first absolute redirect.
  std::string path;
  for (const OverlayInode* d = this; d->parent_; d = d->parent_.get()) {
    const std::string& name = d->redirect_ ? *d->redirect_ : d->name_;
    const bool absolute = !name.empty() && name[0] == '/';
    // "If path is too long, fall back to userspace move."
    if (path.size() + name.size() + (absolute ? 0 : 1) > kRedirectMax)
      return Errno(EXDEV);
    path.insert(0, name);
    if (absolute) return path;
    path.insert(0, "/");
  }
  return path;
}

Result<Ref<vfs::Inode>> OverlayInode::CreateLocked(
    std::string_view name, const vfs::CreateSpec& spec) {
  if (!IsDir()) return Errno(ENOTDIR);
  // ovl_mknod: "Don't allow creation of whiteout on overlay".
  if (S_ISCHR(spec.mode) && spec.rdev == 0) return Errno(EPERM);
  VEIL_TRY_VOID(CopyUpLocked(CopyData::kNo));
  vfs::Inode& udir = *upper_;
  Layers layers;
  {
    MutexLock lock(udir.fs().mutex());
    // ovl_create_over_whiteout: the new file takes the whiteout's place; a
    // new directory there is opaque, so the removed lower one stays hidden.
    RefPtr<vfs::Inode> whiteout = UpperWhiteoutLocked(udir, name);
    if (whiteout) VEIL_TRY_VOID(udir.UnlinkLocked(name, *whiteout));
    Result<Ref<vfs::Inode>> made = udir.CreateLocked(name, spec);
    if (made && whiteout && S_ISDIR(spec.mode)) {
      if (Result<void> r = (*made)->SetXattrLocked(kOpaqueXattr, "y", 0); !r) {
        (void)udir.UnlinkLocked(name, **made);
        made = r.error();
      }
      layers.opaque = true;
    } else if (made && S_ISDIR(spec.mode) && IsMerged() &&
               !ofs().AllowsOfflineChanges()) {
      // ovl_create_upper: a new directory in a merged one is made opaque
      // ("just an optimization, allow to fail") unless the layers may be
      // changed offline, which redirects rule out.
      if ((*made)->SetXattrLocked(kOpaqueXattr, "y", 0)) layers.opaque = true;
    }
    if (!made) {
      // Put the whiteout back, so the lower file stays hidden.
      if (whiteout) (void)udir.CreateLocked(name, WhiteoutSpec());
      return made.error();
    }
    layers.upper = RefPtr<vfs::Inode>(std::move(*made));
  }
  BumpVersion(false);
  return Ref<vfs::Inode>(MakeRef<OverlayInode>(
      ofs(), std::move(layers), RefPtr<OverlayInode>(this), name));
}

// ovl_link: copy the target up, then link its upper copy.
Result<void> OverlayInode::LinkLocked(std::string_view name,
                                      vfs::Inode& target) {
  auto& t = static_cast<OverlayInode&>(target);
  VEIL_TRY_VOID(t.CopyUpLocked());
  VEIL_TRY_VOID(CopyUpLocked(CopyData::kNo));
  // ovl_create_or_link: a link to a file with an origin makes the
  // directory impure.
  if (t.HasOrigin()) VEIL_TRY_VOID(SetImpureLocked());
  vfs::Inode& udir = *upper_;
  {
    MutexLock lock(udir.fs().mutex());
    RefPtr<vfs::Inode> whiteout = UpperWhiteoutLocked(udir, name);
    if (whiteout) VEIL_TRY_VOID(udir.UnlinkLocked(name, *whiteout));
    if (Result<void> r = udir.LinkLocked(name, *t.upper_); !r) {
      if (whiteout) (void)udir.CreateLocked(name, WhiteoutSpec());
      return r;
    }
  }
  BumpVersion(false);
  return Ok();
}

// ovl_do_remove: a name that a lower layer also holds is replaced by a
// whiteout; otherwise the upper entry just goes.
Result<void> OverlayInode::UnlinkLocked(std::string_view name,
                                        vfs::Inode& child) {
  auto& c = static_cast<OverlayInode&>(child);
  const bool is_dir = c.IsDir();
  const bool lower_positive = LowerPositiveLocked(name, c);
  std::vector<std::string> upper_whiteouts;
  // A directory with lower layers is empty if its merged listing holds
  // only whiteouts; a pure upper one is checked by the upper's rmdir.
  if (is_dir && (lower_positive || !c.PureUpper()))
    VEIL_TRY_VOID(c.CheckEmptyLocked(&upper_whiteouts));
  VEIL_TRY_VOID(CopyUpLocked(CopyData::kNo));
  if (!upper_whiteouts.empty())
    VEIL_TRY_VOID(c.ClearWhiteoutsLocked(upper_whiteouts));
  vfs::Inode& udir = *upper_;
  {
    MutexLock lock(udir.fs().mutex());
    if (!lower_positive) {
      // ovl_remove_upper notes the change even when the upper's unlink or
      // rmdir fails (ENOTEMPTY): a cached listing is dropped either way.
      Result<void> r = udir.UnlinkLocked(name, *c.upper_);
      BumpVersion(c.HasOrigin());
      VEIL_TRY_VOID(r);
    } else {
      if (c.upper_) VEIL_TRY_VOID(udir.UnlinkLocked(name, *c.upper_));
      VEIL_TRY(udir.CreateLocked(name, WhiteoutSpec()));
      BumpVersion(true);
    }
  }
  if (is_dir) c.dead_ = true;
  return Ok();
}

Result<void> OverlayInode::RenameLocked(std::string_view name,
                                        vfs::Inode& child,
                                        vfs::Inode& new_dir_inode,
                                        std::string_view new_name,
                                        vfs::Inode* replaced, unsigned flags) {
  auto& src = static_cast<OverlayInode&>(child);
  auto& new_dir = static_cast<OverlayInode&>(new_dir_inode);
  auto* victim = static_cast<OverlayInode*>(replaced);
  // ovl_rename: no RENAME_WHITEOUT on an overlay.
  if (flags & ~(RENAME_EXCHANGE | RENAME_NOREPLACE)) return Errno(EINVAL);
  const bool overwrite = !(flags & RENAME_EXCHANGE);
  // "Don't copy up directory trees" (without redirects).
  if (!CanMove(src)) return Errno(EXDEV);
  if (!overwrite && !CanMove(*victim)) return Errno(EXDEV);
  std::vector<std::string> victim_whiteouts;
  if (overwrite && victim && victim->IsDir() && !victim->PureUpper())
    VEIL_TRY_VOID(victim->CheckEmptyLocked(&victim_whiteouts));

  // What happens at the two names in the upper layer.
  bool exchange = !overwrite;
  bool whiteout_source = false;   // leave a whiteout at the old name
  bool cleanup_whiteout = false;  // a whiteout ends up at the old name: drop
  if (overwrite) {
    bool new_is_whiteout = false;
    if (!victim && new_dir.upper_) {
      MutexLock lock(new_dir.upper_->fs().mutex());
      new_is_whiteout = UpperWhiteoutLocked(*new_dir.upper_, new_name).get();
    }
    if (LowerPositiveLocked(name, src)) {
      // Whiteout the source, or swap the two whiteouts' roles.
      if (new_is_whiteout) {
        exchange = true;
      } else {
        whiteout_source = true;
      }
    } else if (src.IsDir() && new_is_whiteout) {
      // A directory cannot replace the whiteout (a non-directory).
      exchange = true;
      cleanup_whiteout = true;
    }
  }

  VEIL_TRY_VOID(src.CopyUpLocked());
  VEIL_TRY_VOID(CopyUpLocked(CopyData::kNo));
  VEIL_TRY_VOID(new_dir.CopyUpLocked(CopyData::kNo));
  if (!overwrite) VEIL_TRY_VOID(victim->CopyUpLocked());
  if (!victim_whiteouts.empty())
    VEIL_TRY_VOID(victim->ClearWhiteoutsLocked(victim_whiteouts));

  // Moving an entry with an origin to another directory makes that one
  // impure.
  const bool moved_impure = src.HasOrigin();
  const bool victim_impure = victim && victim->HasOrigin();
  if (this != &new_dir) {
    if (moved_impure) VEIL_TRY_VOID(new_dir.SetImpureLocked());
    if (!overwrite && victim_impure) VEIL_TRY_VOID(SetImpureLocked());
  }
  // A directory with lower layers keeps finding them through a redirect
  // (ovl_set_redirect: kept if it is relative and the directory stays, or
  // absolute; otherwise computed from where it is now). A pure upper
  // directory moving into a merged directory becomes opaque instead: a
  // lower directory of the same name must stay hidden under it.
  const bool samedir = this == &new_dir;
  std::optional<std::string> src_redirect, victim_redirect;
  if (src.IsDir() && src.MergeOrLower() &&
      !(src.redirect_ && (samedir || (*src.redirect_)[0] == '/')))
    src_redirect = VEIL_TRY(src.RedirectForMoveLocked(samedir));
  if (!overwrite && victim->IsDir() && victim->MergeOrLower() &&
      !(victim->redirect_ && (samedir || (*victim->redirect_)[0] == '/')))
    victim_redirect = VEIL_TRY(victim->RedirectForMoveLocked(samedir));
  const bool src_opaque = src.IsDir() && !src.MergeOrLower() && !src.opaque_ &&
                          new_dir.IsMerged();
  const bool victim_opaque = !overwrite && victim->IsDir() &&
                             !victim->MergeOrLower() && !victim->opaque_ &&
                             IsMerged();
  vfs::Inode& old_udir = *upper_;
  vfs::Inode& new_udir = *new_dir.upper_;
  {
    MutexLock lock(old_udir.fs().mutex());
    RefPtr<vfs::Inode> target;
    if (Result<Ref<vfs::Inode>> t = new_udir.LookupLocked(new_name); t) {
      target = RefPtr<vfs::Inode>(std::move(*t));
    } else if (t.error().code() != ENOENT) {
      return t.error();
    }
    // A redirect that cannot be stored falls back to EXDEV (mv copies).
    // One that is stored stays, even if the rename then fails: it names
    // the same lower directory wherever the directory is.
    if (src_redirect) {
      if (!src.upper_->SetXattrLocked(kRedirectXattr, *src_redirect, 0))
        return Errno(EXDEV);
      src.redirect_ = std::move(src_redirect);
    }
    if (victim_redirect) {
      if (!victim->upper_->SetXattrLocked(kRedirectXattr, *victim_redirect, 0))
        return Errno(EXDEV);
      victim->redirect_ = std::move(victim_redirect);
    }
    if (src_opaque) {
      VEIL_TRY_VOID(src.upper_->SetXattrLocked(kOpaqueXattr, "y", 0));
      src.opaque_ = true;
    }
    if (victim_opaque) {
      VEIL_TRY_VOID(victim->upper_->SetXattrLocked(kOpaqueXattr, "y", 0));
      victim->opaque_ = true;
    }
    VEIL_TRY_VOID(old_udir.RenameLocked(name, *src.upper_, new_udir, new_name,
                                        target.get(),
                                        exchange ? RENAME_EXCHANGE : 0));
    if (whiteout_source) VEIL_TRY(old_udir.CreateLocked(name, WhiteoutSpec()));
    if (cleanup_whiteout) VEIL_TRY_VOID(old_udir.UnlinkLocked(name, *target));
  }
  BumpVersion(moved_impure || (!overwrite && victim_impure));
  new_dir.BumpVersion(moved_impure || victim_impure);
  if (!overwrite) {
    victim->parent_ = RefPtr<OverlayInode>(this);
    victim->name_ = std::string(name);
  } else if (victim && victim->IsDir()) {
    victim->dead_ = true;
  }
  src.parent_ = RefPtr<OverlayInode>(&new_dir);
  src.name_ = std::string(new_name);
  return Ok();
}

}  // namespace veil::overlay::internal
