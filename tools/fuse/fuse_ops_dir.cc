// SPDX-License-Identifier: Apache-2.0
//
// FuseAdapter: operations on names and directories (mknod, mkdir, unlink,
// rmdir, symlink, rename, link, opendir, readdir). Each resolves the name
// relative to its parent node's Location, so the Vfs does the walk step's
// permission checks as it would for the *at() syscall.
#include <fcntl.h>

#include <cstdio>  // RENAME_EXCHANGE

#include <memory>
#include <string>

#include "tools/fuse/fuse_adapter.h"

namespace veil::tools {

void FuseAdapter::Mknod(fuse_req_t req, fuse_ino_t parent, const char* name,
                        mode_t mode, dev_t rdev) {
  std::string_view child = VEIL_FUSE_TRY(req, FuseName(name));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(parent));
  vfs::Context ctx = MakeContext(req);
  VEIL_FUSE_TRY_VOID(req, vfs_.MknodAt(ctx, dir, child, mode, rdev));
  ReplyChildEntry(req, ctx, dir, parent, child);
}

void FuseAdapter::Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name,
                        mode_t mode) {
  std::string_view child = VEIL_FUSE_TRY(req, FuseName(name));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(parent));
  vfs::Context ctx = MakeContext(req);
  VEIL_FUSE_TRY_VOID(req, vfs_.MkdirAt(ctx, dir, child, mode));
  ReplyChildEntry(req, ctx, dir, parent, child);
}

void FuseAdapter::Unlink(fuse_req_t req, fuse_ino_t parent, const char* name,
                         int flags) {
  std::string_view child = VEIL_FUSE_TRY(req, FuseName(name));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(parent));
  // The node (if the kernel holds one) keeps the Location the name had: it
  // cannot be found by name any more, and the kernel forgets the node or
  // looks it up again under another hard-link name.
  FuseNodes::Named gone = nodes_.NodeNamed(dir, child);
  VEIL_FUSE_TRY_VOID(req, vfs_.UnlinkAt(MakeContext(req), dir, child, flags));
  nodes_.PinRemoved(gone, parent, child);
  fuse_reply_err(req, 0);
}

void FuseAdapter::Symlink(fuse_req_t req, const char* target, fuse_ino_t parent,
                          const char* name) {
  std::string_view child = VEIL_FUSE_TRY(req, FuseName(name));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(parent));
  vfs::Context ctx = MakeContext(req);
  VEIL_FUSE_TRY_VOID(req, vfs_.SymlinkAt(ctx, target, dir, child));
  ReplyChildEntry(req, ctx, dir, parent, child);
}

void FuseAdapter::Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
                         fuse_ino_t new_parent, const char* new_name,
                         unsigned flags) {
  std::string_view from = VEIL_FUSE_TRY(req, FuseName(name));
  std::string_view to = VEIL_FUSE_TRY(req, FuseName(new_name));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(parent));
  vfs::Location new_dir = VEIL_FUSE_TRY(req, Find(new_parent));
  // The nodes of both names follow their files: the source's to the new
  // name, the target's to the old one (RENAME_EXCHANGE) or to its
  // Location (replaced, perhaps still open).
  FuseNodes::Named source = nodes_.NodeNamed(dir, from);
  FuseNodes::Named target = nodes_.NodeNamed(new_dir, to);
  VEIL_FUSE_TRY_VOID(
      req, vfs_.RenameAt(MakeContext(req), dir, from, new_dir, to, flags));
  if (source.node != target.node) {
    if (flags & RENAME_EXCHANGE) {
      nodes_.MoveNode(target, new_parent, to, parent, from);
    } else {
      nodes_.PinRemoved(target, new_parent, to);
    }
  }
  nodes_.MoveNode(source, parent, from, new_parent, to);
  fuse_reply_err(req, 0);
}

void FuseAdapter::Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
                       const char* new_name) {
  std::string_view child = VEIL_FUSE_TRY(req, FuseName(new_name));
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(new_parent));
  vfs::Context ctx = MakeContext(req);
  // link(2) names its source by path. linkat(AT_EMPTY_PATH) would need
  // CAP_DAC_READ_SEARCH, which an ordinary `ln` does not have, so the
  // source is named by its current name in its directory.
  auto [old_dir, old_name] = VEIL_FUSE_TRY(req, ParentAndName(loc));
  VEIL_FUSE_TRY_VOID(
      req, vfs_.LinkAt(ctx, old_dir, old_name, dir, child, /*flags=*/0));
  ReplyChildEntry(req, ctx, dir, new_parent, child);
}

void FuseAdapter::OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  int flags = O_RDONLY | O_DIRECTORY | (fi->flags & O_NOATIME);
  Ref<vfs::FileDescription> file =
      VEIL_FUSE_TRY(req, Reopen(MakeContext(req), loc, flags));
  OpenFile* open = NewOpenFile(ino, std::move(file));
  fi->fh = reinterpret_cast<uint64_t>(open);
  // The kernel must not cache entries: the Vfs can change under it.
  fi->cache_readdir = 0;
  fi->keep_cache = 0;
  if (fuse_reply_open(req, fi) != 0) Release(open);  // else releasedir does
}

void FuseAdapter::ReadDir(fuse_req_t req, size_t size, off_t off,
                          fuse_file_info* fi) {
  vfs::FileDescription& dir = *FileOf(fi).file;
  auto buf = std::make_unique_for_overwrite<char[]>(size);
  size_t used = 0;
  // The FUSE offset of an entry is the Vfs cookie to resume after it
  // (getdents64's d_off), so a seekdir/telldir round trip is exact and a
  // concurrent unlink neither repeats nor skips a surviving entry.
  uint64_t cookie = static_cast<uint64_t>(off);
  size_t last_pos = 0;  // where the last entry added starts in buf
  std::string last_name;
  struct stat last_st {};
  uint64_t last_next = 0;
  Result<void> r = dir.impl().ReadDir(&cookie, [&](const vfs::DirEntry& e) {
    struct stat st {};
    st.st_ino = e.ino;
    st.st_mode = static_cast<mode_t>(e.type) << 12;  // DTTOIF
    size_t need =
        fuse_add_direntry(req, buf.get() + used, size - used, e.name.c_str(),
                          &st, static_cast<off_t>(e.next_cookie));
    if (need > size - used) return false;  // full; resume here next time
    last_pos = used;
    last_name = e.name;
    last_st = st;
    last_next = e.next_cookie;
    used += need;
    return true;
  });
  // As getdents64: entries already gathered win over a later error.
  if (!r && used == 0) {
    fuse_reply_err(req, r.error().code());
    return;
  }
  // The kernel's file position becomes the offset of the last entry it
  // gets. When the Vfs ended the walk somewhere else (tmpfs moves to "end
  // of directory", so names created later stay unseen until a seek, as
  // Linux's offset_iterate_dir does), that position must travel with the
  // last entry: re-add it in place, same size, with the final cookie.
  if (r && used > 0 && cookie != last_next) {
    fuse_add_direntry(req, buf.get() + last_pos, size - last_pos,
                      last_name.c_str(), &last_st, static_cast<off_t>(cookie));
  }
  fuse_reply_buf(req, buf.get(), used);
}

}  // namespace veil::tools
