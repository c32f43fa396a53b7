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

Result<lisafs::NewNode> HostBackend::FinishCreate(
    const std::shared_ptr<HostNode>& dir, const std::string& name, uint32_t uid,
    uint32_t gid) {
  Result<lisafs::NewNode> made = [&]() -> Result<lisafs::NewNode> {
    std::shared_ptr<HostNode> node = VEIL_TRY(Lookup(dir, name)).node;
    if (uid != lisafs::kNoId || gid != lisafs::kNoId) {
      // -1 leaves an id unchanged, as chown(2) does.
      const uid_t u = uid == lisafs::kNoId ? static_cast<uid_t>(-1) : uid;
      const gid_t g = gid == lisafs::kNoId ? static_cast<gid_t>(-1) : gid;
      if (::fchownat(node->fd(), "", u, g,
                     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
        return Errno::FromErrno();
      }
    }
    return NewControl(std::move(node));
  }();
  if (!made) {
    // Leave no half-made entry behind (gVisor's fsgofer does the same).
    const bool is_dir = [&] {
      Result<struct statx> st = StatAt(dir->fd(), name.c_str());
      return st && (st->stx_mode & S_IFMT) == S_IFDIR;
    }();
    (void)::unlinkat(dir->fd(), name.c_str(), is_dir ? AT_REMOVEDIR : 0);
  }
  return made;
}

Result<lisafs::CreatedFile> HostBackend::OpenCreateAt(
    lisafs::ServerFd& dir_fd, const lisafs::OpenCreateAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);  // open(O_CREAT) on a ro mount.
  const int flags = static_cast<int>(req.flags);
  // O_EXCL with O_NOFOLLOW (added by OpenBeneath): an existing name, even a
  // dangling symlink, is EEXIST; nothing is followed.
  UniqueFd opened = VEIL_TRY(OpenBeneath(dir->fd(), req.name.c_str(),
                                         (flags & ~O_TRUNC) | O_CREAT | O_EXCL,
                                         req.mode & 07777));
  lisafs::NewNode node =
      VEIL_TRY(FinishCreate(dir, req.name, req.uid, req.gid));
  // The name was just created by us; make sure it still is the file we
  // opened before handing out both (a host process could have swapped it).
  struct statx st = VEIL_TRY(StatFd(opened.get()));
  std::shared_ptr<HostNode> host_node = static_cast<HostFd&>(*node.fd).node();
  if (KeyOf(st) != host_node->key()) return Errno(ESTALE);

  lisafs::OpenedFile file;
  if (options_.donation == Donation::kReadOnlyFiles &&
      (flags & O_ACCMODE) == O_RDONLY) {
    const int dup = ::fcntl(opened.get(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return Errno::FromErrno();
    file.host_fd = UniqueFd(dup);
  }
  file.fd =
      std::make_unique<HostOpenFd>(std::move(host_node), std::move(opened));
  return lisafs::CreatedFile{std::move(node), std::move(file)};
}

Result<lisafs::NewNode> HostBackend::MkdirAt(lisafs::ServerFd& dir_fd,
                                             const lisafs::MkdirAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);
  if (::mkdirat(dir->fd(), req.name.c_str(), req.mode & 07777) != 0) {
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
  const dev_t dev = makedev(req.rdev_major, req.rdev_minor);
  if (::mknodat(dir->fd(), req.name.c_str(), req.mode, dev) != 0) {
    return Errno::FromErrno();
  }
  return FinishCreate(dir, req.name, req.uid, req.gid);
}

Result<lisafs::NewNode> HostBackend::SymlinkAt(
    lisafs::ServerFd& dir_fd, const lisafs::SymlinkAtReq& req) {
  const std::shared_ptr<HostNode>& dir = *VEIL_TRY(DirOf(dir_fd));
  VEIL_TRY_VOID(CheckName(req.name));
  if (read_only()) return Errno(EROFS);
  // The target is stored as text and never resolved by the gofer.
  if (::symlinkat(req.target.c_str(), dir->fd(), req.name.c_str()) != 0) {
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
  // The target is a node the client walked to, so inside the export; with
  // AT_EMPTY_PATH the O_PATH descriptor itself is linked (a symlink is
  // linked as a symlink, never followed). This needs CAP_DAC_READ_SEARCH.
  if (::linkat(target->fd(), "", dir->fd(), req.name.c_str(), AT_EMPTY_PATH) !=
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
  return FromSyscall(
      ::unlinkat(dir->fd(), req.name.c_str(), static_cast<int>(req.flags)));
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
  Result<struct statx> moved = StatAt(old_dir->fd(), req.old_name.c_str());
  Result<struct statx> displaced = StatAt(new_dir->fd(), req.new_name.c_str());
  // The system call itself: glibc's renameat2() turns flags == 0 into
  // renameat(2), which the seccomp filter does not need to allow.
  if (::syscall(SYS_renameat2, old_dir->fd(), req.old_name.c_str(),
                new_dir->fd(), req.new_name.c_str(), req.flags) != 0) {
    return Errno::FromErrno();
  }
  if (moved) {
    if (auto node = table_->Find(KeyOf(*moved))) {
      node->SetLocation(new_dir, req.new_name);
    }
  }
  if (displaced && (req.flags & RENAME_EXCHANGE) != 0) {
    if (auto node = table_->Find(KeyOf(*displaced))) {
      node->SetLocation(old_dir, req.old_name);
    }
  }
  return Ok();
}

}  // namespace veil::gofer
