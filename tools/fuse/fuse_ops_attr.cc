// SPDX-License-Identifier: Apache-2.0
//
// FuseAdapter: operations on a node's attributes (getattr, setattr,
// readlink, statfs, access). Each is the fd-style Vfs call: the node's
// Location, an empty path and AT_EMPTY_PATH.
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "tools/fuse/fuse_adapter.h"

namespace veil::tools {
namespace {

// The node itself, never what it points to: the kernel has already
// followed every symlink it meant to follow.
constexpr int kThisNode = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;

}  // namespace

void FuseAdapter::GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  vfs::Attr attr;
  if (fi) {
    attr = VEIL_FUSE_TRY(req, FileOf(fi).file->Stat());
  } else {
    vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
    attr = VEIL_FUSE_TRY(req, StatLocation(MakeContext(req), loc));
  }
  struct stat st = ToStat(attr);
  fuse_reply_attr(req, &st, AttrTimeout());
}

void FuseAdapter::SetAttr(fuse_req_t req, fuse_ino_t ino,
                          const struct stat* attr, int to_set,
                          fuse_file_info* fi) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  vfs::Context ctx = MakeContext(req);
  // No syscall sets a mode together with a size or an owner: such a mode
  // is the kernel's setuid/setgid removal for that truncate or chown
  // (fuse_setattr turns ATTR_KILL_SUID/SGID into a mode without
  // FUSE_HANDLE_KILLPRIV). The Vfs's truncate and chown drop those bits
  // themselves, as Linux does, and only if they succeed; applying the mode
  // first would drop them even when the truncate is refused (EACCES).
  if (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
    to_set &= ~FUSE_SET_ATTR_MODE;
  // One syscall sets one group of fields; apply owner before mode (a
  // chown drops setuid, an explicit mode must win) and size before times
  // (a truncate stamps mtime, an explicit time must win).
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : uid_t(-1);
    gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : gid_t(-1);
    VEIL_FUSE_TRY_VOID(req, vfs_.ChownAt(ctx, loc, "", uid, gid, kThisNode));
  }
  if (to_set & FUSE_SET_ATTR_MODE) {
    mode_t mode = attr->st_mode & 07777;
    // The kernel's own setuid/setgid removal runs as the writer, who may
    // not own the file; Linux forces it past the owner check (ATTR_FORCE).
    const vfs::Context& chmod_ctx =
        IsKillPriv(ctx, ino, loc, mode) ? root_ctx_ : ctx;
    VEIL_FUSE_TRY_VOID(req, vfs_.ChmodAt(chmod_ctx, loc, "", mode, kThisNode));
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (fi) {
      // ftruncate(2): the description decides (it must be writable).
      VEIL_FUSE_TRY_VOID(req,
                         vfs_.Ftruncate(ctx, *FileOf(fi).file, attr->st_size));
    } else {
      // truncate(2) has no AT_EMPTY_PATH form: truncate the node's name.
      // NOTE: a rename racing with this request could put another file
      // under that name; the kernel holds no lock that would prevent it.
      auto [dir, name] = VEIL_FUSE_TRY(req, ParentAndName(loc));
      VEIL_FUSE_TRY_VOID(req, vfs_.TruncateAt(ctx, dir, name, attr->st_size));
    }
  }
  constexpr int kTimes = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                         FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
  if (to_set & kTimes) {
    timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
      times[0].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME)
      times[0] = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
      times[1].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME)
      times[1] = attr->st_mtim;
    // Both "now" becomes a null `times` in the Vfs, so touch(1) by a
    // non-owner with write permission works as utimensat(NULL) does.
    VEIL_FUSE_TRY_VOID(req, vfs_.UtimensAt(ctx, loc, "", times, kThisNode));
  }
  constexpr int kAnyField = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
                            FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE | kTimes;
  if ((to_set & kAnyField) == 0 && !IsDroppedKillSgid(ino, loc)) {
    // chown(fd or path, -1, -1): Linux still stamps ctime (and drops
    // setuid/setgid as for any chown). The kernel keeps the bare
    // ATTR_CTIME to itself without writeback caching, so the request
    // arrives empty; the Vfs's chown with -1, -1 is exactly that call.
    VEIL_FUSE_TRY_VOID(
        req, vfs_.ChownAt(ctx, loc, "", uid_t(-1), gid_t(-1), kThisNode));
  }
  vfs::Attr now =
      VEIL_FUSE_TRY(req, fi ? FileOf(fi).file->Stat() : StatLocation(ctx, loc));
  struct stat st = ToStat(now);
  fuse_reply_attr(req, &st, AttrTimeout());
}

void FuseAdapter::Readlink(fuse_req_t req, fuse_ino_t ino) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  std::string target =
      VEIL_FUSE_TRY(req, vfs_.ReadlinkAt(MakeContext(req), loc, ""));
  fuse_reply_readlink(req, target.c_str());
}

void FuseAdapter::StatFs(fuse_req_t req, fuse_ino_t ino) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  struct statfs st = VEIL_FUSE_TRY(
      req, vfs_.StatFsAt(MakeContext(req), loc, "", AT_EMPTY_PATH));
  struct statvfs sv {};
  sv.f_bsize = static_cast<unsigned long>(st.f_bsize);
  sv.f_frsize =
      static_cast<unsigned long>(st.f_frsize ? st.f_frsize : st.f_bsize);
  sv.f_blocks = st.f_blocks;
  sv.f_bfree = st.f_bfree;
  sv.f_bavail = st.f_bavail;
  sv.f_files = st.f_files;
  sv.f_ffree = st.f_ffree;
  sv.f_favail = st.f_ffree;
  std::memcpy(&sv.f_fsid, &st.f_fsid,
              std::min(sizeof(sv.f_fsid), sizeof(st.f_fsid)));
  sv.f_flag = static_cast<unsigned long>(st.f_flags);
  sv.f_namemax = static_cast<unsigned long>(st.f_namelen);
  fuse_reply_statfs(req, &sv);
}

void FuseAdapter::Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  VEIL_FUSE_TRY_VOID(req,
                     vfs_.AccessAt(MakeContext(req), loc, "", mask, kThisNode));
  fuse_reply_err(req, 0);
}

bool FuseAdapter::IsDroppedKillSgid(fuse_ino_t ino, const vfs::Location& loc) {
  // Before a write by someone outside the file's group, Linux drops a
  // setgid bit even without S_IXGRP (setattr_should_drop_sgid). fuse_setattr
  // recomputes the kill itself and keeps S_ISGID only with S_IXGRP, so it
  // sends an empty request instead. The Vfs's write drops the bit with
  // the writer's credentials, so there is nothing to do here; a chown
  // would apply chown's rules (owner only) and refuse the write.
  Result<vfs::Attr> cur = StatLocation(root_ctx_, loc);
  return cur && cur->IsRegular() &&
         (cur->mode & (S_ISGID | S_IXGRP)) == S_ISGID && HasWriter(ino);
}

bool FuseAdapter::IsKillPriv(const vfs::Context& ctx, fuse_ino_t ino,
                             const vfs::Location& loc, mode_t mode) {
  // file_remove_privs → fuse_setattr, without FUSE_HANDLE_KILLPRIV: the
  // kernel sends mode = current mode minus S_ISUID and/or S_ISGID, as
  // the writer, before a write or fallocate through a writable
  // description (truncate and chown carry it with their own change; see
  // SetAttr). A chmod(2) by a non-owner looks the same; letting it
  // through is safe because it only removes privileges, and only while
  // the file is open for writing (the writer need not be allowed to open
  // it: root may have opened it and passed the descriptor on) or for a
  // caller who may write the file and so could remove them by writing.
  Result<vfs::Attr> cur = StatLocation(ctx, loc);
  if (!cur || !cur->IsRegular()) return false;
  if (cur->uid == ctx.creds.fsuid || ctx.creds.HasCap(vfs::Capability::kFowner))
    return false;  // the ordinary chmod path allows it
  uint32_t old_mode = cur->mode & 07777;
  uint32_t cleared = old_mode & ~mode;
  // Only the bits a write by this caller would drop (Linux
  // setattr_should_drop_suidgid): S_ISUID always, S_ISGID when the file
  // is group-executable or the caller is outside its group.
  uint32_t killable = S_ISUID;
  if ((old_mode & S_IXGRP) || !ctx.creds.InGroup(cur->gid)) killable |= S_ISGID;
  if ((mode & ~old_mode) != 0 || cleared == 0 || (cleared & ~killable) != 0)
    return false;
  return HasWriter(ino) ||
         vfs_.AccessAt(ctx, loc, "", W_OK, kThisNode).has_value();
}

}  // namespace veil::tools
