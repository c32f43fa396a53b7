// SPDX-License-Identifier: Apache-2.0
//
// Creating names: mkdir(2), mknod(2), symlink(2), link(2). open(2) with
// O_CREAT is in open.cc.
#include "vfs/internal/create.h"

#include <linux/limits.h>

#include "vfs/vfs.h"

namespace veil::vfs {
namespace internal {

Result<void> FilenameCreate(Vfs& vfs, const Context& ctx, const Location& dir,
                            std::string_view path, NameKind kind,
                            const CreateFn& fn) {
  Resolver r = VEIL_TRY(
      Resolver::Create(vfs, ctx, dir, path, 0, internal::EmptyPath::kRefuse));
  Last last = VEIL_TRY(r.WalkToLast());
  // filename_create: ".", ".." or "/" as the new name is EEXIST.
  if (last.type != LastType::kNormal) return Errno(EEXIST);
  VEIL_TRY_VOID(WantWrite(last.parent));
  Dentry& parent = *last.parent.dentry;
  MutexLock lock(parent.fs().mutex());
  RefPtr<Dentry> existing = VEIL_TRY(LookupLocked(parent, last.name));
  if (existing) return Errno(EEXIST);
  // "foo/" names a directory: creating anything else there is ENOENT.
  if (last.must_be_dir && kind != NameKind::kDirectory) return Errno(ENOENT);
  return fn(last.parent, last.name);
}

CreateSpec MakeCreateSpec(const Context& ctx, const Attr& dir, uint32_t mode,
                          Umask umask) {
  CreateSpec spec;
  if (umask == Umask::kApply) mode &= ~(ctx.umask & 0777) | S_IFMT;
  spec.uid = ctx.creds.fsuid;
  if (dir.mode & S_ISGID) {
    spec.gid = dir.gid;
    if (S_ISDIR(mode)) mode |= S_ISGID;
  } else {
    spec.gid = ctx.creds.fsgid;
  }
  // mode_strip_sgid: a group-executable setgid file in a setgid directory
  // keeps S_ISGID only if the caller is in the directory's group or has
  // CAP_FSETID.
  if (!S_ISDIR(mode) && (mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
      (dir.mode & S_ISGID) && !ctx.creds.InGroup(dir.gid) &&
      !ctx.creds.HasCap(Capability::kFsetid))
    mode &= ~S_ISGID;
  spec.mode = mode;
  return spec;
}

Result<Ref<Dentry>> CreateChildLocked(const Context& ctx, Dentry& parent,
                                      std::string_view name,
                                      const CreateSpec& spec) {
  VEIL_TRY_VOID(MayCreateLocked(ctx.creds, parent));
  // vfs_mknod: device nodes need CAP_MKNOD, except a whiteout (0:0 char).
  bool whiteout = S_ISCHR(spec.mode) && spec.rdev == 0;
  if ((S_ISCHR(spec.mode) || S_ISBLK(spec.mode)) && !whiteout &&
      !ctx.creds.HasCap(Capability::kMknod))
    return Errno(EPERM);
  Ref<Inode> inode = VEIL_TRY(parent.inode().CreateLocked(name, spec));
  return parent.AddChildLocked(name, std::move(inode));
}

}  // namespace internal

using internal::FilenameCreate;

Result<void> Vfs::MkdirAt(const Context& ctx, const Location& dir,
                          std::string_view path, mode_t mode) {
  return FilenameCreate(
      *this, ctx, dir, path, internal::NameKind::kDirectory,
      [&](const Location& parent, std::string_view name) -> Result<void> {
        parent.dentry->fs().mutex().AssertHeld();  // FilenameCreate's lock
        Attr dir_attr = parent.dentry->inode().GetAttrLocked();
        // vfs_mkdir keeps only permission and sticky bits.
        CreateSpec spec = internal::MakeCreateSpec(
            ctx, dir_attr, S_IFDIR | (mode & (0777 | S_ISVTX)),
            internal::Umask::kApply);
        VEIL_TRY(internal::CreateChildLocked(ctx, *parent.dentry, name, spec));
        return Ok();
      });
}

Result<void> Vfs::MknodAt(const Context& ctx, const Location& dir,
                          std::string_view path, mode_t mode, dev_t dev) {
  // may_mknod, before the path is even looked up.
  switch (mode & S_IFMT) {
    case 0:
      mode |= S_IFREG;
      break;
    case S_IFREG:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      break;
    case S_IFDIR:
      return Errno(EPERM);
    default:
      return Errno(EINVAL);
  }
  return FilenameCreate(
      *this, ctx, dir, path, internal::NameKind::kNonDirectory,
      [&](const Location& parent, std::string_view name) -> Result<void> {
        parent.dentry->fs().mutex().AssertHeld();  // FilenameCreate's lock
        Attr dir_attr = parent.dentry->inode().GetAttrLocked();
        CreateSpec spec = internal::MakeCreateSpec(
            ctx, dir_attr, mode & (S_IFMT | 07777), internal::Umask::kApply);
        if (S_ISCHR(mode) || S_ISBLK(mode)) spec.rdev = dev;
        VEIL_TRY(internal::CreateChildLocked(ctx, *parent.dentry, name, spec));
        return Ok();
      });
}

Result<void> Vfs::SymlinkAt(const Context& ctx, std::string_view target,
                            const Location& dir, std::string_view path) {
  // getname() on the target: empty is ENOENT, PATH_MAX or more too long.
  if (target.empty()) return Errno(ENOENT);
  if (target.size() >= PATH_MAX) return Errno(ENAMETOOLONG);
  return FilenameCreate(
      *this, ctx, dir, path, internal::NameKind::kNonDirectory,
      [&](const Location& parent, std::string_view name) -> Result<void> {
        parent.dentry->fs().mutex().AssertHeld();  // FilenameCreate's lock
        Attr dir_attr = parent.dentry->inode().GetAttrLocked();
        CreateSpec spec = internal::MakeCreateSpec(
            ctx, dir_attr, S_IFLNK | 0777, internal::Umask::kIgnore);
        spec.symlink_target = target;
        VEIL_TRY(internal::CreateChildLocked(ctx, *parent.dentry, name, spec));
        return Ok();
      });
}

Result<void> Vfs::LinkAt(const Context& ctx, const Location& old_dir,
                         std::string_view old_path, const Location& new_dir,
                         std::string_view new_path, int flags) {
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  // linkat with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH.
  if ((flags & AT_EMPTY_PATH) && !ctx.creds.HasCap(Capability::kDacReadSearch))
    return Errno(ENOENT);
  Location old_loc = VEIL_TRY(internal::ResolveAt(
      *this, ctx, old_dir, old_path,
      (flags & AT_EMPTY_PATH) |
          ((flags & AT_SYMLINK_FOLLOW) ? 0 : AT_SYMLINK_NOFOLLOW)));
  Inode& target = old_loc.dentry->inode();
  return FilenameCreate(
      *this, ctx, new_dir, new_path, internal::NameKind::kNonDirectory,
      [&](const Location& parent, std::string_view name) -> Result<void> {
        parent.dentry->fs().mutex().AssertHeld();  // FilenameCreate's lock
        if (parent.mount.get() != old_loc.mount.get()) return Errno(EXDEV);
        Attr attr = target.GetAttrLocked();
        // may_linkat (fs.protected_hardlinks): only the owner may link to
        // a file that is special, setuid, setgid-executable, or that the
        // caller could not read and write.
        if (options_.protected_hardlinks &&
            !internal::OwnerOrCapable(ctx.creds, attr)) {
          bool safe =
              attr.IsRegular() && !(attr.mode & S_ISUID) &&
              (attr.mode & (S_ISGID | S_IXGRP)) != (S_ISGID | S_IXGRP) &&
              internal::CheckPermission(
                  ctx.creds, attr, internal::kMayRead | internal::kMayWrite);
          if (!safe) return Errno(EPERM);
        }
        VEIL_TRY_VOID(internal::MayCreateLocked(ctx.creds, *parent.dentry));
        if (&target.fs() != &parent.dentry->fs()) return Errno(EXDEV);
        if (attr.IsDir()) return Errno(EPERM);      // no links to directories
        if (attr.nlink == 0) return Errno(ENOENT);  // unlinked, not linkable
        VEIL_TRY_VOID(parent.dentry->inode().LinkLocked(name, target));
        parent.dentry->AddChildLocked(name, Ref<Inode>(target));
        return Ok();
      });
}

}  // namespace veil::vfs
