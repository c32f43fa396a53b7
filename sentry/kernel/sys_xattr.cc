// SPDX-License-Identifier: Apache-2.0
//
// Extended attributes: setxattr(2), getxattr(2), listxattr(2),
// removexattr(2) and their l- and f- forms. Linux: fs/xattr.c
// (setxattr_copy, import_xattr_name, do_getxattr, listxattr).
#include <fcntl.h>
#include <sys/xattr.h>

#include <string>
#include <vector>

#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"
#include "vfs/inode.h"

namespace veil::sentry {
namespace {

// Linux XATTR_LIST_MAX.
constexpr size_t kXattrListMax = 65536;

enum class Target : uint8_t { kPath, kLink, kFd };

// import_xattr_name: up to XATTR_NAME_MAX bytes; "" or longer is ERANGE.
Result<std::string> CopyInXattrName(SyscallArgs& args, int i) {
  Result<std::string> name =
      CopyInString(args.mem, args.Addr(i), vfs::kXattrNameMax);
  if (!name && name.error().code() == ENAMETOOLONG) return Errno(ERANGE);
  if (name && name->empty()) return Errno(ERANGE);
  return name;
}

// Where the call acts: a path (followed or not) or an fd (fdget: O_PATH
// is EBADF). Returns the start and the path/flags to give the Vfs.
struct Where {
  vfs::Location dir;
  std::string path;
  int flags = 0;
};

Result<Ref<vfs::FileDescription>> XattrFile(Task& task, int fd) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(fd));
  if (file->is_path()) return Errno(EBADF);  // fdget skips FMODE_PATH
  return file;
}

Result<Where> Resolve(Task& task, const vfs::Context& ctx, Target target,
                      const std::string& path,
                      RefPtr<vfs::FileDescription> file) {
  if (target == Target::kFd) return Where{file->location(), "", AT_EMPTY_PATH};
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, AT_FDCWD, path));
  return Where{std::move(dir), path,
               target == Target::kLink ? AT_SYMLINK_NOFOLLOW : 0};
}

Result<int64_t> SetXattr(Task& task, SyscallArgs& args, Target target) {
  RefPtr<vfs::FileDescription> file;
  // fsetxattr looks the fd up first.
  if (target == Target::kFd) file = VEIL_TRY(XattrFile(task, args.Int(0)));
  int xflags = args.Int(4);
  // setxattr_copy: flags, then the name, then the value.
  if (xflags & ~(XATTR_CREATE | XATTR_REPLACE)) return Errno(EINVAL);
  std::string name = VEIL_TRY(CopyInXattrName(args, 1));
  uint64_t size = args.ULong(3);
  if (size > vfs::kXattrSizeMax) return Errno(E2BIG);
  std::string value(size, '\0');
  VEIL_TRY_VOID(args.mem.Read(
      args.Addr(2),
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(value.data()), size)));
  std::string path;
  if (target != Target::kFd)
    path = VEIL_TRY(CopyInPath(args.mem, args.Addr(0), EmptyPath::kDeny));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  Where w = VEIL_TRY(Resolve(task, ctx, target, path, file));
  VEIL_TRY_VOID(
      task.vfs().SetXattrAt(ctx, w.dir, w.path, name, value, xflags, w.flags));
  return 0;
}

Result<int64_t> GetXattr(Task& task, SyscallArgs& args, Target target) {
  RefPtr<vfs::FileDescription> file;
  if (target == Target::kFd) file = VEIL_TRY(XattrFile(task, args.Int(0)));
  std::string name = VEIL_TRY(CopyInXattrName(args, 1));
  std::string path;
  if (target != Target::kFd)
    path = VEIL_TRY(CopyInPath(args.mem, args.Addr(0), EmptyPath::kDeny));
  vfs::Context ctx = task.Context();
  Where w = VEIL_TRY(Resolve(task, ctx, target, path, file));
  std::string value =
      VEIL_TRY(task.vfs().GetXattrAt(ctx, w.dir, w.path, name, w.flags));
  uint64_t size = std::min<uint64_t>(args.ULong(3), vfs::kXattrSizeMax);
  // do_getxattr: size 0 asks for the length; a smaller buffer is ERANGE.
  if (size == 0) return static_cast<int64_t>(value.size());
  if (value.size() > size) return Errno(ERANGE);
  VEIL_TRY_VOID(args.mem.Write(
      args.Addr(2),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(value.data()),
                               value.size())));
  return static_cast<int64_t>(value.size());
}

Result<int64_t> ListXattr(Task& task, SyscallArgs& args, Target target) {
  RefPtr<vfs::FileDescription> file;
  std::string path;
  if (target == Target::kFd) {
    file = VEIL_TRY(XattrFile(task, args.Int(0)));
  } else {
    path = VEIL_TRY(CopyInPath(args.mem, args.Addr(0), EmptyPath::kDeny));
  }
  vfs::Context ctx = task.Context();
  Where w = VEIL_TRY(Resolve(task, ctx, target, path, file));
  std::vector<std::string> names =
      VEIL_TRY(task.vfs().ListXattrAt(ctx, w.dir, w.path, w.flags));
  std::string list;
  for (const std::string& n : names) {
    list.append(n);
    list.push_back('\0');
  }
  uint64_t size = std::min<uint64_t>(args.ULong(2), kXattrListMax);
  // listxattr: size 0 asks for the length; a smaller buffer is ERANGE.
  if (size == 0) return static_cast<int64_t>(list.size());
  if (list.size() > size) return Errno(ERANGE);
  VEIL_TRY_VOID(args.mem.Write(
      args.Addr(1),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(list.data()),
                               list.size())));
  return static_cast<int64_t>(list.size());
}

Result<int64_t> RemoveXattr(Task& task, SyscallArgs& args, Target target) {
  RefPtr<vfs::FileDescription> file;
  if (target == Target::kFd) file = VEIL_TRY(XattrFile(task, args.Int(0)));
  std::string name = VEIL_TRY(CopyInXattrName(args, 1));
  std::string path;
  if (target != Target::kFd)
    path = VEIL_TRY(CopyInPath(args.mem, args.Addr(0), EmptyPath::kDeny));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  vfs::Context ctx = task.Context();
  Where w = VEIL_TRY(Resolve(task, ctx, target, path, file));
  VEIL_TRY_VOID(task.vfs().RemoveXattrAt(ctx, w.dir, w.path, name, w.flags));
  return 0;
}

}  // namespace

Result<int64_t> SysSetxattr(Task& t, SyscallArgs& a) {
  return SetXattr(t, a, Target::kPath);
}
Result<int64_t> SysLsetxattr(Task& t, SyscallArgs& a) {
  return SetXattr(t, a, Target::kLink);
}
Result<int64_t> SysFsetxattr(Task& t, SyscallArgs& a) {
  return SetXattr(t, a, Target::kFd);
}
Result<int64_t> SysGetxattr(Task& t, SyscallArgs& a) {
  return GetXattr(t, a, Target::kPath);
}
Result<int64_t> SysLgetxattr(Task& t, SyscallArgs& a) {
  return GetXattr(t, a, Target::kLink);
}
Result<int64_t> SysFgetxattr(Task& t, SyscallArgs& a) {
  return GetXattr(t, a, Target::kFd);
}
Result<int64_t> SysListxattr(Task& t, SyscallArgs& a) {
  return ListXattr(t, a, Target::kPath);
}
Result<int64_t> SysLlistxattr(Task& t, SyscallArgs& a) {
  return ListXattr(t, a, Target::kLink);
}
Result<int64_t> SysFlistxattr(Task& t, SyscallArgs& a) {
  return ListXattr(t, a, Target::kFd);
}
Result<int64_t> SysRemovexattr(Task& t, SyscallArgs& a) {
  return RemoveXattr(t, a, Target::kPath);
}
Result<int64_t> SysLremovexattr(Task& t, SyscallArgs& a) {
  return RemoveXattr(t, a, Target::kLink);
}
Result<int64_t> SysFremovexattr(Task& t, SyscallArgs& a) {
  return RemoveXattr(t, a, Target::kFd);
}

}  // namespace veil::sentry
