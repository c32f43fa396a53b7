// SPDX-License-Identifier: Apache-2.0
//
// HostBackend: attribute changes (SetStat) and extended attributes.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "gofer/server/host_backend.h"

namespace veil::gofer {
namespace {

// fchmodat2(2) (Linux 6.6) is the only chmod that takes AT_EMPTY_PATH, and
// so the only one that works on an O_PATH descriptor without /proc. Its
// number is the same on every architecture.
#ifndef SYS_fchmodat2
constexpr long kSysFchmodat2 = 452;
#else
constexpr long kSysFchmodat2 = SYS_fchmodat2;
#endif

const std::shared_ptr<HostNode>& NodeOf(lisafs::ServerFd& fd) {
  return static_cast<HostFd&>(fd).node();
}

// Namespaces served (host_backend.h explains why only these).
bool IsServedXattr(std::string_view name) {
  return name.starts_with("user.") || name.starts_with("trusted.overlay.");
}

// Regular files and directories: the types that can be opened without side
// effects, and the only ones Linux lets carry user.* xattrs.
bool IsFileOrDir(const HostNode& node) {
  return node.type() == S_IFREG || node.type() == S_IFDIR;
}

// The host descriptor of an open FDID opened for writing, or -1.
int WritableFdOf(lisafs::ServerFd& fd) {
  auto* open = dynamic_cast<HostOpenFd*>(&fd);
  if (!open) return -1;
  int flags = ::fcntl(open->fd(), F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) return -1;
  return open->fd();
}

}  // namespace

bool HostBackend::IsDeviceNode(const HostNode& node) {
  if (node.type() != S_IFCHR && node.type() != S_IFBLK) return false;
  Result<HostNode::PathFd> path = node.Fd();
  if (!path) return true;  // Cannot tell: treat it as a real device.
  Result<struct statx> st = StatFd((*path)->get());
  return !st || IsHostDevice(*st);
}

Result<void> HostBackend::CheckOwner(uint32_t uid, uint32_t gid,
                                     const struct statx* current) const {
  // chown(2) to ids the caller may not give: EPERM (no CAP_CHOWN).
  if (uid != lisafs::kNoId && !policy_.uids.Contains(uid) &&
      (current == nullptr || current->stx_uid != uid)) {
    return Errno(EPERM);
  }
  if (gid != lisafs::kNoId && !policy_.gids.Contains(gid) &&
      (current == nullptr || current->stx_gid != gid)) {
    return Errno(EPERM);
  }
  return Ok();
}

Result<void> HostBackend::DropSetId(int fd) const {
  struct statx st = VEIL_TRY(StatFd(fd));
  if (!policy_.MustDropSetId(st.stx_mode)) return Ok();
  // What Linux does for a writer without CAP_FSETID (file_remove_privs).
  return FromSyscall(
      ::fchmod(fd, st.stx_mode & 07777 & ~uint32_t{S_ISUID | S_ISGID}));
}

Result<lisafs::SetStatResp> HostBackend::SetStat(
    lisafs::ServerFd& fd, const lisafs::SetStatReq& req) {
  const std::shared_ptr<HostNode>& node = NodeOf(fd);
  uint32_t changes = req.mask & lisafs::kSetStatChanges;
  if (changes == 0) return lisafs::SetStatResp{};
  if (read_only()) return Errno(EROFS);  // notify_change on a ro mount.
  HostNode::PathFd path = VEIL_TRY(node->Fd());
  lisafs::SetStatResp resp;
  auto fail = [&resp](uint32_t bits, int error) {
    resp.failure_mask |= bits;
    if (resp.failure_errno == 0)
      resp.failure_errno = static_cast<uint32_t>(error);
  };

  const uint32_t ids = changes & (lisafs::kSetStatUid | lisafs::kSetStatGid);
  const uint32_t owner_or_mode = ids | (changes & lisafs::kSetStatMode);
  if (owner_or_mode != 0) {
    struct statx now = VEIL_TRY(StatFd(path->get()));
    // A host device node's mode and owner decide who may open it: never
    // changed for a client (policy refusal: EPERM, host_backend.h).
    if (IsHostDevice(now)) {
      fail(owner_or_mode, EPERM);
      changes &= ~owner_or_mode;
    } else if (ids != 0 &&
               !CheckOwner((changes & lisafs::kSetStatUid) != 0 ? req.uid
                                                                : lisafs::kNoId,
                           (changes & lisafs::kSetStatGid) != 0 ? req.gid
                                                                : lisafs::kNoId,
                           &now)) {
      fail(ids, EPERM);  // export_policy.h: an owner outside the range.
      changes &= ~ids;
    }
  }
  // Owner first: chown(2) clears set-id bits, and a mode asked for in the
  // same call must win, as in one notify_change().
  if ((changes & ids) != 0) {
    const uid_t uid =
        (changes & lisafs::kSetStatUid) != 0 ? req.uid : static_cast<uid_t>(-1);
    const gid_t gid =
        (changes & lisafs::kSetStatGid) != 0 ? req.gid : static_cast<gid_t>(-1);
    if (::fchownat(path->get(), "", uid, gid,
                   AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
      fail(ids, errno);
    }
  }
  if ((changes & lisafs::kSetStatMode) != 0) {
    // export_policy.h: set-id bits only as the policy allows.
    const uint32_t mode = policy_.Mode(node->type(), req.mode);
    if (node->type() == S_IFLNK) {
      fail(lisafs::kSetStatMode, EOPNOTSUPP);  // Linux: fchmodat2 on a link.
    } else if (::syscall(kSysFchmodat2, path->get(), "", mode,
                         AT_EMPTY_PATH) != 0) {
      const int error = errno;
      if (error != ENOSYS || !IsFileOrDir(*node)) {
        fail(lisafs::kSetStatMode, error);
      } else {
        // Before Linux 6.6: fchmod(2) a reopened regular file or directory.
        Result<UniqueFd> file = node->Reopen(O_RDONLY | O_NONBLOCK);
        if (!file) {
          fail(lisafs::kSetStatMode, file.error().code());
        } else if (::fchmod(file->get(), mode) != 0) {
          fail(lisafs::kSetStatMode, errno);
        }
      }
    }
  }
  if ((changes & lisafs::kSetStatSize) != 0) {
    // truncate(2): EISDIR for a directory, EINVAL for anything else that
    // is not a regular file.
    if (node->is_dir()) {
      fail(lisafs::kSetStatSize, EISDIR);
    } else if (node->type() != S_IFREG) {
      fail(lisafs::kSetStatSize, EINVAL);
    } else if (int open_fd = WritableFdOf(fd); open_fd >= 0) {
      // ftruncate(2) through the client's own writable open file: works
      // even after the file was unlinked or its name reused.
      if (Result<void> dropped = DropSetId(open_fd); !dropped) {
        fail(lisafs::kSetStatSize, dropped.error().code());
      } else if (::ftruncate(open_fd, static_cast<off_t>(req.size)) != 0) {
        fail(lisafs::kSetStatSize, errno);
      }
    } else {
      Result<UniqueFd> file = node->Reopen(O_WRONLY);
      Result<void> dropped = file ? DropSetId(file->get()) : Ok();
      if (!file) {
        fail(lisafs::kSetStatSize, file.error().code());
      } else if (!dropped) {
        fail(lisafs::kSetStatSize, dropped.error().code());
      } else if (::ftruncate(file->get(), static_cast<off_t>(req.size)) != 0) {
        fail(lisafs::kSetStatSize, errno);
      }
    }
  }
  // Times last: a truncate above would have set mtime.
  const uint32_t times =
      changes & (lisafs::kSetStatAtime | lisafs::kSetStatMtime);
  if (times != 0) {
    auto stamp = [&](uint32_t bit, uint32_t now_bit,
                     const lisafs::Timestamp& t) {
      struct timespec ts = {};
      if ((changes & bit) == 0) {
        ts.tv_nsec = UTIME_OMIT;
      } else if ((req.mask & now_bit) != 0) {
        ts.tv_nsec = UTIME_NOW;
      } else {
        ts.tv_sec = t.sec;
        ts.tv_nsec = t.nsec;
      }
      return ts;
    };
    const struct timespec ts[2] = {
        stamp(lisafs::kSetStatAtime, lisafs::kSetStatAtimeNow, req.atime),
        stamp(lisafs::kSetStatMtime, lisafs::kSetStatMtimeNow, req.mtime)};
    if (::utimensat(path->get(), "", ts,
                    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
      fail(times, errno);
    }
  }
  return resp;
}

Result<UniqueFd> HostBackend::OpenForXattr(const HostNode& node) {
  // O_NONBLOCK: reopening never waits (Reopen adds it for the name lookup
  // anyway; a directory or regular file ignores it).
  return node.Reopen(O_RDONLY | O_NONBLOCK);
}

Result<std::vector<uint8_t>> HostBackend::FGetXattr(
    lisafs::ServerFd& fd, const lisafs::FGetXattrReq& req) {
  const HostNode& node = *NodeOf(fd);
  if (!IsServedXattr(req.name)) return Errno(EOPNOTSUPP);
  if (!IsFileOrDir(node)) return Errno(ENODATA);  // user.* on a special.
  UniqueFd file = VEIL_TRY(OpenForXattr(node));
  const size_t size = req.size == 0 ? lisafs::kMaxXattrSize : req.size;
  std::vector<uint8_t> value(size);
  const ssize_t n =
      ::fgetxattr(file.get(), req.name.c_str(), value.data(), value.size());
  if (n < 0) return Errno::FromErrno();  // ERANGE if req.size is too small.
  value.resize(static_cast<size_t>(n));
  return value;
}

Result<void> HostBackend::FSetXattr(lisafs::ServerFd& fd,
                                    const lisafs::FSetXattrReq& req) {
  const HostNode& node = *NodeOf(fd);
  if (!IsServedXattr(req.name)) return Errno(EOPNOTSUPP);
  if (read_only()) return Errno(EROFS);
  if (!IsFileOrDir(node)) return Errno(EPERM);  // user.* on a special.
  UniqueFd file = VEIL_TRY(OpenForXattr(node));
  return FromSyscall(::fsetxattr(file.get(), req.name.c_str(), req.value.data(),
                                 req.value.size(),
                                 static_cast<int>(req.flags)));
}

Result<std::vector<std::string>> HostBackend::FListXattr(
    lisafs::ServerFd& fd, const lisafs::FListXattrReq&) {
  const HostNode& node = *NodeOf(fd);
  std::vector<std::string> names;
  if (!IsFileOrDir(node)) return names;
  UniqueFd file = VEIL_TRY(OpenForXattr(node));
  // XATTR_LIST_MAX: the kernel never returns more. The request's size is
  // checked by the server against what is left after filtering.
  std::vector<char> buffer(lisafs::kMaxXattrSize);
  const ssize_t n = ::flistxattr(file.get(), buffer.data(), buffer.size());
  if (n < 0) return Errno::FromErrno();
  std::string_view all(buffer.data(), static_cast<size_t>(n));
  while (!all.empty()) {
    const size_t end = all.find('\0');
    std::string_view name = all.substr(0, end);
    if (IsServedXattr(name)) names.emplace_back(name);
    if (end == std::string_view::npos) break;
    all.remove_prefix(end + 1);
  }
  return names;
}

Result<void> HostBackend::FRemoveXattr(lisafs::ServerFd& fd,
                                       const lisafs::FRemoveXattrReq& req) {
  const HostNode& node = *NodeOf(fd);
  if (!IsServedXattr(req.name)) return Errno(EOPNOTSUPP);
  if (read_only()) return Errno(EROFS);
  if (!IsFileOrDir(node)) return Errno(EPERM);
  UniqueFd file = VEIL_TRY(OpenForXattr(node));
  return FromSyscall(::fremovexattr(file.get(), req.name.c_str()));
}

}  // namespace veil::gofer
