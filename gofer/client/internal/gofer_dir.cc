// SPDX-License-Identifier: Apache-2.0
//
// GoferInode directories: lookup, create, link, unlink, rename. The VFS has
// done every check (permissions, existence, sticky bits, emptiness aside);
// these send the one message that does the change and mark what it touched
// stale, since the replies of unlink and rename carry no attributes.
#include <linux/fs.h>
#include <sys/sysmacros.h>

#include "base/logging.h"
#include "gofer/client/internal/gofer_inode.h"

namespace veil::gofer::client::internal {

namespace {

GoferInode& AsGofer(vfs::Inode& inode) {
  // Every inode of a GoferFs is a GoferInode, and the VFS only passes
  // inodes of this filesystem (cross-filesystem calls fail with EXDEV
  // before reaching it).
  return static_cast<GoferInode&>(inode);
}

}  // namespace

void GoferInode::AddNameLocked(GoferInode& dir, std::string_view name) {
  if (IsDir()) return;  // directories reopen themselves through "."
  // An immutable tree never loses a name, so the server never needs to
  // be told one again: nothing to keep.
  if (gofer().immutable()) return;
  if (name_dir_.get() == &dir && name_.view() == name) return;
  if (!name_dir_) {
    name_dir_ = RefPtr<GoferInode>(&dir);
    name_.Set(name);
    return;
  }
  Extra& e = EnsureExtra();
  for (const auto& [d, n] : e.more_names)
    if (d.get() == &dir && n == name) return;
  e.more_names.emplace_back(Ref<GoferInode>(dir), std::string(name));
}

void GoferInode::RemoveNameLocked(GoferInode& dir, std::string_view name) {
  Extra* e = extra();
  if (e) {
    std::erase_if(e->more_names, [&](const auto& entry) {
      return entry.first.get() == &dir && entry.second == name;
    });
  }
  if (name_dir_.get() != &dir || name_.view() != name) return;
  if (e && !e->more_names.empty()) {
    // The oldest other name takes the first place.
    name_dir_ = RefPtr<GoferInode>(e->more_names.front().first);
    name_.Set(e->more_names.front().second);
    e->more_names.erase(e->more_names.begin());
  } else {
    name_dir_ = nullptr;
    name_.Clear();
  }
}

bool GoferInode::RelearnLocked() {
  auto walk = [&](GoferInode& dir, std::string_view name) {
    lisafs::WalkReq req;
    req.dir_fd = dir.control_;
    req.names.emplace_back(name);
    auto reply = client().Call(req);
    if (!reply || reply->message.inodes.empty()) return false;
    const lisafs::Inode& found = reply->message.inodes.front();
    gofer().ReleaseFd(found.control_fd);
    return CheckStatx(found.stat) && KeyOf(found.stat) == key();
  };
  // Newest first.
  if (Extra* e = extra()) {
    for (auto it = e->more_names.rbegin(); it != e->more_names.rend(); ++it)
      if (walk(*it->first, it->second)) return true;
  }
  return name_dir_ && walk(*name_dir_, name_.view());
}

Result<Ref<vfs::Inode>> GoferInode::LookupLocked(std::string_view name) {
  VEIL_TRY_VOID(CheckUsableLocked());
  if (!IsDir()) return Errno(ENOTDIR);
  lisafs::WalkReq req;
  req.dir_fd = control_;
  req.names.emplace_back(name);
  auto reply = VEIL_TRY(client().Call(req));
  const lisafs::WalkResp& r = reply.message;
  if (r.inodes.empty()) {
    // The lisafs client checked that an empty walk is not a "success".
    return Errno(ENOENT);
  }
  const lisafs::Inode& found = r.inodes.front();
  // A walk that says it stopped at a symlink must have found one.
  if (r.status == lisafs::WalkStatus::kComponentSymlink &&
      (found.stat.mode & S_IFMT) != S_IFLNK) {
    gofer().ReleaseFd(found.control_fd);
    return Errno(EIO);
  }
  Ref<GoferInode> child =
      VEIL_TRY(gofer().InodeForLocked(found, Freshness::kExisting));
  if (child->IsDir()) child->set_parent_ino(ino());
  child->AddNameLocked(*this, name);
  child->NoteFreshLocked();
  return Ref<vfs::Inode>(std::move(child));
}

Result<Ref<GoferInode>> GoferInode::CreateNodeLocked(
    std::string_view name, const vfs::CreateSpec& spec) {
  const uint32_t type = spec.mode & S_IFMT;
  const uint32_t perm = spec.mode & 07777;
  lisafs::Inode child;
  lisafs::FdId opened = lisafs::kNoFdId;  // a created file's open FDID
  UniqueFd donated;                       // and its donated descriptor
  switch (type) {
    case S_IFDIR: {
      lisafs::MkdirAtReq req{control_, std::string(name), perm, spec.uid,
                             spec.gid};
      child = VEIL_TRY(client().Call(req)).message.child;
      break;
    }
    case S_IFREG: {
      // Created open: the handle serves the open(O_CREAT) that usually
      // follows, saving a round trip.
      lisafs::OpenCreateAtReq req;
      req.dir_fd = control_;
      req.name = std::string(name);
      req.mode = perm;
      req.uid = spec.uid;
      req.gid = spec.gid;
      req.flags = O_RDWR;
      auto reply = VEIL_TRY(client().Call(req));
      child = reply.message.child;
      opened = reply.message.open_fd;
      donated = std::move(reply.fd);  // checked once the inode exists
      break;
    }
    case S_IFLNK: {
      lisafs::SymlinkAtReq req{control_, std::string(name),
                               std::string(spec.symlink_target), spec.uid,
                               spec.gid};
      child = VEIL_TRY(client().Call(req)).message.child;
      break;
    }
    default: {
      lisafs::MknodAtReq req;
      req.dir_fd = control_;
      req.name = std::string(name);
      req.mode = type | perm;
      req.uid = spec.uid;
      req.gid = spec.gid;
      req.rdev_major = major(spec.rdev);
      req.rdev_minor = minor(spec.rdev);
      child = VEIL_TRY(client().Call(req)).message.child;
      break;
    }
  }
  MarkStale();  // our mtime, ctime, size and (for a directory) link count
  if ((child.stat.mode & S_IFMT) != type) {
    // The server made something else than asked: believe nothing of it.
    gofer().ReleaseFd(child.control_fd);
    gofer().ReleaseFd(opened);
    return Errno(EIO);
  }
  Result<Ref<GoferInode>> made =
      gofer().InodeForLocked(child, Freshness::kCreated);
  if (!made) {
    gofer().ReleaseFd(opened);
    return made.error();
  }
  Ref<GoferInode> inode = std::move(*made);
  if (opened != lisafs::kNoFdId) {
    // Cached idle: the open(O_CREAT) that follows takes it from the cache.
    gofer().handles().Insert(
        *inode, HandleKind::kReadWrite,
        std::make_shared<const Handle>(
            gofer(), opened,
            inode->CheckDonated(std::move(donated), HandleKind::kReadWrite)));
  }
  if (type == S_IFDIR) inode->set_parent_ino(ino());
  inode->AddNameLocked(*this, name);
  if (type == S_IFLNK) {
    Extra& e = inode->EnsureExtra();
    e.target = std::string(spec.symlink_target);
    e.has_target = true;
  }
  VEIL_TRY_VOID(FixCreatedLocked(*inode, spec));
  return inode;
}

Result<void> GoferInode::FixCreatedLocked(GoferInode& child,
                                          const vfs::CreateSpec& spec) {
  // The server applies the owner with a chown after creating, which on
  // Linux strips S_ISUID (and S_ISGID from group-executable files) even
  // for root; set what the VFS decided. Symlinks have no mode of their own.
  const lisafs::Statx st = child.stat_.Get();
  if (st.uid != spec.uid || st.gid != spec.gid) {
    lisafs::SetStatReq req;
    req.mask = lisafs::kSetStatUid | lisafs::kSetStatGid;
    req.uid = spec.uid;
    req.gid = spec.gid;
    VEIL_TRY_VOID(child.SetStatLocked(req));
  }
  if (!child.IsSymlink() && (st.mode & 07777) != (spec.mode & 07777)) {
    lisafs::SetStatReq req;
    req.mask = lisafs::kSetStatMode;
    req.mode = spec.mode & 07777;
    VEIL_TRY_VOID(child.SetStatLocked(req));
  }
  return Ok();
}

Result<Ref<vfs::Inode>> GoferInode::CreateLocked(std::string_view name,
                                                 const vfs::CreateSpec& spec) {
  VEIL_TRY_VOID(CheckUsableLocked());
  if (!IsDir()) return Errno(ENOTDIR);
  Ref<GoferInode> child = VEIL_TRY(CreateNodeLocked(name, spec));
  return Ref<vfs::Inode>(std::move(child));
}

Result<void> GoferInode::LinkLocked(std::string_view name,
                                    vfs::Inode& target_inode) {
  VEIL_TRY_VOID(CheckUsableLocked());
  GoferInode& target = AsGofer(target_inode);
  VEIL_TRY_VOID(target.CheckUsableLocked());
  lisafs::LinkAtReq req{control_, std::string(name), target.control_};
  auto reply = VEIL_TRY(client().Call(req));
  MarkStale();
  const lisafs::Inode& child = reply.message.child;
  // The new name's FDID is one more handle on the target; we have one.
  gofer().ReleaseFd(child.control_fd);
  // Its attributes are the target's after the link (link count, ctime),
  // unless the server names some other file, which is a lie about the
  // link rather than about the target.
  if (!CheckStatx(child.stat) || KeyOf(child.stat) != target.key()) {
    target.MarkStale();
    return Errno(EIO);
  }
  target.AddNameLocked(*this, name);
  return target.UpdateStatLocked(child.stat);
}

Result<void> GoferInode::UnlinkLocked(std::string_view name,
                                      vfs::Inode& child_inode) {
  VEIL_TRY_VOID(CheckUsableLocked());
  GoferInode& child = AsGofer(child_inode);
  lisafs::UnlinkAtReq req{control_, std::string(name),
                          child.IsDir() ? uint32_t{AT_REMOVEDIR} : 0u};
  VEIL_TRY(client().Call(req));
  MarkStale();
  child.MarkStale();  // link count and ctime
  child.RemoveNameLocked(*this, name);
  if (child.IsDir()) child.removed_ = true;
  return Ok();
}

Result<void> GoferInode::RenameLocked(
    std::string_view name, vfs::Inode& child_inode, vfs::Inode& new_dir_inode,
    std::string_view new_name, vfs::Inode* replaced_inode, unsigned flags) {
  VEIL_TRY_VOID(CheckUsableLocked());
  GoferInode& child = AsGofer(child_inode);
  GoferInode& new_dir = AsGofer(new_dir_inode);
  GoferInode* replaced = replaced_inode ? &AsGofer(*replaced_inode) : nullptr;
  VEIL_TRY_VOID(new_dir.CheckUsableLocked());
  // RENAME_WHITEOUT is the VFS's to do (it creates the whiteout after).
  lisafs::RenameAtReq req{control_, std::string(name), new_dir.control_,
                          std::string(new_name),
                          flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)};
  // When others change the tree too, never clobber a file the VFS did not
  // know was there: the host answers EEXIST instead.
  if (!replaced && !(flags & RENAME_EXCHANGE) && gofer().shared())
    req.flags = RENAME_NOREPLACE;
  VEIL_TRY(client().Call(req));
  MarkStale();
  new_dir.MarkStale();
  child.MarkStale();
  if (child.IsDir()) child.set_parent_ino(new_dir.ino());
  child.RemoveNameLocked(*this, name);
  if (replaced) {
    replaced->MarkStale();
    replaced->RemoveNameLocked(new_dir, new_name);
    if (flags & RENAME_EXCHANGE) {
      if (replaced->IsDir()) replaced->set_parent_ino(ino());
      replaced->AddNameLocked(*this, name);
    } else if (replaced->IsDir()) {
      replaced->removed_ = true;
    }
  }
  child.AddNameLocked(new_dir, new_name);
  return Ok();
}

}  // namespace veil::gofer::client::internal
