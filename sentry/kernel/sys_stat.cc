// SPDX-License-Identifier: Apache-2.0
//
// Metadata: stat(2), statx(2), access(2), chmod(2), chown(2),
// truncate(2), utimensat(2), statfs(2), fallocate(2).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>

#include <array>

#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"

namespace veil::sentry {
namespace {

// Linux's AT_STATX_SYNC_TYPE and STATX__RESERVED.
constexpr int kAtStatxSyncType = 0x6000;
constexpr unsigned kStatxReserved = 0x80000000u;

// An fd the way fdget (not fdget_raw) sees it: O_PATH files are EBADF.
Result<Ref<vfs::FileDescription>> GetNonPath(Task& task, int fd) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(fd));
  if (file->is_path()) return Errno(EBADF);  // fdget skips FMODE_PATH
  return file;
}

Result<int64_t> WriteStat(SyscallArgs& args, TaskAddr addr,
                          const vfs::Attr& attr) {
  VEIL_TRY_VOID(CopyOut(args.mem, addr, vfs::ToStat(attr)));
  return 0;
}

// vfs_fstatat and vfs_statx. `name` is what getname_maybe_null gave
// (CopyInAtPath with NullPath::kEmptyWithAtEmptyPath): a path, "" for "no
// name" (NULL or "" with AT_EMPTY_PATH), or the copy's error, which shows
// only after the flags were checked (vfs_statx checks them first).
Result<vfs::Attr> StatAtFlags(Task& task, int dirfd,
                              const Result<std::string>& name, int flags) {
  bool no_name = name && name->empty() && (flags & AT_EMPTY_PATH);
  if (no_name && dirfd >= 0) {
    // vfs_fstat: fdget_raw, so O_PATH files too; no flags checked.
    Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(dirfd));
    return file->Stat();
  }
  // vfs_statx: unknown flags are EINVAL.
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH |
                kAtStatxSyncType))
    return Errno(EINVAL);
  if (!name) return name.error();
  const std::string& path = *name;
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, dirfd, path));
  return task.vfs().StatAt(ctx, dir, path,
                           flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH));
}

statx_timestamp StatxTime(const timespec& t) {
  statx_timestamp out{};
  out.tv_sec = t.tv_sec;
  out.tv_nsec = static_cast<uint32_t>(t.tv_nsec);
  return out;
}

}  // namespace

Result<int64_t> SysFstat(Task& task, SyscallArgs& args) {
  // vfs_fstat: fdget_raw, so O_PATH files too.
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  vfs::Attr attr = VEIL_TRY(file->Stat());
  return WriteStat(args, args.Addr(1), attr);
}

static Result<int64_t> Fstatat(Task& task, SyscallArgs& args, int dirfd,
                               TaskAddr path_addr, TaskAddr buf, int flags) {
  Result<std::string> name =
      CopyInAtPath(args.mem, path_addr, flags, NullPath::kEmptyWithAtEmptyPath);
  vfs::Attr attr = VEIL_TRY(StatAtFlags(task, dirfd, name, flags));
  return WriteStat(args, buf, attr);
}

Result<int64_t> SysNewfstatat(Task& task, SyscallArgs& args) {
  return Fstatat(task, args, args.Int(0), args.Addr(1), args.Addr(2),
                 args.Int(3));
}

Result<int64_t> SysStat(Task& task, SyscallArgs& args) {
  return Fstatat(task, args, AT_FDCWD, args.Addr(0), args.Addr(1), 0);
}

Result<int64_t> SysLstat(Task& task, SyscallArgs& args) {
  return Fstatat(task, args, AT_FDCWD, args.Addr(0), args.Addr(1),
                 AT_SYMLINK_NOFOLLOW);
}

Result<int64_t> SysStatx(Task& task, SyscallArgs& args) {
  int flags = args.Int(2);
  unsigned mask = args.UInt(3);
  // sys_statx reads the name first (getname_maybe_null); do_statx then
  // refuses reserved mask bits and both sync types (EINVAL) before a bad
  // name shows.
  Result<std::string> name = CopyInAtPath(args.mem, args.Addr(1), flags,
                                          NullPath::kEmptyWithAtEmptyPath);
  if (mask & kStatxReserved) return Errno(EINVAL);
  if ((flags & kAtStatxSyncType) == kAtStatxSyncType) return Errno(EINVAL);
  vfs::Attr a = VEIL_TRY(StatAtFlags(task, args.Int(0), name, flags));
  struct statx sx {};
  sx.stx_mask = STATX_BASIC_STATS;
  if (a.btime.tv_sec != 0 || a.btime.tv_nsec != 0) sx.stx_mask |= STATX_BTIME;
  sx.stx_blksize = a.blksize;
  sx.stx_nlink = a.nlink;
  sx.stx_uid = a.uid;
  sx.stx_gid = a.gid;
  sx.stx_mode = static_cast<uint16_t>(a.mode);
  sx.stx_ino = a.ino;
  sx.stx_size = a.size;
  sx.stx_blocks = a.blocks;
  sx.stx_atime = StatxTime(a.atime);
  sx.stx_btime = StatxTime(a.btime);
  sx.stx_ctime = StatxTime(a.ctime);
  sx.stx_mtime = StatxTime(a.mtime);
  sx.stx_rdev_major = major(a.rdev);
  sx.stx_rdev_minor = minor(a.rdev);
  sx.stx_dev_major = major(a.dev);
  sx.stx_dev_minor = minor(a.dev);
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(4), sx));
  return 0;
}

// --- access
// -------------------------------------------------------------------

Result<int64_t> SysFaccessat2(Task& task, SyscallArgs& args) {
  int mode = args.Int(2), flags = args.Int(3);
  // do_faccessat: bad mode bits, then unknown flags, are EINVAL.
  if (mode & ~S_IRWXO) return Errno(EINVAL);
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
    return Errno(EINVAL);
  std::string path =
      VEIL_TRY(CopyInAtPath(args.mem, args.Addr(1), flags, NullPath::kFault));
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), path));
  VEIL_TRY_VOID(task.vfs().AccessAt(ctx, dir, path, mode, flags));
  return 0;
}

Result<int64_t> SysFaccessat(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{args.raw[0], args.raw[1], args.raw[2], 0};
  SyscallArgs at{args.mem, raw};
  return SysFaccessat2(task, at);
}

Result<int64_t> SysAccess(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1], 0};
  SyscallArgs at{args.mem, raw};
  return SysFaccessat2(task, at);
}

// --- chmod, chown
// ---------------------------------------------------------------

Result<int64_t> SysFchmodat2(Task& task, SyscallArgs& args) {
  int flags = args.Int(3);
  // do_fchmodat: unknown flags are EINVAL, before the name.
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  std::string path =
      VEIL_TRY(CopyInAtPath(args.mem, args.Addr(1), flags, NullPath::kFault));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), path));
  VEIL_TRY_VOID(
      task.vfs().ChmodAt(ctx, dir, path, args.UInt(2) & 07777, flags));
  return 0;
}

Result<int64_t> SysFchmodat(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{args.raw[0], args.raw[1], args.raw[2], 0};
  SyscallArgs at{args.mem, raw};
  return SysFchmodat2(task, at);
}

Result<int64_t> SysChmod(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1], 0};
  SyscallArgs at{args.mem, raw};
  return SysFchmodat2(task, at);
}

Result<int64_t> SysFchmod(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(GetNonPath(task, args.Int(0)));
  vfs::Context ctx = task.Context();
  VEIL_TRY_VOID(task.vfs().ChmodAt(ctx, file->location(), "",
                                   args.UInt(1) & 07777, AT_EMPTY_PATH));
  return 0;
}

Result<int64_t> SysFchownat(Task& task, SyscallArgs& args) {
  int flags = args.Int(4);
  // do_fchownat: unknown flags are EINVAL, before the name.
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  std::string path =
      VEIL_TRY(CopyInAtPath(args.mem, args.Addr(1), flags, NullPath::kFault));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), path));
  VEIL_TRY_VOID(
      task.vfs().ChownAt(ctx, dir, path, args.UInt(2), args.UInt(3), flags));
  return 0;
}

Result<int64_t> SysChown(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1], args.raw[2], 0};
  SyscallArgs at{args.mem, raw};
  return SysFchownat(task, at);
}

Result<int64_t> SysLchown(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1], args.raw[2], AT_SYMLINK_NOFOLLOW};
  SyscallArgs at{args.mem, raw};
  return SysFchownat(task, at);
}

Result<int64_t> SysFchown(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(GetNonPath(task, args.Int(0)));
  vfs::Context ctx = task.Context();
  VEIL_TRY_VOID(task.vfs().ChownAt(ctx, file->location(), "", args.UInt(1),
                                   args.UInt(2), AT_EMPTY_PATH));
  return 0;
}

// --- Sizes and times
// -------------------------------------------------------------

Result<int64_t> SysTruncate(Task& task, SyscallArgs& args) {
  // do_sys_truncate: a negative length is EINVAL, before the path.
  if (args.Long(1) < 0) return Errno(EINVAL);
  std::string path =
      VEIL_TRY(CopyInPath(args.mem, args.Addr(0), EmptyPath::kDeny));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, AT_FDCWD, path));
  VEIL_TRY_VOID(task.vfs().TruncateAt(ctx, dir, path, args.Long(1)));
  return 0;
}

Result<int64_t> SysFtruncate(Task& task, SyscallArgs& args) {
  // do_sys_ftruncate: a negative length is EINVAL, before the fd.
  if (args.Long(1) < 0) return Errno(EINVAL);
  Ref<vfs::FileDescription> file = VEIL_TRY(GetNonPath(task, args.Int(0)));
  vfs::Context ctx = task.Context();
  VEIL_TRY_VOID(task.vfs().Ftruncate(ctx, *file, args.Long(1)));
  return 0;
}

Result<int64_t> SysFallocate(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(GetNonPath(task, args.Int(0)));
  VEIL_TRY_VOID(
      file->Allocate(task.creds(), args.Int(1), args.Long(2), args.Long(3)));
  return 0;
}

// do_utimes: a NULL path with a real dirfd acts on the fd; `t` null
// means "now" for both.
static Result<int64_t> DoUtimes(Task& task, SyscallArgs& args, int dirfd,
                                TaskAddr path_addr, const timespec* t,
                                int flags) {
  vfs::Context ctx = task.Context();
  if (path_addr.IsNull() && dirfd != AT_FDCWD) {
    // do_utimes_fd: no flags allowed, then fdget (O_PATH is EBADF).
    if (flags) return Errno(EINVAL);
    Ref<vfs::FileDescription> file = VEIL_TRY(GetNonPath(task, dirfd));
    VEIL_TRY_VOID(
        task.vfs().UtimensAt(ctx, file->location(), "", t, AT_EMPTY_PATH));
    return 0;
  }
  // do_utimes_path: unknown flags are EINVAL, then the name.
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  std::string path =
      VEIL_TRY(CopyInAtPath(args.mem, path_addr, flags, NullPath::kFault));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, dirfd, path));
  VEIL_TRY_VOID(task.vfs().UtimensAt(ctx, dir, path, t, flags));
  return 0;
}

Result<int64_t> SysUtimensat(Task& task, SyscallArgs& args) {
  timespec times[2];
  bool have_times = !args.Addr(2).IsNull();
  if (have_times) {
    // sys_utimensat: both timespecs copied first (EFAULT); both
    // UTIME_OMIT is a successful no-op.
    times[0] = VEIL_TRY(CopyIn<timespec>(args.mem, args.Addr(2)));
    TaskAddr second = VEIL_TRY(args.Addr(2).Offset(sizeof(timespec)));
    times[1] = VEIL_TRY(CopyIn<timespec>(args.mem, second));
    if (times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT)
      return 0;
  }
  return DoUtimes(task, args, args.Int(0), args.Addr(1),
                  have_times ? times : nullptr, args.Int(3));
}

Result<int64_t> SysFutimesat(Task& task, SyscallArgs& args) {
  timespec times[2];
  bool have_times = !args.Addr(2).IsNull();
  if (have_times) {
    // do_futimesat: both timevals copied (EFAULT), microseconds checked
    // (EINVAL).
    for (int i = 0; i < 2; ++i) {
      TaskAddr at = VEIL_TRY(args.Addr(2).Offset(i * sizeof(timeval)));
      timeval tv = VEIL_TRY(CopyIn<timeval>(args.mem, at));
      if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) return Errno(EINVAL);
      times[i] = timespec{tv.tv_sec, tv.tv_usec * 1000};
    }
  }
  return DoUtimes(task, args, args.Int(0), args.Addr(1),
                  have_times ? times : nullptr, 0);
}

Result<int64_t> SysUtimes(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1]};
  SyscallArgs at{args.mem, raw};
  return SysFutimesat(task, at);
}

Result<int64_t> SysUtime(Task& task, SyscallArgs& args) {
  timespec times[2];
  bool have_times = !args.Addr(1).IsNull();
  if (have_times) {
    // do_utime: struct utimbuf {actime, modtime}, whole seconds (EFAULT).
    using Utimbuf = std::array<int64_t, 2>;
    Utimbuf buf = VEIL_TRY((CopyIn<Utimbuf>(args.mem, args.Addr(1))));
    times[0] = timespec{buf[0], 0};
    times[1] = timespec{buf[1], 0};
  }
  return DoUtimes(task, args, AT_FDCWD, args.Addr(0),
                  have_times ? times : nullptr, 0);
}

// --- statfs
// ---------------------------------------------------------------------

Result<int64_t> SysStatfs(Task& task, SyscallArgs& args) {
  std::string path =
      VEIL_TRY(CopyInPath(args.mem, args.Addr(0), EmptyPath::kDeny));
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, AT_FDCWD, path));
  struct statfs st = VEIL_TRY(task.vfs().StatFsAt(ctx, dir, path, 0));
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(1), st));
  return 0;
}

Result<int64_t> SysFstatfs(Task& task, SyscallArgs& args) {
  // fd_statfs: fdget_raw, so O_PATH files too.
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  vfs::Context ctx = task.Context();
  struct statfs st =
      VEIL_TRY(task.vfs().StatFsAt(ctx, file->location(), "", AT_EMPTY_PATH));
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(1), st));
  return 0;
}

}  // namespace veil::sentry
