// SPDX-License-Identifier: Apache-2.0
//
// rename(2)/renameat2(2): fs/namei.c do_renameat2 and vfs_rename.
#include <linux/fs.h>


#include "vfs/internal/create.h"
#include "vfs/vfs.h"

namespace veil::vfs {

Result<void> Vfs::RenameAt(const Context& ctx, const Location& old_dir,
                           std::string_view old_path, const Location& new_dir,
                           std::string_view new_path, unsigned flags) {
  using internal::LastType;
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
    return Errno(EINVAL);
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
    return Errno(EINVAL);
  if ((flags & RENAME_WHITEOUT) && (flags & RENAME_EXCHANGE))
    return Errno(EINVAL);
  // NOTE: since Linux 5.8 a whiteout needs no CAP_MKNOD.

  internal::Resolver old_r = VEIL_TRY(
      internal::Resolver::Create(*this, ctx, old_dir, old_path, 0,
                                 internal::EmptyPath::kRefuse));
  internal::Last old_last = VEIL_TRY(old_r.WalkToLast());
  internal::Resolver new_r = VEIL_TRY(
      internal::Resolver::Create(*this, ctx, new_dir, new_path, 0,
                                 internal::EmptyPath::kRefuse));
  internal::Last new_last = VEIL_TRY(new_r.WalkToLast());

  if (old_last.parent.mount.get() != new_last.parent.mount.get())
    return Errno(EXDEV);
  if (old_last.type != LastType::kNormal) return Errno(EBUSY);
  if (new_last.type != LastType::kNormal)
    return Errno((flags & RENAME_NOREPLACE) ? EEXIST : EBUSY);
  VEIL_TRY_VOID(internal::WantWrite(old_last.parent));

  Dentry& old_parent = *old_last.parent.dentry;
  Dentry& new_parent = *new_last.parent.dentry;
  MutexLock lock(old_parent.fs().mutex());
  old_parent.SameFsLocked(new_parent);  // one mount, checked above
  RefPtr<Dentry> source =
      VEIL_TRY(internal::LookupLocked(old_parent, old_last.name));
  if (!source) return Errno(ENOENT);
  RefPtr<Dentry> target =
      VEIL_TRY(internal::LookupLocked(new_parent, new_last.name));
  if ((flags & RENAME_NOREPLACE) && target) return Errno(EEXIST);
  old_parent.SameFsLocked(*source);
  if (target) old_parent.SameFsLocked(*target);
  if (flags & RENAME_EXCHANGE) {
    if (!target) return Errno(ENOENT);
    if (!target->inode().IsDir() && new_last.must_be_dir)
      return Errno(ENOTDIR);
  }
  const bool is_dir = source->inode().IsDir();
  if (!is_dir) {
    if (old_last.must_be_dir) return Errno(ENOTDIR);
    if (!(flags & RENAME_EXCHANGE) && new_last.must_be_dir)
      return Errno(ENOTDIR);
  }
  // lock_rename's trap: the source may not be an ancestor of the target
  // directory (EINVAL), nor the target an ancestor of the source (ENOTEMPTY,
  // or EINVAL for an exchange).
  if (&old_parent != &new_parent) {
    if (source->IsAncestorOfLocked(new_parent)) return Errno(EINVAL);
    if (target && target->IsAncestorOfLocked(old_parent))
      return Errno((flags & RENAME_EXCHANGE) ? EINVAL : ENOTEMPTY);
  }

  // vfs_rename.
  if (target && &source->inode() == &target->inode()) return Ok();
  const auto kind_of = [](bool dir) {
    return dir ? internal::NameKind::kDirectory
               : internal::NameKind::kNonDirectory;
  };
  VEIL_TRY_VOID(internal::MayDeleteLocked(ctx.creds, old_parent, *source,
                                          kind_of(is_dir)));
  bool new_is_dir = false;
  if (!target) {
    VEIL_TRY_VOID(internal::MayCreateLocked(ctx.creds, new_parent));
  } else {
    new_is_dir = target->inode().IsDir();
    VEIL_TRY_VOID(internal::MayDeleteLocked(
        ctx.creds, new_parent, *target,
        kind_of((flags & RENAME_EXCHANGE) ? new_is_dir : is_dir)));
  }
  if (&old_parent != &new_parent) {
    // A directory changing parent has its ".." rewritten: write access.
    if (is_dir)
      VEIL_TRY_VOID(internal::CheckPermission(
          ctx.creds, source->inode().GetAttrLocked(), internal::kMayWrite));
    if ((flags & RENAME_EXCHANGE) && new_is_dir)
      VEIL_TRY_VOID(internal::CheckPermission(
          ctx.creds, target->inode().GetAttrLocked(), internal::kMayWrite));
  }
  if (source->mount_count() > 0 || (target && target->mount_count() > 0))
    return Errno(EBUSY);
  VEIL_TRY_VOID(old_parent.inode().RenameLocked(
      old_last.name, source->inode(), new_parent.inode(), new_last.name,
      target ? &target->inode() : nullptr, flags));

  if (flags & RENAME_EXCHANGE) {
    Dentry::ExchangeLocked(*source, *target);
    return Ok();
  }
  source->MoveLocked(new_parent, new_last.name);
  if (flags & RENAME_WHITEOUT) {
    // shmem_whiteout: a 0:0 character device, mode 0, owned like any new
    // file, takes the old name. The next lookup finds it.
    CreateSpec spec = internal::MakeCreateSpec(
        ctx, old_parent.inode().GetAttrLocked(), S_IFCHR,
        internal::Umask::kIgnore);
    // NOTE: Linux creates the whiteout before moving; if this fails the
    // rename has happened without it, which only memory exhaustion causes.
    VEIL_TRY(old_parent.inode().CreateLocked(old_last.name, spec));
  }
  return Ok();
}

}  // namespace veil::vfs
