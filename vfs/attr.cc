// SPDX-License-Identifier: Apache-2.0
//
// Metadata calls: stat, chmod, chown, utimensat, truncate, ftruncate,
// access, statfs, readlink, chdir (fs/stat.c, fs/open.c, fs/attr.c,
// fs/utimes.c).
#include <linux/limits.h>
#include <sys/statvfs.h>


#include "vfs/internal/util.h"
#include "vfs/vfs.h"

namespace veil::vfs {
namespace {

using internal::CheckPermission;
using internal::kMayWrite;
using internal::OwnerOrCapable;

// setattr_should_drop_sgid: S_ISGID goes when the file is group-executable,
// or when the caller is neither in its group nor has CAP_FSETID.
bool ShouldDropSgid(const Credentials& creds, const Attr& attr) {
  if (!(attr.mode & S_ISGID)) return false;
  if (attr.mode & S_IXGRP) return true;
  return !creds.InGroup(attr.gid) && !creds.HasCap(Capability::kFsetid);
}

// The bits a data change (write, truncate) removes: setattr_should_drop_suidgid.
uint32_t PrivsToKill(const Credentials& creds, const Attr& attr) {
  if (!attr.IsRegular()) return 0;
  return SetIdBitsClearedByWrite(creds, attr.mode, attr.gid);
}

// Truncation shared by truncate(2) and ftruncate(2); `mask_extra` carries
// the time bits (ftruncate always stamps mtime and ctime).
Result<void> DoTruncateLocked(const Credentials& creds, Inode& inode,
                              int64_t length, uint32_t mask_extra) {
  Attr cur = inode.GetAttrLocked();
  SetAttr attr;
  attr.mask = kSetSize | mask_extra;
  attr.size = static_cast<uint64_t>(length);
  if (uint32_t kill = PrivsToKill(creds, cur)) {
    attr.mask |= kSetMode;
    attr.mode = cur.mode & 07777 & ~kill;
  }
  return inode.SetAttrLocked(attr);
}

}  // namespace

Result<Attr> Vfs::StatAt(const Context& ctx, const Location& dir,
                         std::string_view path, int flags) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
    return Errno(EINVAL);
  Location loc =
      VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  MutexLock lock(loc.dentry->fs().mutex());
  return loc.dentry->inode().GetAttrLocked();
}

Result<void> Vfs::ChmodAt(const Context& ctx, const Location& dir,
                          std::string_view path, mode_t mode, int flags) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  VEIL_TRY_VOID(internal::WantWrite(loc));
  Inode& inode = loc.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  Attr cur = inode.GetAttrLocked();
  // notify_change: a symlink's mode cannot change.
  if (cur.IsSymlink()) return Errno(EOPNOTSUPP);
  // setattr_prepare: only the owner (or CAP_FOWNER) may chmod; S_ISGID is
  // dropped silently for a caller outside the file's group.
  if (!OwnerOrCapable(ctx.creds, cur)) return Errno(EPERM);
  SetAttr attr;
  attr.mask = kSetMode | kSetCtimeNow;
  attr.mode = mode & 07777;
  if (!ctx.creds.InGroup(cur.gid) && !ctx.creds.HasCap(Capability::kFsetid))
    attr.mode &= ~S_ISGID;
  return inode.SetAttrLocked(attr);
}

Result<void> Vfs::ChownAt(const Context& ctx, const Location& dir,
                          std::string_view path, uid_t uid, gid_t gid,
                          int flags) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  VEIL_TRY_VOID(internal::WantWrite(loc));
  Inode& inode = loc.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  Attr cur = inode.GetAttrLocked();
  SetAttr attr;
  attr.mask = kSetCtimeNow;
  // chown_common: a non-directory loses S_ISUID, and S_ISGID when
  // setattr_should_drop_sgid says so, whoever changes its owner.
  uint32_t kill = 0;
  if (!cur.IsDir()) {
    kill = cur.mode & S_ISUID;
    if (ShouldDropSgid(ctx.creds, cur)) kill |= S_ISGID;
  }
  if (uid != static_cast<uid_t>(-1)) {
    attr.mask |= kSetUid;
    attr.uid = uid;
  }
  if (gid != static_cast<gid_t>(-1)) {
    attr.mask |= kSetGid;
    attr.gid = gid;
  }
  // setattr_prepare, chown_ok: keeping one's own uid, or CAP_CHOWN.
  bool cap_chown = ctx.creds.HasCap(Capability::kChown);
  if ((attr.mask & kSetUid) && !cap_chown &&
      !(uid == ctx.creds.fsuid && uid == cur.uid))
    return Errno(EPERM);
  // chgrp_ok: the owner may switch to the same gid or one of its groups.
  if ((attr.mask & kSetGid) && !cap_chown &&
      !(cur.uid == ctx.creds.fsuid &&
        (gid == cur.gid || ctx.creds.InGroup(gid))))
    return Errno(EPERM);
  if (kill) {
    // The mode change the kill implies needs chmod rights (setattr_prepare).
    if (!OwnerOrCapable(ctx.creds, cur)) return Errno(EPERM);
    attr.mask |= kSetMode;
    attr.mode = cur.mode & 07777 & ~kill;
    gid_t new_gid = (attr.mask & kSetGid) ? attr.gid : cur.gid;
    if (!ctx.creds.InGroup(new_gid) && !ctx.creds.HasCap(Capability::kFsetid))
      attr.mode &= ~S_ISGID;
  }
  return inode.SetAttrLocked(attr);
}

Result<void> Vfs::UtimensAt(const Context& ctx, const Location& dir,
                            std::string_view path, const timespec* times,
                            int flags) {
  auto valid_nsec = [](long ns) {
    return (ns >= 0 && ns <= 999999999) || ns == UTIME_NOW || ns == UTIME_OMIT;
  };
  // utimensat: both UTIME_OMIT is "nothing to do"; not even the path or
  // the flags are checked.
  if (times && times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT)
    return Ok();
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  // vfs_utimes: the times are checked after the lookup.
  if (times && (!valid_nsec(times[0].tv_nsec) || !valid_nsec(times[1].tv_nsec)))
    return Errno(EINVAL);
  if (times && times[0].tv_nsec == UTIME_NOW && times[1].tv_nsec == UTIME_NOW)
    times = nullptr;
  VEIL_TRY_VOID(internal::WantWrite(loc));
  Inode& inode = loc.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  Attr cur = inode.GetAttrLocked();
  SetAttr attr;
  attr.mask = kSetCtimeNow;
  if (!times) {
    // ATTR_TOUCH: the owner, CAP_FOWNER, or anyone who may write.
    if (!OwnerOrCapable(ctx.creds, cur))
      VEIL_TRY_VOID(CheckPermission(ctx.creds, cur, kMayWrite));
    attr.mask |= kSetAtimeNow | kSetMtimeNow;
    return inode.SetAttrLocked(attr);
  }
  // ATTR_TIMES_SET: explicit times are for the owner or CAP_FOWNER only.
  if (!OwnerOrCapable(ctx.creds, cur)) return Errno(EPERM);
  if (times[0].tv_nsec == UTIME_NOW) {
    attr.mask |= kSetAtimeNow;
  } else if (times[0].tv_nsec != UTIME_OMIT) {
    attr.mask |= kSetAtime;
    attr.atime = times[0];
  }
  if (times[1].tv_nsec == UTIME_NOW) {
    attr.mask |= kSetMtimeNow;
  } else if (times[1].tv_nsec != UTIME_OMIT) {
    attr.mask |= kSetMtime;
    attr.mtime = times[1];
  }
  return inode.SetAttrLocked(attr);
}

Result<void> Vfs::TruncateAt(const Context& ctx, const Location& dir,
                             std::string_view path, int64_t length) {
  if (length < 0) return Errno(EINVAL);
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, 0));
  Inode& inode = loc.dentry->inode();
  // vfs_truncate: EISDIR for directories, EINVAL for other non-regulars.
  if (inode.IsDir()) return Errno(EISDIR);
  if (!inode.IsRegular()) return Errno(EINVAL);
  VEIL_TRY_VOID(internal::WantWrite(loc));
  MutexLock lock(inode.fs().mutex());
  VEIL_TRY_VOID(CheckPermission(ctx.creds, inode.GetAttrLocked(), kMayWrite));
  return DoTruncateLocked(ctx.creds, inode, length, 0);
}

Result<void> Vfs::Ftruncate(const Context& ctx, FileDescription& file,
                            int64_t length) {
  if (length < 0) return Errno(EINVAL);
  if (file.is_path()) return Errno(EBADF);
  Inode& inode = file.inode();
  if (!inode.IsRegular() || !file.writable()) return Errno(EINVAL);
  MutexLock lock(inode.fs().mutex());
  return DoTruncateLocked(ctx.creds, inode, length,
                          kSetMtimeNow | kSetCtimeNow);
}

Result<void> Vfs::AccessAt(const Context& ctx, const Location& dir,
                           std::string_view path, int mode, int flags) {
  if (mode & ~07) return Errno(EINVAL);
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
    return Errno(EINVAL);
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  Inode& inode = loc.dentry->inode();
  {
    MutexLock lock(inode.fs().mutex());
    VEIL_TRY_VOID(CheckPermission(ctx.creds, inode.GetAttrLocked(), mode));
  }
  // "SuS v2 requires we report a read only fs too."
  if ((mode & W_OK) && (inode.IsRegular() || inode.IsDir() ||
                        inode.IsSymlink()))
    VEIL_TRY_VOID(internal::WantWrite(loc));
  return Ok();
}

Result<struct statfs> Vfs::StatFsAt(const Context& ctx, const Location& dir,
                                    std::string_view path, int flags) {
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  MutexLock lock(loc.dentry->fs().mutex());
  struct statfs st = VEIL_TRY(loc.dentry->fs().StatFsLocked());
  if (loc.mount->read_only()) st.f_flags |= ST_RDONLY;
  return st;
}

Result<std::string> Vfs::ReadlinkAt(const Context& ctx, const Location& dir,
                                    std::string_view path) {
  // readlinkat always allows an empty path (on an O_PATH symlink fd).
  Location loc = VEIL_TRY(internal::ResolveAt(
      *this, ctx, dir, path, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH));
  Inode& inode = loc.dentry->inode();
  if (!inode.IsSymlink()) return Errno(path.empty() ? ENOENT : EINVAL);
  MutexLock lock(inode.fs().mutex());
  inode.TouchAtimeLocked();
  return inode.ReadlinkLocked();
}

Result<Location> Vfs::ResolveAt(const Context& ctx, const Location& dir,
                                std::string_view path, int at_flags,
                                uint64_t resolve) {
  // An unknown AT_* flag: EINVAL, as every *at(2) call checks first.
  if (at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  return internal::ResolveAt(*this, ctx, dir, path, at_flags, resolve);
}

Result<Location> Vfs::ResolveDirectory(const Context& ctx, const Location& dir,
                                       std::string_view path) {
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, 0));
  Inode& inode = loc.dentry->inode();
  if (!inode.IsDir()) return Errno(ENOTDIR);
  MutexLock lock(inode.fs().mutex());
  VEIL_TRY_VOID(
      CheckPermission(ctx.creds, inode.GetAttrLocked(), internal::kMayExec));
  return loc;
}

}  // namespace veil::vfs
