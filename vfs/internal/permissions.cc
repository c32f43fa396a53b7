// SPDX-License-Identifier: Apache-2.0
//
// Linux's DAC checks (fs/namei.c acl_permission_check, generic_permission;
// fs/inode.c inode_owner_or_capable). No POSIX ACLs.
#include "vfs/internal/resolver.h"

namespace veil::vfs::internal {

Result<void> CheckPermission(const Credentials& creds, const Attr& attr,
                             int mask) {
  mask &= kMayRead | kMayWrite | kMayExec;
  uint32_t mode = attr.mode;
  // acl_permission_check: the owner class if the caller owns the file,
  // else the group class if in its group, else other. Only that class.
  if (creds.fsuid == attr.uid) {
    mode >>= 6;
  } else if (creds.InGroup(attr.gid)) {
    mode >>= 3;
  }
  if ((mask & ~mode & 7) == 0) return Ok();

  // generic_permission: capabilities override what DAC refused.
  if (attr.IsDir()) {
    // Directories: DAC_READ_SEARCH covers read and search, DAC_OVERRIDE all.
    if (!(mask & kMayWrite) && creds.HasCap(Capability::kDacReadSearch))
      return Ok();
    if (creds.HasCap(Capability::kDacOverride)) return Ok();
    return Errno(EACCES);
  }
  if (mask == kMayRead && creds.HasCap(Capability::kDacReadSearch))
    return Ok();
  // Read and write are always overridable; execute only when at least one
  // execute bit is set.
  if ((!(mask & kMayExec) || (attr.mode & 0111)) &&
      creds.HasCap(Capability::kDacOverride))
    return Ok();
  return Errno(EACCES);
}

bool OwnerOrCapable(const Credentials& creds, const Attr& attr) {
  return creds.fsuid == attr.uid || creds.HasCap(Capability::kFowner);
}

bool StickyForbids(const Credentials& creds, const Attr& dir,
                   const Attr& victim) {
  // check_sticky: in a sticky directory only the file's owner, the
  // directory's owner or CAP_FOWNER may remove or rename an entry.
  if (!(dir.mode & S_ISVTX)) return false;
  if (victim.uid == creds.fsuid || dir.uid == creds.fsuid) return false;
  return !creds.HasCap(Capability::kFowner);
}

}  // namespace veil::vfs::internal
