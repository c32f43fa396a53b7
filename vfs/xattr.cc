// SPDX-License-Identifier: Apache-2.0
//
// Extended attributes: fs/xattr.c (setxattr_copy, xattr_permission,
// xattr_resolve_name). Filesystems store them; the VFS checks names,
// sizes and permissions.
#include <sys/xattr.h>


#include "vfs/internal/util.h"
#include "vfs/vfs.h"

namespace veil::vfs {
namespace {

constexpr std::string_view kUserPrefix = "user.";
constexpr std::string_view kTrustedPrefix = "trusted.";
constexpr std::string_view kSecurityPrefix = "security.";
constexpr std::string_view kSystemPrefix = "system.";

bool HasPrefix(std::string_view name, std::string_view prefix) {
  return name.substr(0, prefix.size()) == prefix;
}

// The name as copied from the caller: empty or over XATTR_NAME_MAX is ERANGE.
Result<void> CheckXattrName(std::string_view name) {
  if (name.empty() || name.size() > kXattrNameMax) return Errno(ERANGE);
  return Ok();
}

// xattr_permission. `write` is MAY_WRITE, else MAY_READ.
Result<void> XattrPermission(const Credentials& creds, const Attr& attr,
                             std::string_view name, bool write) {
  if (HasPrefix(name, kSecurityPrefix) || HasPrefix(name, kSystemPrefix))
    return Ok();
  if (HasPrefix(name, kTrustedPrefix)) {
    if (!creds.HasCap(Capability::kSysAdmin))
      return Errno(write ? EPERM : ENODATA);
    return Ok();
  }
  if (HasPrefix(name, kUserPrefix)) {
    if (!attr.IsRegular() && !attr.IsDir())
      return Errno(write ? EPERM : ENODATA);
    if (attr.IsDir() && (attr.mode & S_ISVTX) && write &&
        !internal::OwnerOrCapable(creds, attr))
      return Errno(EPERM);
  }
  return internal::CheckPermission(
      creds, attr, write ? internal::kMayWrite : internal::kMayRead);
}

// xattr_resolve_name: the namespaces a filesystem can hold. Unknown
// prefixes are EOPNOTSUPP; a bare prefix ("user.") is EINVAL.
Result<void> ResolveXattrNamespace(std::string_view name) {
  for (std::string_view prefix : {kUserPrefix, kTrustedPrefix, kSecurityPrefix}) {
    if (HasPrefix(name, prefix)) {
      if (name.size() == prefix.size()) return Errno(EINVAL);
      return Ok();
    }
  }
  return Errno(EOPNOTSUPP);
}

}  // namespace

Result<void> Vfs::SetXattrAt(const Context& ctx, const Location& dir,
                             std::string_view path, std::string_view name,
                             std::string_view value, int xattr_flags,
                             int flags) {
  if (xattr_flags & ~(XATTR_CREATE | XATTR_REPLACE)) return Errno(EINVAL);
  VEIL_TRY_VOID(CheckXattrName(name));
  if (value.size() > kXattrSizeMax) return Errno(E2BIG);
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  VEIL_TRY_VOID(internal::WantWrite(loc));
  Inode& inode = loc.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  VEIL_TRY_VOID(XattrPermission(ctx.creds, inode.GetAttrLocked(), name, true));
  if (!inode.fs().ResolvesXattrNamespaces())
    VEIL_TRY_VOID(ResolveXattrNamespace(name));
  return inode.SetXattrLocked(name, value, xattr_flags);
}

Result<std::string> Vfs::GetXattrAt(const Context& ctx, const Location& dir,
                                    std::string_view path,
                                    std::string_view name, int flags) {
  VEIL_TRY_VOID(CheckXattrName(name));
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  Inode& inode = loc.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  VEIL_TRY_VOID(XattrPermission(ctx.creds, inode.GetAttrLocked(), name, false));
  VEIL_TRY_VOID(ResolveXattrNamespace(name));
  return inode.GetXattrLocked(name);
}

Result<std::vector<std::string>> Vfs::ListXattrAt(const Context& ctx,
                                                  const Location& dir,
                                                  std::string_view path,
                                                  int flags) {
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  Inode& inode = loc.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  std::vector<std::string> names = VEIL_TRY(inode.ListXattrLocked());
  // simple_xattr_list: trusted.* names only for CAP_SYS_ADMIN.
  if (!ctx.creds.HasCap(Capability::kSysAdmin)) {
    std::erase_if(names, [](const std::string& n) {
      return HasPrefix(n, kTrustedPrefix);
    });
  }
  return names;
}

Result<void> Vfs::RemoveXattrAt(const Context& ctx, const Location& dir,
                                std::string_view path, std::string_view name,
                                int flags) {
  VEIL_TRY_VOID(CheckXattrName(name));
  Location loc = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, flags));
  VEIL_TRY_VOID(internal::WantWrite(loc));
  Inode& inode = loc.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  VEIL_TRY_VOID(XattrPermission(ctx.creds, inode.GetAttrLocked(), name, true));
  if (!inode.fs().ResolvesXattrNamespaces())
    VEIL_TRY_VOID(ResolveXattrNamespace(name));
  return inode.RemoveXattrLocked(name);
}

}  // namespace veil::vfs
