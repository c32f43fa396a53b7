// SPDX-License-Identifier: Apache-2.0
//
// open(2)/openat2(2): fs/open.c build_open_flags, fs/namei.c
// open_last_lookups, do_open and may_open.
#include <linux/openat2.h>

#include <optional>

#include "vfs/internal/create.h"
#include "vfs/vfs.h"

namespace veil::vfs {
namespace {

using internal::kMayExec;
using internal::kMayRead;
using internal::kMayWrite;

// may_open, minus the O_TRUNC handling the caller does.
Result<void> MayOpen(const Context& ctx, const Location& loc, int acc_mode,
                     int flags) {
  Inode& inode = loc.dentry->inode();
  Attr attr = inode.GetAttrLocked();
  switch (attr.type()) {
    case S_IFLNK:
      return Errno(ELOOP);  // O_NOFOLLOW met a symlink
    case S_IFDIR:
      if (acc_mode & kMayWrite) return Errno(EISDIR);
      if (acc_mode & kMayExec) return Errno(EACCES);
      break;
    case S_IFBLK:
    case S_IFCHR:
      if (loc.mount->flags() & kMountNoDev) return Errno(EACCES);
      [[fallthrough]];
    case S_IFIFO:
    case S_IFSOCK:
      if (acc_mode & kMayExec) return Errno(EACCES);
      break;
    case S_IFREG:
      if ((acc_mode & kMayExec) && (loc.mount->flags() & kMountNoExec))
        return Errno(EACCES);
      break;
  }
  VEIL_TRY_VOID(internal::CheckPermission(ctx.creds, attr, acc_mode));
  // O_NOATIME only for the owner or CAP_FOWNER.
  if ((flags & O_NOATIME) && !internal::OwnerOrCapable(ctx.creds, attr))
    return Errno(EPERM);
  return Ok();
}

// may_create_in_sticky: O_CREAT finding someone else's file in a sticky
// directory. Regular files and FIFOs are protected only as the
// fs.protected_regular/fifos sysctls say; everything else always is.
Result<void> MayCreateInSticky(const Context& ctx, const VfsOptions& options,
                               const Attr& dir, const Attr& file) {
  if (!(dir.mode & S_ISVTX) ||
      (S_ISREG(file.mode) && !options.protected_regular) ||
      (S_ISFIFO(file.mode) && !options.protected_fifos) ||
      dir.uid == file.uid || file.uid == ctx.creds.fsuid)
    return Ok();
  if (dir.mode & 0002) return Errno(EACCES);
  if ((dir.mode & 0020) &&
      ((S_ISFIFO(file.mode) && options.protected_fifos >= 2) ||
       (S_ISREG(file.mode) && options.protected_regular >= 2)))
    return Errno(EACCES);
  return Ok();
}

}  // namespace

Result<Ref<FileDescription>> Vfs::OpenAt(const Context& ctx,
                                         const Location& dir,
                                         std::string_view path,
                                         const OpenHow& how) {
  int flags = how.flags;
  // build_open_how (open/openat): O_PATH beats everything else.
  // NOTE: openat2 instead rejects other flags with O_PATH (EINVAL); the
  // sentry checks that before calling here.
  if (flags & O_PATH) flags &= O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
  // build_open_flags.
  if ((flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY))
    return Errno(EINVAL);
  if ((flags & O_TMPFILE) == O_TMPFILE)
    return Errno(EOPNOTSUPP);  // TODO(#2): O_TMPFILE
  int acc_mode = 0;
  if (!(flags & O_PATH)) {
    static constexpr int kAccMode[4] = {kMayRead, kMayWrite,
                                        kMayRead | kMayWrite,
                                        kMayRead | kMayWrite};
    acc_mode = kAccMode[flags & O_ACCMODE];
    if (flags & O_TRUNC) acc_mode |= kMayWrite;
  }
  // O_CREAT|O_EXCL never follows a final symlink.
  bool follow = !(flags & O_NOFOLLOW) &&
                !((flags & O_CREAT) && (flags & O_EXCL));

  internal::Resolver r = VEIL_TRY(
      internal::Resolver::Create(*this, ctx, dir, path, how.resolve,
                                 internal::EmptyPath::kRefuse));
  internal::Last last = VEIL_TRY(r.WalkToLast());
  std::optional<Location> found;
  bool created = false;
  for (;;) {
    if (last.type != internal::LastType::kNormal) {
      found = VEIL_TRY(r.StepLast(last));
      break;
    }
    Location loc = last.parent;
    if (flags & O_CREAT) {
      // open_last_lookups, create side: "name/" with O_CREAT is EISDIR.
      if (last.must_be_dir) return Errno(EISDIR);
      Dentry& parent = *last.parent.dentry;
      RefPtr<Dentry> child;
      {
        MutexLock lock(parent.fs().mutex());
        child = VEIL_TRY(internal::LookupLocked(parent, last.name));
        if (!child) {
          // lookup_open: EROFS, then may_o_create, then create.
          VEIL_TRY_VOID(internal::WantWrite(last.parent));
          Attr dir_attr = parent.inode().GetAttrLocked();
          CreateSpec spec = internal::MakeCreateSpec(
              ctx, dir_attr, S_IFREG | (how.mode & 07777),
              internal::Umask::kApply);
          Ref<Dentry> d = VEIL_TRY(
              internal::CreateChildLocked(ctx, parent, last.name, spec));
          found = Location{last.parent.mount, std::move(d)};
          created = true;
        }
      }
      if (created) break;
      loc = VEIL_TRY(r.CrossMounts(Location{last.parent.mount, child.ToRef()}));
    } else {
      loc = VEIL_TRY(r.LookupChild(last.parent, last.name));
    }
    if (loc.dentry->inode().IsSymlink() && (follow || last.must_be_dir)) {
      last = VEIL_TRY(r.FollowLast(last, loc.dentry->inode()));
      continue;
    }
    found = std::move(loc);
    break;
  }
  Location loc = std::move(*found);
  Inode& inode = loc.dentry->inode();

  // do_open.
  if (flags & O_CREAT) {
    if ((flags & O_EXCL) && !created) return Errno(EEXIST);
    if (inode.IsDir()) return Errno(EISDIR);
    if (!created && last.type == internal::LastType::kNormal &&
        &last.parent.dentry->fs() == &inode.fs()) {
      MutexLock lock(inode.fs().mutex());
      VEIL_TRY_VOID(MayCreateInSticky(ctx, options_,
                                      last.parent.dentry->inode().GetAttrLocked(),
                                      inode.GetAttrLocked()));
    }
  }
  if ((last.must_be_dir || (flags & O_DIRECTORY)) && !inode.IsDir())
    return Errno(ENOTDIR);
  return FinishOpen(ctx, std::move(loc), flags, acc_mode, created);
}

Result<Ref<FileDescription>> Vfs::OpenLocation(const Context& ctx,
                                               const Location& loc,
                                               int flags) {
  // As OpenAt does with what it found, minus the name: no O_CREAT, and a
  // symlink is never followed (open(2) with O_NOFOLLOW: ELOOP).
  if (flags & O_PATH) flags &= O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
  if (flags & O_CREAT) return Errno(EINVAL);
  if ((flags & O_TMPFILE) == O_TMPFILE) return Errno(EOPNOTSUPP);
  Inode& inode = loc.dentry->inode();
  if ((flags & O_DIRECTORY) && !inode.IsDir()) return Errno(ENOTDIR);
  if (inode.IsSymlink() && !(flags & O_PATH)) return Errno(ELOOP);
  int acc_mode = 0;
  if (!(flags & O_PATH)) {
    static constexpr int kAccMode[4] = {kMayRead, kMayWrite,
                                        kMayRead | kMayWrite,
                                        kMayRead | kMayWrite};
    acc_mode = kAccMode[flags & O_ACCMODE];
    if (flags & O_TRUNC) acc_mode |= kMayWrite;
  }
  return FinishOpen(ctx, loc, flags, acc_mode, /*created=*/false);
}

Result<Ref<FileDescription>> Vfs::FinishOpen(const Context& ctx, Location loc,
                                             int flags, int acc_mode,
                                             bool created) {
  Inode& inode = loc.dentry->inode();
  bool truncate = false;
  if (created) {
    acc_mode = 0;  // the creator may open what it just made
  } else if (inode.IsRegular() && (flags & O_TRUNC)) {
    VEIL_TRY_VOID(internal::WantWrite(loc));
    truncate = true;
  }
  std::unique_ptr<FileImpl> impl;
  {
    MutexLock lock(inode.fs().mutex());
    if (!(flags & O_PATH)) {
      VEIL_TRY_VOID(MayOpen(ctx, loc, acc_mode, flags));
      // do_dentry_open: write access to a non-special file needs a
      // writable mount.
      if ((acc_mode & kMayWrite) && (inode.IsRegular() || inode.IsDir()))
        VEIL_TRY_VOID(internal::WantWrite(loc));
    }
    // O_PATH opens nothing: no driver, no pipe end, no I/O. A character
    // device opens its driver (chrdev_open), a whiteout (0/0) never.
    std::shared_ptr<CharDevice> driver;
    if (!(flags & O_PATH) && inode.type() == S_IFCHR) {
      const uint64_t rdev = inode.GetAttrLocked().rdev;
      if (rdev != 0) driver = FindCharDevice(rdev);
    }
    if (flags & O_PATH) {
      impl = std::make_unique<FileImpl>();
    } else if (driver) {
      impl = VEIL_TRY(driver->Open(flags));
    } else {
      impl = VEIL_TRY(inode.OpenLocked(flags));
    }
    if (truncate) {
      // handle_truncate: size 0 and, as do_truncate from open, mtime and
      // ctime now; a setuid/setgid bit goes as on any write.
      SetAttr attr;
      attr.mask = kSetSize | kSetMtimeNow | kSetCtimeNow;
      Attr cur = inode.GetAttrLocked();
      const uint32_t kill =
          SetIdBitsClearedByWrite(ctx.creds, cur.mode, cur.gid);
      if (kill) {
        attr.mask |= kKillModeBits;  // from the mode as it is then
        attr.kill = kill;
      }
      VEIL_TRY_VOID(inode.SetAttrLocked(attr));
    }
  }
  int stored = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
  return MakeRef<FileDescription>(std::move(loc), stored, ctx.creds,
                                  std::move(impl));
}

}  // namespace veil::vfs
