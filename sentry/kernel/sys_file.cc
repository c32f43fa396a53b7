// SPDX-License-Identifier: Apache-2.0
//
// Names and the fs context: open(2), openat2(2), creat, close(2),
// close_range(2), mkdir(2), mknod(2), unlink(2), rmdir(2), rename(2),
// link(2), symlink(2), readlink(2), chdir(2), getcwd(2), umask(2),
// chroot(2). Thin decoders over file_ops.h and the Vfs.
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>

#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"

namespace veil::sentry {
namespace {

// Linux VALID_OPEN_FLAGS (x86-64 values; O_LARGEFILE is the kernel's).
constexpr uint64_t kValidOpenFlags =
    O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
    O_DSYNC | O_SYNC | FASYNC | O_DIRECT | kOLargefile | O_DIRECTORY |
    O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE;
constexpr uint64_t kValidResolveFlags =
    RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
    RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED;
constexpr int kOPathFlags = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
constexpr mode_t kAllUgo = 07777;          // S_IALLUGO
constexpr uint64_t kOpenHowSizeVer0 = 24;  // OPEN_HOW_SIZE_VER0 (kernel-only)

bool WillCreate(uint64_t flags) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

// build_open_how: open(2)/openat(2)/creat(2) ignore unknown flags and
// the mode when nothing is created.
vfs::OpenHow OpenHowFromOpen(int flags, mode_t mode) {
  vfs::OpenHow how;
  how.flags = static_cast<int>(flags & kValidOpenFlags);
  how.mode = WillCreate(how.flags) ? (mode & kAllUgo) : 0;
  return how;
}

Result<std::string> CopyPath(SyscallArgs& args, int i) {
  return CopyInPath(args.mem, args.Addr(i), EmptyPath::kDeny);
}

}  // namespace

Result<int64_t> SysOpen(Task& task, SyscallArgs& args) {
  return OpenAt(task, args, AT_FDCWD, args.Addr(0),
                OpenHowFromOpen(args.Int(1), args.UInt(2)));
}

Result<int64_t> SysOpenat(Task& task, SyscallArgs& args) {
  return OpenAt(task, args, args.Int(0), args.Addr(1),
                OpenHowFromOpen(args.Int(2), args.UInt(3)));
}

Result<int64_t> SysCreat(Task& task, SyscallArgs& args) {
  return OpenAt(task, args, AT_FDCWD, args.Addr(0),
                OpenHowFromOpen(O_CREAT | O_WRONLY | O_TRUNC, args.UInt(1)));
}

Result<int64_t> SysOpenat2(Task& task, SyscallArgs& args) {
  uint64_t size = args.ULong(3);
  // openat2: usize < OPEN_HOW_SIZE_VER0 is EINVAL; copy_struct_from_user
  // refuses more than a page (E2BIG).
  if (size < kOpenHowSizeVer0) return Errno(EINVAL);
  if (size > 4096) return Errno(E2BIG);
  struct open_how raw {};
  uint8_t bytes[4096];
  VEIL_TRY_VOID(args.mem.Read(args.Addr(2), std::span<uint8_t>(bytes, size)));
  std::memcpy(&raw, bytes, std::min<size_t>(size, sizeof(raw)));
  // copy_struct_from_user: bytes past what we know must be zero (E2BIG).
  for (size_t i = sizeof(raw); i < size; ++i)
    if (bytes[i] != 0) return Errno(E2BIG);
  // build_open_flags, strict for openat2, in Linux's order.
  if (raw.flags & ~kValidOpenFlags) return Errno(EINVAL);
  if (raw.resolve & ~kValidResolveFlags) return Errno(EINVAL);
  if ((raw.resolve & RESOLVE_BENEATH) && (raw.resolve & RESOLVE_IN_ROOT))
    return Errno(EINVAL);
  if (WillCreate(raw.flags)) {
    if (raw.mode & ~uint64_t{kAllUgo}) return Errno(EINVAL);
  } else if (raw.mode != 0) {
    return Errno(EINVAL);
  }
  if ((raw.flags & O_PATH) && !(raw.flags & O_TMPFILE) &&
      (raw.flags & ~uint64_t{kOPathFlags}))
    return Errno(EINVAL);  // build_open_flags: O_PATH with others
  // RESOLVE_CACHED: the lookup must not block; veil cannot promise it.
  if (raw.resolve & RESOLVE_CACHED) return Errno(EAGAIN);
  vfs::OpenHow how;
  how.flags = static_cast<int>(raw.flags);
  how.mode = static_cast<mode_t>(raw.mode);
  how.resolve = raw.resolve;
  return OpenAt(task, args, args.Int(0), args.Addr(1), how);
}

Result<int64_t> SysClose(Task& task, SyscallArgs& args) {
  VEIL_TRY_VOID(CloseFd(task, args.Int(0)));
  return 0;
}

Result<int64_t> SysCloseRange(Task& task, SyscallArgs& args) {
  unsigned first = args.UInt(0), last = args.UInt(1);
  unsigned flags = args.UInt(2);
  // close_range: unknown flags, or first > last, are EINVAL.
  if (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC))
    return Errno(EINVAL);
  if (first > last) return Errno(EINVAL);
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  if (flags & CLOSE_RANGE_UNSHARE) UnshareFiles(task);
  auto action = (flags & CLOSE_RANGE_CLOEXEC)
                    ? FdTable::RangeAction::kSetCloseOnExec
                    : FdTable::RangeAction::kClose;
  for (const Ref<vfs::FileDescription>& file :
       task.fds().CloseRange(first, last, action))
    ReleaseClosed(task, *file);
  // The data plane: the host fds go (or get FD_CLOEXEC) by the same call,
  // natively; CLOSE_RANGE_UNSHARE unshares the host table too.
  if (task.twins()) task.effects().continue_natively = true;
  return 0;
}

// --- Creating and removing names -------------------------------------------

Result<int64_t> SysMkdirat(Task& task, SyscallArgs& args) {
  std::string path = VEIL_TRY(CopyPath(args, 1));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), path));
  VEIL_TRY_VOID(task.vfs().MkdirAt(ctx, dir, path, args.UInt(2)));
  return 0;
}

Result<int64_t> SysMkdir(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1]};
  SyscallArgs at{args.mem, raw};
  return SysMkdirat(task, at);
}

Result<int64_t> SysMknodat(Task& task, SyscallArgs& args) {
  std::string path = VEIL_TRY(CopyPath(args, 1));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  unsigned dev = args.UInt(3);
  // new_decode_dev: the 32-bit dev_t of the mknod ABI.
  dev_t decoded =
      makedev((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), path));
  VEIL_TRY_VOID(task.vfs().MknodAt(ctx, dir, path, args.UInt(2), decoded));
  return 0;
}

Result<int64_t> SysMknod(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1], args.raw[2]};
  SyscallArgs at{args.mem, raw};
  return SysMknodat(task, at);
}

Result<int64_t> SysUnlinkat(Task& task, SyscallArgs& args) {
  int flags = args.Int(2);
  // unlinkat: flags other than AT_REMOVEDIR are EINVAL, before the path.
  if (flags & ~AT_REMOVEDIR) return Errno(EINVAL);
  std::string path = VEIL_TRY(CopyPath(args, 1));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), path));
  VEIL_TRY_VOID(task.vfs().UnlinkAt(ctx, dir, path, flags));
  return 0;
}

Result<int64_t> SysUnlink(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0], 0};
  SyscallArgs at{args.mem, raw};
  return SysUnlinkat(task, at);
}

Result<int64_t> SysRmdir(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              AT_REMOVEDIR};
  SyscallArgs at{args.mem, raw};
  return SysUnlinkat(task, at);
}

Result<int64_t> SysRenameat2(Task& task, SyscallArgs& args) {
  unsigned flags = args.UInt(4);
  // do_renameat2: bad flags are EINVAL before a bad name shows.
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
    return Errno(EINVAL);
  if ((flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) &&
      (flags & RENAME_EXCHANGE))
    return Errno(EINVAL);
  std::string from = VEIL_TRY(CopyPath(args, 1));
  std::string to = VEIL_TRY(CopyPath(args, 3));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location from_dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), from));
  vfs::Location to_dir = VEIL_TRY(StartDir(task, ctx, args.Int(2), to));
  VEIL_TRY_VOID(task.vfs().RenameAt(ctx, from_dir, from, to_dir, to, flags));
  return 0;
}

Result<int64_t> SysRenameat(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{args.raw[0], args.raw[1], args.raw[2],
                              args.raw[3], 0};
  SyscallArgs at{args.mem, raw};
  return SysRenameat2(task, at);
}

Result<int64_t> SysRename(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              static_cast<uint64_t>(AT_FDCWD), args.raw[1], 0};
  SyscallArgs at{args.mem, raw};
  return SysRenameat2(task, at);
}

Result<int64_t> SysLinkat(Task& task, SyscallArgs& args) {
  int flags = args.Int(4);
  // do_linkat: unknown flags are EINVAL, first.
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  std::string from = VEIL_TRY(CopyInPath(
      args.mem, args.Addr(1),
      (flags & AT_EMPTY_PATH) ? EmptyPath::kAllow : EmptyPath::kDeny));
  std::string to = VEIL_TRY(CopyPath(args, 3));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location from_dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), from));
  vfs::Location to_dir = VEIL_TRY(StartDir(task, ctx, args.Int(2), to));
  VEIL_TRY_VOID(task.vfs().LinkAt(ctx, from_dir, from, to_dir, to, flags));
  return 0;
}

Result<int64_t> SysLink(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              static_cast<uint64_t>(AT_FDCWD), args.raw[1], 0};
  SyscallArgs at{args.mem, raw};
  return SysLinkat(task, at);
}

Result<int64_t> SysSymlinkat(Task& task, SyscallArgs& args) {
  // do_symlinkat: getname(oldname) first; an empty target is ENOENT.
  std::string target = VEIL_TRY(CopyPath(args, 0));
  std::string path = VEIL_TRY(CopyPath(args, 2));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(1), path));
  VEIL_TRY_VOID(task.vfs().SymlinkAt(ctx, target, dir, path));
  return 0;
}

Result<int64_t> SysSymlink(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{args.raw[0], static_cast<uint64_t>(AT_FDCWD),
                              args.raw[1]};
  SyscallArgs at{args.mem, raw};
  return SysSymlinkat(task, at);
}

Result<int64_t> SysReadlinkat(Task& task, SyscallArgs& args) {
  int64_t size = static_cast<int>(args.Int(3));
  // do_readlinkat: bufsiz <= 0 is EINVAL, before the path is read.
  if (size <= 0) return Errno(EINVAL);
  // getname_flags(LOOKUP_EMPTY): "" names dirfd itself.
  std::string path =
      VEIL_TRY(CopyInPath(args.mem, args.Addr(1), EmptyPath::kAllow));
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, args.Int(0), path));
  std::string target = VEIL_TRY(task.vfs().ReadlinkAt(ctx, dir, path));
  size_t n = std::min<size_t>(target.size(), static_cast<size_t>(size));
  VEIL_TRY_VOID(args.mem.Write(
      args.Addr(2), std::span<const uint8_t>(
                        reinterpret_cast<const uint8_t*>(target.data()), n)));
  return static_cast<int64_t>(n);
}

Result<int64_t> SysReadlink(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{static_cast<uint64_t>(AT_FDCWD), args.raw[0],
                              args.raw[1], args.raw[2]};
  SyscallArgs at{args.mem, raw};
  return SysReadlinkat(task, at);
}

// --- The fs context
// -----------------------------------------------------------

Result<int64_t> SysChdir(Task& task, SyscallArgs& args) {
  std::string path = VEIL_TRY(CopyPath(args, 0));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, AT_FDCWD, path));
  vfs::Location cwd = VEIL_TRY(task.vfs().ResolveDirectory(ctx, dir, path));
  task.fs().SetCwd(std::move(cwd));
  return 0;
}

Result<int64_t> SysFchdir(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  // fchdir: a non-directory is ENOTDIR, then file_permission(MAY_EXEC).
  if (!file->inode().IsDir()) return Errno(ENOTDIR);
  vfs::Context ctx = task.Context();
  VEIL_TRY_VOID(
      task.vfs().AccessAt(ctx, file->location(), "", X_OK, AT_EMPTY_PATH));
  task.fs().SetCwd(file->location());
  return 0;
}

Result<int64_t> SysChroot(Task& task, SyscallArgs& args) {
  std::string path = VEIL_TRY(CopyPath(args, 0));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, AT_FDCWD, path));
  vfs::Location root = VEIL_TRY(task.vfs().ResolveDirectory(ctx, dir, path));
  // ksys_chroot: path_permission, then CAP_SYS_CHROOT (18) or EPERM.
  constexpr unsigned kCapSysChroot = 18;
  if (!((task.creds().caps >> kCapSysChroot) & 1)) return Errno(EPERM);
  task.fs().SetRoot(std::move(root));
  return 0;
}

Result<int64_t> SysGetcwd(Task& task, SyscallArgs& args) {
  vfs::Context ctx = task.Context();
  {
    vfs::Dentry& cwd = *ctx.cwd.dentry;
    MutexLock lock(cwd.fs().mutex());
    // getcwd: an unlinked working directory is ENOENT.
    if (cwd.dead()) return Errno(ENOENT);
  }
  std::string path = task.vfs().PathOf(ctx, ctx.cwd);
  uint64_t len = path.size() + 1;
  // getcwd: a buffer too small for the path and its NUL is ERANGE.
  if (len > args.ULong(1)) return Errno(ERANGE);
  VEIL_TRY_VOID(args.mem.Write(
      args.Addr(0), std::span<const uint8_t>(
                        reinterpret_cast<const uint8_t*>(path.c_str()), len)));
  return static_cast<int64_t>(len);
}

Result<int64_t> SysUmask(Task& task, SyscallArgs& args) {
  return task.fs().ExchangeUmask(args.UInt(0) & 0777);
}

}  // namespace veil::sentry
