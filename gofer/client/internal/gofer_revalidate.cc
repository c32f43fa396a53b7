// SPDX-License-Identifier: Apache-2.0
//
// GoferFs::RevalidateLocked: d_revalidate for a shared tree
// (FileAccess::kShared), the tree the host changes too. The VFS asks about a
// chain of cached names down a path (vfs/internal/revalidate.h); one
// WalkStat (fstatat component by component on the server, no FDIDs) answers
// for all of them, and each cached inode is compared with the file the host
// has under that name now:
//   same host file (st_dev, st_ino), type and birth time -> kValid, and its
//     attributes are refreshed from the reply (a host chmod or write shows);
//   nothing there -> kGone (ENOENT);
//   another file -> kStale: the VFS drops the dentry and looks the name up
//     again (a Walk), which gives the new file its own inode. The old inode
//     lives on for whoever holds it (an open file reads what it opened, as
//     on Linux after a rename over it).
// A birth time check catches the host reusing an inode number of a file
// that is gone, where the filesystem reports birth times (ext4, xfs, btrfs,
// tmpfs since Linux 6.7 do).
#include <sys/stat.h>

#include <algorithm>

#include "gofer/client/internal/gofer_inode.h"
#include "lisafs/client.h"

namespace veil::gofer {

using client::internal::CheckStatx;
using client::internal::GoferInode;
using client::internal::KeyOf;

namespace {

// Whether `now` (a reply's Statx) describes the file `inode` caches.
bool SameFile(const GoferInode& inode, const lisafs::Statx& now) {
  const client::internal::CachedStat& old = inode.stat_locked();
  if (KeyOf(now) != inode.key() || (now.mode & S_IFMT) != inode.type())
    return false;
  const bool both_btime = (old.mask() & now.mask & lisafs::kStatxBtime) != 0;
  return !both_btime || old.btime() == now.btime;
}

}  // namespace

Result<std::vector<lisafs::Statx>> GoferFs::StatPathLocked(
    lisafs::FdId dir, std::vector<std::string> names) {
  if (!walk_stat_unsupported_) {
    lisafs::WalkStatReq req;
    req.dir_fd = dir;
    req.names = names;
    auto reply = client_->Call(req);
    if (reply) return std::move(reply->message.stats);
    if (reply.error().code() != EOPNOTSUPP) return reply.error();
    // WalkStat is optional in LISAFS: a Walk answers the same, at the
    // cost of FDIDs that are closed at once (in the background).
    walk_stat_unsupported_ = true;
  }
  lisafs::WalkReq req;
  req.dir_fd = dir;
  req.names = std::move(names);
  auto reply = VEIL_TRY(client_->Call(req));
  std::vector<lisafs::Statx> stats;
  for (const lisafs::Inode& found : reply.message.inodes) {
    ReleaseFd(found.control_fd);
    stats.push_back(found.stat);
  }
  return stats;
}

Result<std::vector<vfs::NameVerdict>> GoferFs::RevalidateLocked(
    vfs::Inode& dir_inode, std::span<const std::string> names,
    std::span<vfs::Inode* const> cached) {
  // Every inode of a GoferFs is a GoferInode, and the VFS asks only about
  // dentries of this filesystem.
  auto& dir = static_cast<GoferInode&>(dir_inode);
  VEIL_TRY_VOID(dir.CheckUsableLocked());
  size_t count =
      std::min({names.size(), cached.size(), lisafs::kMaxWalkComponents});
  if (count == 0) return std::vector<vfs::NameVerdict>{};
  auto reply = StatPathLocked(
      dir.control_fd(),
      std::vector<std::string>(names.begin(), names.begin() + count));
  if (!reply && count > 1) {
    // The server refuses a walk on through a name that is no longer a
    // directory (ENOTDIR) or crosses a host mount (EACCES) as a whole:
    // ask about the first name alone, and the walk asks about the rest
    // when it gets there.
    count = 1;
    reply = StatPathLocked(dir.control_fd(), {names.front()});
  }
  if (!reply) return reply.error();
  const std::vector<lisafs::Statx>& stats = *reply;

  std::vector<vfs::NameVerdict> verdicts;
  GoferInode* parent = &dir;
  for (size_t i = 0; i < count; ++i) {
    auto& inode = static_cast<GoferInode&>(*cached[i]);
    if (i >= stats.size()) {
      // WalkStat stops silently at a missing name (and after a symlink,
      // but the chain goes on through directories only, so a name after a
      // symlink was never asked about: stats ran out at a missing one).
      inode.RemoveNameLocked(*parent, names[i]);
      verdicts.push_back(vfs::NameVerdict::kGone);
      break;
    }
    // A reply the VFS could not use: the server is not to be believed.
    VEIL_TRY_VOID(CheckStatx(stats[i]));
    if (!SameFile(inode, stats[i])) {
      inode.RemoveNameLocked(*parent, names[i]);
      verdicts.push_back(vfs::NameVerdict::kStale);
      break;
    }
    VEIL_TRY_VOID(inode.UpdateStatLocked(stats[i]));
    inode.NoteFreshLocked();
    verdicts.push_back(vfs::NameVerdict::kValid);
    parent = &inode;
  }
  return verdicts;
}

}  // namespace veil::gofer
