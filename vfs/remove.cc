// SPDX-License-Identifier: Apache-2.0
//
// unlink(2) and rmdir(2): fs/namei.c do_unlinkat, do_rmdir, vfs_unlink,
// vfs_rmdir, may_delete.

#include "vfs/internal/util.h"
#include "vfs/vfs.h"

namespace veil::vfs {

Result<void> Vfs::UnlinkAt(const Context& ctx, const Location& dir,
                           std::string_view path, int flags) {
  if (flags & ~AT_REMOVEDIR) return Errno(EINVAL);
  const bool rmdir = flags & AT_REMOVEDIR;
  internal::Resolver r = VEIL_TRY(internal::Resolver::Create(
      *this, ctx, dir, path, 0, internal::EmptyPath::kRefuse));
  internal::Last last = VEIL_TRY(r.WalkToLast());
  switch (last.type) {
    case internal::LastType::kNormal:
      break;
    // do_rmdir: "x/.." ENOTEMPTY, "x/." EINVAL, "/" EBUSY;
    // do_unlinkat: any of them EISDIR.
    case internal::LastType::kDotDot:
      return Errno(rmdir ? ENOTEMPTY : EISDIR);
    case internal::LastType::kDot:
      return Errno(rmdir ? EINVAL : EISDIR);
    case internal::LastType::kRoot:
      return Errno(rmdir ? EBUSY : EISDIR);
  }
  VEIL_TRY_VOID(internal::WantWrite(last.parent));
  Dentry& parent = *last.parent.dentry;
  MutexLock lock(parent.fs().mutex());
  RefPtr<Dentry> child = VEIL_TRY(internal::LookupLocked(parent, last.name));
  if (!rmdir && last.must_be_dir) {
    // do_unlinkat "slashes": unlink("name/").
    if (!child) return Errno(ENOENT);
    return Errno(child->inode().IsDir() ? EISDIR : ENOTDIR);
  }
  if (!child) return Errno(ENOENT);
  VEIL_TRY_VOID(
      internal::MayDeleteLocked(ctx.creds, parent, *child,
                                rmdir ? internal::NameKind::kDirectory
                                      : internal::NameKind::kNonDirectory));
  // A mount point cannot be removed.
  if (child->mount_count() > 0) return Errno(EBUSY);
  VEIL_TRY_VOID(parent.inode().UnlinkLocked(last.name, child->inode()));
  parent.RemoveChildLocked(last.name);
  return Ok();
}

}  // namespace veil::vfs
