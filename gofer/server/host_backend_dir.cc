// SPDX-License-Identifier: Apache-2.0
//
// HostBackend: directory changes. Each is one *at() system call on the
// parent directory's own descriptor with a single checked name, so nothing
// a client names can resolve outside the export.
#include <fcntl.h>
#include <stdio.h>  // RENAME_*
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "gofer/server/host_backend.h"
#include "gofer/server/mount_points.h"

namespace veil::gofer {
namespace {

const std::shared_ptr<HostNode>& NodeOf(lisafs::ServerFd& fd) {
  return static_cast<HostFd&>(fd).node();
}

// The parent of a new entry: mkdir(2) and friends in a non-directory fail
// with ENOTDIR.
Result<const std::shared_ptr<HostNode>*> DirOf(lisafs::ServerFd& fd) {
  const std::shared_ptr<HostNode>& node = NodeOf(fd);
  if (!node->is_dir()) return Errno(ENOTDIR);
  return &node;
}

}  // namespace

Result<void> HostBackend::CheckNoMountBelow(const struct statx& st) {
  if (options_.mount_guard != MountGuard::kRootIsExport ||
      (st.stx_mode & S_IFMT) != S_IFDIR) {
    return Ok();
  }
  Result<std::vector<std::string>> points = MountPointsBelowRoot();
  // Before Linux 6.8 the mount table cannot be read without /proc: the
  // rename is not checked (gofer/README.md, "Not yet").
  if (!points && points.error().code() == ENOSYS) return Ok();
  // A table that could not be read whole might hide a mount below: fail
  // closed, as if one were there.
  if (!points) return Errno(EBUSY);
  if (points->empty()) return Ok();
  HostNode::PathFd root = VEIL_TRY(root_->Fd());
  // rename(2) of a directory "in use by the system (for example as a mount
  // point)": EBUSY.
  if (HasMountPointBelow(root->get(), *points, KeyOf(st))) return Errno(EBUSY);
  return Ok();
}

HostBackend::Pinned HostBackend::PinEntry(int dir_fd, const std::string& name) {
  Result<struct statx> st = StatAt(dir_fd, name.c_str());
  if (!st) return {};
  std::shared_ptr<HostNode> node = table_->Find(KeyOf(*st));
  if (node == nullptr) return {};
  Result<HostNode::PathFd> fd = node->Fd();
  if (!fd) return {};
  return Pinned{std::move(node), std::move(*fd)};
}

Result<lisafs::NewNode> HostBackend::FinishCreate(
    const std::shared_ptr<HostNode>& dir, const std::string& name, uint32_t uid,
    uint32_t gid) {
  Result<lisafs::NewNode> made = [&]() -> Result<lisafs::NewNode> {
    std::shared_ptr<HostNode> node = VEIL_TRY(Lookup(dir, name)).node;
    if (uid != lisafs::kNoId || gid != lisafs::kNoId) {
      // -1 leaves an id unchanged, as chown(2) does.
      const uid_t u = uid == lisafs::kNoId ? static_cast<uid_t>(-1) : uid;
      const gid_t g = gid == lisafs::kNoId ? static_cast<gid_t>(-1) : gid;
      HostNode::PathFd path = VEIL_TRY(node->Fd());
      if (::fchownat(path->get(), "", u, g,
                     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
        return Errno::FromErrno();
      }
    }
    return NewControl(std::move(node));
  }();
  if (!made) {
    // Leave no half-made entry behind (gVisor's fsgofer does the same).
    // The caller has the directory's descriptor pinned: this cannot fail.
    if (Result<HostNode::PathFd> dir_fd = dir->Fd()) {
      const int at = (*dir_fd)->get();
      Result<struct statx> st = StatAt(at, name.c_str());
      const bool is_dir = st && (st->stx_mode & S_IFMT) == S_IFDIR;
      (void)::unlinkat(at, name.c_str(), is_dir ? AT_REMOVEDIR : 0);
    }
  }
  return made;
}

Result<lisafs::CreatedFile> HostBackend::OpenCreateAt(
    lisafs::ServerFd& dir_fd, const lisafs::OpenCreateAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);  // open(O_CREAT) on a ro mount.
  VEIL_TRY_VOID(CheckOwner(req.uid, req.gid, nullptr));
  // Before anything is created: a full open-file table is ENFILE.
  OpenFileSlot slot = VEIL_TRY(table_->ReserveOpenFile());
  const int flags = static_cast<int>(req.flags);
  // O_EXCL with O_NOFOLLOW (added by OpenBeneath): an existing name, even a
  // dangling symlink, is EEXIST; nothing is followed.
  HostNode::PathFd at = VEIL_TRY(dir->Fd());
  UniqueFd opened = VEIL_TRY(OpenBeneath(at->get(), req.name.c_str(),
                                         (flags & ~O_TRUNC) | O_CREAT | O_EXCL,
                                         policy_.Mode(S_IFREG, req.mode)));
  lisafs::NewNode node =
      VEIL_TRY(FinishCreate(dir, req.name, req.uid, req.gid));
  // The name was just created by us; make sure it still is the file we
  // opened before handing out both (a host process could have swapped it).
  struct statx st = VEIL_TRY(StatFd(opened.get()));
  std::shared_ptr<HostNode> host_node = static_cast<HostFd&>(*node.fd).node();
  if (KeyOf(st) != host_node->key()) return Errno(ESTALE);

  lisafs::OpenedFile file;
  if (options_.donation == Donation::kAllFiles ||
      (options_.donation == Donation::kReadOnlyFiles &&
       (flags & O_ACCMODE) == O_RDONLY)) {
    const int dup = ::fcntl(opened.get(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return Errno::FromErrno();
    file.host_fd = UniqueFd(dup);
  }
  HostNode::PathFd pin = VEIL_TRY(host_node->Fd());
  file.fd = std::make_unique<HostOpenFd>(std::move(host_node), std::move(slot),
                                         std::move(pin), std::move(opened));
  return lisafs::CreatedFile{std::move(node), std::move(file)};
}

Result<lisafs::NewNode> HostBackend::MkdirAt(lisafs::ServerFd& dir_fd,
                                             const lisafs::MkdirAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);
  VEIL_TRY_VOID(CheckOwner(req.uid, req.gid, nullptr));
  HostNode::PathFd at = VEIL_TRY(dir->Fd());
  if (::mkdirat(at->get(), req.name.c_str(), policy_.Mode(S_IFDIR, req.mode)) !=
      0) {
    return Errno::FromErrno();
  }
  return FinishCreate(dir, req.name, req.uid, req.gid);
}

Result<lisafs::NewNode> HostBackend::MknodAt(lisafs::ServerFd& dir_fd,
                                             const lisafs::MknodAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);
  const uint32_t type = req.mode & S_IFMT;
  const bool whiteout =
      type == S_IFCHR && req.rdev_major == 0 && req.rdev_minor == 0;
  // Device nodes would let the host (and anything opening them) reach past
  // the export; only the overlay whiteout, 0:0, which no driver backs, is
  // allowed. mknod(2) of a device without CAP_MKNOD: EPERM.
  if ((type == S_IFCHR || type == S_IFBLK) && !whiteout) return Errno(EPERM);
  VEIL_TRY_VOID(CheckOwner(req.uid, req.gid, nullptr));
  const dev_t dev = makedev(req.rdev_major, req.rdev_minor);
  HostNode::PathFd at = VEIL_TRY(dir->Fd());
  if (::mknodat(at->get(), req.name.c_str(), type | policy_.Mode(type, req.mode),
                dev) != 0) {
    return Errno::FromErrno();
  }
  return FinishCreate(dir, req.name, req.uid, req.gid);
}

Result<lisafs::NewNode> HostBackend::SymlinkAt(
    lisafs::ServerFd& dir_fd, const lisafs::SymlinkAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);
  VEIL_TRY_VOID(CheckOwner(req.uid, req.gid, nullptr));
  // The target is stored as text and never resolved by the gofer.
  HostNode::PathFd at = VEIL_TRY(dir->Fd());
  if (::symlinkat(req.target.c_str(), at->get(), req.name.c_str()) != 0) {
    return Errno::FromErrno();
  }
  return FinishCreate(dir, req.name, req.uid, req.gid);
}

Result<lisafs::NewNode> HostBackend::LinkAt(lisafs::ServerFd& dir_fd,
                                            lisafs::ServerFd& target_fd,
                                            const lisafs::LinkAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  const std::shared_ptr<HostNode>& target = NodeOf(target_fd);
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);
  // link(2) to a directory: EPERM.
  if (target->is_dir()) return Errno(EPERM);
  // A second name for a host device could sit in a directory more users
  // can search: refused by policy (host_backend.h), EPERM.
  if (IsDeviceNode(*target)) return Errno(EPERM);
  // The target is a node the client walked to, so inside the export; with
  // AT_EMPTY_PATH the O_PATH descriptor itself is linked (a symlink is
  // linked as a symlink, never followed). This needs CAP_DAC_READ_SEARCH.
  HostNode::PathFd from = VEIL_TRY(target->Fd());
  HostNode::PathFd at = VEIL_TRY(dir->Fd());
  if (::linkat(from->get(), "", at->get(), req.name.c_str(), AT_EMPTY_PATH) !=
      0) {
    return Errno::FromErrno();
  }
  std::shared_ptr<HostNode> node = VEIL_TRY(Lookup(dir, req.name)).node;
  if (node != target) {
    // Only a host process racing us could make the name another file.
    return Errno(ESTALE);
  }
  return NewControl(std::move(node));
}

Result<void> HostBackend::UnlinkAt(lisafs::ServerFd& dir_fd,
                                   const lisafs::UnlinkAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);
  HostNode::PathFd at = VEIL_TRY(dir->Fd());
  // The node of the entry, if the client holds one, is opened before its
  // name goes: afterwards it could never be opened again.
  Pinned gone = PinEntry(at->get(), req.name);
  VEIL_TRY_VOID(FromSyscall(
      ::unlinkat(at->get(), req.name.c_str(), static_cast<int>(req.flags))));
  if (gone.node != nullptr) gone.node->Removed(*dir, req.name);
  return Ok();
}

Result<void> HostBackend::RenameAt(lisafs::ServerFd& old_dir_fd,
                                   lisafs::ServerFd& new_dir_fd,
                                   const lisafs::RenameAtReq& req) {
  const std::shared_ptr<HostNode>& old_dir = *VEIL_TRY(DirOf(old_dir_fd));
  const std::shared_ptr<HostNode>& new_dir = *VEIL_TRY(DirOf(new_dir_fd));
  VEIL_TRY_VOID(CheckName(req.old_name));
  VEIL_TRY_VOID(CheckName(req.new_name));
  if (read_only()) return Errno(EROFS);
  // Which inodes move, so that their nodes can follow them (host_node.h).
  // A failed stat only means there is no node to update; renameat2 reports
  // the real error.
  HostNode::PathFd old_at = VEIL_TRY(old_dir->Fd());
  HostNode::PathFd new_at = VEIL_TRY(new_dir->Fd());
  Result<struct statx> moved = StatAt(old_at->get(), req.old_name.c_str());
  Result<struct statx> displaced = StatAt(new_at->get(), req.new_name.c_str());
  // Moving a host device node (either side of an exchange) could put it
  // where more users can reach it: refused by policy, EPERM. Renaming
  // something over one only removes it.
  if ((moved && IsHostDevice(*moved)) ||
      ((req.flags & RENAME_EXCHANGE) != 0 && displaced &&
       IsHostDevice(*displaced))) {
    return Errno(EPERM);
  }
  // Moving a directory moves every mount below it, the host's included.
  if (moved) VEIL_TRY_VOID(CheckNoMountBelow(*moved));
  if (displaced && (req.flags & RENAME_EXCHANGE) != 0) {
    VEIL_TRY_VOID(CheckNoMountBelow(*displaced));
  }
  Pinned replaced = (req.flags & RENAME_EXCHANGE) != 0
                        ? Pinned{}
                        : PinEntry(new_at->get(), req.new_name);
  // The system call itself: glibc's renameat2() turns flags == 0 into
  // renameat(2), which the seccomp filter does not need to allow.
  if (::syscall(SYS_renameat2, old_at->get(), req.old_name.c_str(),
                new_at->get(), req.new_name.c_str(), req.flags) != 0) {
    return Errno::FromErrno();
  }
  // The rename is done: a location that cannot be updated (ESTALE, parent
  // links in a loop) leaves the node where it was, which its name no
  // longer leads to, so it is ESTALE once closed; the client is told the
  // truth about the rename.
  if (moved) {
    if (auto node = table_->Find(KeyOf(*moved))) {
      (void)node->SetLocation(new_dir, req.new_name);
    }
  }
  if (displaced && (req.flags & RENAME_EXCHANGE) != 0) {
    if (auto node = table_->Find(KeyOf(*displaced))) {
      (void)node->SetLocation(old_dir, req.old_name);
    }
  }
  // (Two links of one inode: rename(2) leaves both names alone.)
  if (replaced.node != nullptr &&
      !(moved && KeyOf(*moved) == replaced.node->key())) {
    replaced.node->Removed(*new_dir, req.new_name);
  }
  return Ok();
}

}  // namespace veil::gofer
