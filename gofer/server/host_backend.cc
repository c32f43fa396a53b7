// SPDX-License-Identifier: Apache-2.0
//
// HostBackend: construction, lookups, opening and metadata reads.
#include "gofer/server/host_backend.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace veil::gofer {
namespace {

const std::shared_ptr<HostNode>& NodeOf(lisafs::ServerFd& fd) {
  // Every ServerFd this backend sees was created by it (server_backend.h).
  return static_cast<HostFd&>(fd).node();
}

}  // namespace

Result<std::unique_ptr<HostBackend>> HostBackend::Create(
    UniqueFd root, HostBackendOptions options) {
  struct statx st = VEIL_TRY(StatFd(root.get()));
  if ((st.stx_mode & S_IFMT) != S_IFDIR) return Errno(ENOTDIR);
  // Re-open as O_PATH so that the root node is like every other node,
  // whatever kind of descriptor the caller had.
  UniqueFd path_fd = VEIL_TRY(OpenBeneath(root.get(), ".", O_PATH));
  struct rlimit limit = {};
  const size_t soft = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
                              limit.rlim_cur != RLIM_INFINITY
                          ? static_cast<size_t>(limit.rlim_cur)
                          : size_t{1} << 20;
  // Half of the limit for node descriptors, a quarter for open files (and
  // as many of their pinned nodes, within the first half), the rest for
  // sockets, directory reads and xattr calls: no client can make a
  // request fail with EMFILE, whatever it holds.
  NodeLimits limits;
  limits.max_node_fds = options.max_node_fds != 0
                            ? options.max_node_fds
                            : std::max<size_t>(soft / 2, 64);
  limits.max_open_files = options.max_open_files != 0
                              ? options.max_open_files
                              : std::max<size_t>(soft / 4, 16);
  limits.max_nodes = options.max_nodes != 0
                         ? options.max_nodes
                         : HostBackendOptions::kDefaultMaxNodes;
  std::shared_ptr<NodeTable> table = NodeTable::Create(limits);
  std::shared_ptr<HostNode> node =
      VEIL_TRY(table->Intern(std::move(path_fd), st, nullptr, ""));
  ExportPolicy policy;
  policy.setid = options.setid;
  policy.uids = options.ids.value_or(IdRange::Only(st.stx_uid));
  policy.gids = options.ids.value_or(IdRange::Only(st.stx_gid));
  return std::unique_ptr<HostBackend>(
      new HostBackend(std::move(table), std::move(node), options, policy));
}

Result<lisafs::NewNode> HostBackend::NewControl(
    std::shared_ptr<HostNode> node) {
  HostNode::PathFd path = VEIL_TRY(node->Fd());
  struct statx st = VEIL_TRY(StatFd(path->get()));
  return lisafs::NewNode{std::make_unique<HostFd>(std::move(node)),
                         ToLisafs(st)};
}

Result<HostBackend::Found> HostBackend::Lookup(
    const std::shared_ptr<HostNode>& dir, const std::string& name) {
  VEIL_TRY_VOID(CheckName(name));
  // lookup in a non-directory: ENOTDIR (path_lookupat's may_lookup).
  if (!dir->is_dir()) return Errno(ENOTDIR);
  HostNode::PathFd dir_fd = VEIL_TRY(dir->Fd());
  // A mount point below the export is not served: EACCES (OpenEntry).
  UniqueFd fd = VEIL_TRY(OpenEntry(dir_fd->get(), name.c_str(), O_PATH));
  struct statx st = VEIL_TRY(StatFd(fd.get()));
  return Found{VEIL_TRY(table_->Intern(std::move(fd), st, dir, name)), st};
}

Result<lisafs::NewNode> HostBackend::Mount() { return NewControl(root_); }

Result<lisafs::Statx> HostBackend::FStat(lisafs::ServerFd& fd) {
  HostNode::PathFd path = VEIL_TRY(NodeOf(fd)->Fd());
  return ToLisafs(VEIL_TRY(StatFd(path->get())));
}

Result<lisafs::FStatFSResp> HostBackend::FStatFS(lisafs::ServerFd& fd) {
  struct statfs st = {};
  // fstatfs(2) works on O_PATH descriptors (Linux >= 3.12).
  HostNode::PathFd path = VEIL_TRY(NodeOf(fd)->Fd());
  if (::fstatfs(path->get(), &st) != 0) return Errno::FromErrno();
  return lisafs::ToFStatFS(st);
}

Result<lisafs::WalkResult> HostBackend::Walk(lisafs::ServerFd& dir,
                                             const lisafs::WalkReq& req) {
  lisafs::WalkResult result;
  std::shared_ptr<HostNode> at = NodeOf(dir);
  for (const std::string& name : req.names) {
    Result<Found> next = Lookup(at, name);
    if (!next) {
      // A missing component ends the walk; the client decides (ENOENT).
      if (next.error().code() == ENOENT) {
        result.status = lisafs::WalkStatus::kComponentMissing;
        break;
      }
      return next.error();
    }
    at = next->node;
    result.nodes.push_back(lisafs::NewNode{
        std::make_unique<HostFd>(std::move(next->node)), ToLisafs(next->stat)});
    if (at->type() == S_IFLNK) {
      // The client resolves symlinks itself; the server never follows one.
      result.status = lisafs::WalkStatus::kComponentSymlink;
      break;
    }
  }
  return result;
}

Result<std::vector<lisafs::Statx>> HostBackend::WalkStat(
    lisafs::ServerFd& dir, const lisafs::WalkStatReq& req) {
  std::vector<lisafs::Statx> stats;
  const std::shared_ptr<HostNode>& start = NodeOf(dir);
  HostNode::PathFd start_fd = VEIL_TRY(start->Fd());
  if (req.start == lisafs::WalkStatStart::kInclude) {
    stats.push_back(ToLisafs(VEIL_TRY(StatFd(start_fd->get()))));
  }
  // Descending needs a descriptor per directory, but none is interned: no
  // FDIDs are handed out.
  UniqueFd owned;
  int at = start_fd->get();
  bool at_dir = start->is_dir();
  for (size_t i = 0; i < req.names.size(); ++i) {
    const std::string& name = req.names[i];
    VEIL_TRY_VOID(CheckName(name));
    if (!at_dir) return Errno(ENOTDIR);
    Result<struct statx> st = StatAt(at, name.c_str());
    if (!st) {
      if (st.error().code() == ENOENT) break;  // Stops silently.
      return st.error();
    }
    // statx(2) of a mount point describes the mounted root: not served,
    // as Lookup refuses it (EACCES).
    if ((st->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
        (st->stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0) {
      return Errno(EACCES);
    }
    stats.push_back(ToLisafs(*st));
    const uint32_t type = st->stx_mode & S_IFMT;
    if (type == S_IFLNK || i + 1 == req.names.size()) break;
    at_dir = type == S_IFDIR;
    if (!at_dir) continue;  // The next step reports ENOTDIR.
    owned = VEIL_TRY(OpenEntry(at, name.c_str(), O_PATH | O_DIRECTORY));
    at = owned.get();
  }
  return stats;
}

Result<lisafs::OpenedFile> HostBackend::OpenAt(lisafs::ServerFd& fd,
                                               const lisafs::OpenAtReq& req) {
  const std::shared_ptr<HostNode>& node = NodeOf(fd);
  const int flags = static_cast<int>(req.flags);
  const int accmode = flags & O_ACCMODE;
  // open(2) for writing or truncation on a read-only mount: EROFS.
  if (read_only() && (accmode != O_RDONLY || (flags & O_TRUNC) != 0)) {
    return Errno(EROFS);
  }
  switch (node->type()) {
    case S_IFCHR:
    case S_IFBLK:
      // Device nodes are not served: open(2) on a nodev mount is EACCES.
      return Errno(EACCES);
    case S_IFSOCK:
      return Errno(ENXIO);  // open(2) of a unix socket.
    default:
      break;
  }
  OpenFileSlot slot = VEIL_TRY(table_->ReserveOpenFile());
  UniqueFd opened = VEIL_TRY(node->Reopen(flags));
  // export_policy.h: a set-id file loses its bits before the client can
  // change its contents.
  if (node->type() == S_IFREG &&
      (accmode != O_RDONLY || (flags & O_TRUNC) != 0)) {
    VEIL_TRY_VOID(DropSetId(opened.get()));
  }
  HostNode::PathFd pin = VEIL_TRY(node->Fd());
  lisafs::OpenedFile file;
  if (node->type() == S_IFREG &&
      (options_.donation == Donation::kAllFiles ||
       (options_.donation == Donation::kReadOnlyFiles &&
        accmode == O_RDONLY))) {
    // The client gets its own descriptor for the same open file; ours
    // serves PRead for clients that prefer round trips.
    const int dup = ::fcntl(opened.get(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return Errno::FromErrno();
    file.host_fd = UniqueFd(dup);
  }
  file.fd =
      std::make_unique<HostOpenFd>(node, std::move(slot), std::move(pin),
                                   std::move(opened));
  return file;
}

Result<std::string> HostBackend::ReadLinkAt(lisafs::ServerFd& fd) {
  const std::shared_ptr<HostNode>& node = NodeOf(fd);
  // readlink(2) of something that is not a symlink: EINVAL.
  if (node->type() != S_IFLNK) return Errno(EINVAL);
  char buffer[lisafs::kMaxPathLength + 1];
  HostNode::PathFd path = VEIL_TRY(node->Fd());
  const ssize_t n = ::readlinkat(path->get(), "", buffer, sizeof(buffer));
  if (n < 0) return Errno::FromErrno();
  // A target longer than PATH_MAX - 1 cannot be sent (nor created by
  // symlink(2) on Linux): ENAMETOOLONG.
  if (static_cast<size_t>(n) > lisafs::kMaxPathLength) {
    return Errno(ENAMETOOLONG);
  }
  return std::string(buffer, static_cast<size_t>(n));
}

}  // namespace veil::gofer
