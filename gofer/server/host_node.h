// SPDX-License-Identifier: Apache-2.0
//
// HostNode: the gofer's handle on one host inode, and the NodeTable that
// keeps one HostNode per inode.
//
// A HostNode owns an O_PATH|O_NOFOLLOW descriptor of its inode, obtained by
// walking one checked component at a time with openat2(RESOLVE_BENEATH)
// from the exported root, so it can only name a file inside the export.
// Every operation is relative to such a descriptor; no host path is ever
// built or resolved.
//
// Reopening. An O_PATH descriptor cannot be read, written or used for
// xattrs, and the only way to reopen one in place is the /proc/self/fd
// magic link, which the gofer refuses to use (and cannot see after
// pivot_root). So:
//  - a directory reopens itself with openat2(fd, ".", ...);
//  - anything else remembers where it was last seen (its parent directory's
//    node and its name there) and reopens through that, then checks that the
//    descriptor it got is the same inode (st_dev, st_ino); if the name now
//    leads elsewhere (renamed or unlinked behind our back) it is ESTALE, as
//    NFS says for a handle whose file is gone.
// Renames done through the gofer update the location (NodeTable::Find), so
// only changes made by host processes make a node stale. Directories keep
// no location, so parent links can never form a cycle.
//
// Ownership: HostNodes are shared (std::shared_ptr) by the control and open
// FDIDs that name them and by the non-directory children that locate
// themselves through them. The NodeTable holds weak references only; a node
// removes itself when the last owner lets go, and keeps the table alive
// until then.
//
// Thread-safety: HostNode is thread-safe (the location has its own leaf
// mutex); NodeTable is thread-safe (one leaf mutex). Neither lock is held
// across a system call other than close(2).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"
#include "base/unique_fd.h"
#include "lisafs/types.h"

namespace veil::gofer {

// (st_dev, st_ino): what makes two descriptors the same file.
struct InodeKey {
  uint64_t dev = 0;
  uint64_t ino = 0;
  auto operator<=>(const InodeKey&) const = default;
};

class NodeTable;

class HostNode final {
 public:
  HostNode(const HostNode&) = delete;
  HostNode& operator=(const HostNode&) = delete;
  ~HostNode();

  // The O_PATH descriptor; valid for the node's lifetime.
  int fd() const { return fd_.get(); }
  // The S_IFMT bits: an inode never changes type.
  uint32_t type() const { return type_; }
  bool is_dir() const { return type_ == S_IFDIR; }
  const InodeKey& key() const { return key_; }

  // Where a non-directory was last seen. No-op for directories.
  void SetLocation(std::shared_ptr<HostNode> parent, std::string name);

  // open(2) of this very inode with `flags` (O_CLOEXEC and O_NOFOLLOW are
  // added; O_CREAT/O_EXCL/O_PATH must not be set). O_TRUNC is applied only
  // after the identity check, so a swapped name can never truncate another
  // file; it needs write access (it is ignored with O_RDONLY). Errors:
  // ESTALE if the inode can no longer be reached by its remembered name;
  // ELOOP for a symlink; otherwise open(2)'s errno.
  Result<UniqueFd> Reopen(int flags) const;

 private:
  friend class NodeTable;
  HostNode(std::shared_ptr<NodeTable> table, UniqueFd fd, uint32_t type,
           InodeKey key)
      : table_(std::move(table)), fd_(std::move(fd)), type_(type), key_(key) {}

  // Keeps the table alive until this node has removed itself from it.
  const std::shared_ptr<NodeTable> table_;
  const UniqueFd fd_;
  const uint32_t type_;
  const InodeKey key_;

  mutable std::mutex mu_;
  std::shared_ptr<HostNode> parent_;  // Guarded by mu_; null for dirs.
  std::string name_;                  // Guarded by mu_.
};

// One HostNode per inode the client holds an FDID for, so that N walks to
// the same file cost one host descriptor and a rename can update the one
// location that matters.
class NodeTable final : public std::enable_shared_from_this<NodeTable> {
 public:
  static std::shared_ptr<NodeTable> Create() {
    return std::shared_ptr<NodeTable>(new NodeTable());
  }

  // The node for the inode `fd` (an O_PATH descriptor) refers to, with the
  // statx(2) result `st` describing it: the existing node if there is one
  // (`fd` is then closed), else a new one owning `fd`. A non-directory's
  // location becomes (parent, name).
  std::shared_ptr<HostNode> Intern(UniqueFd fd, const struct statx& st,
                                   std::shared_ptr<HostNode> parent,
                                   std::string name);

  // The live node for `key`, or null.
  std::shared_ptr<HostNode> Find(const InodeKey& key);

  size_t size();

 private:
  friend class HostNode;
  NodeTable() = default;
  void Forget(const InodeKey& key);

  std::mutex mu_;
  std::map<InodeKey, std::weak_ptr<HostNode>> nodes_;  // Guarded by mu_.
};

// ---- Host system call helpers shared by the backend's files. ----

// openat2(2) resolution for every lookup: never leave the directory `dirfd`
// names, never cross a mount, never follow any symlink (O_NOFOLLOW still
// returns a trailing symlink itself when O_PATH is set).
Result<UniqueFd> OpenBeneath(int dirfd, const char* name, int flags,
                             mode_t mode = 0);

// statx(2) of the descriptor itself, not following a symlink.
Result<struct statx> StatFd(int fd);
// statx(2) of `name` in `dirfd`, not following a symlink.
Result<struct statx> StatAt(int dirfd, const char* name);

InodeKey KeyOf(const struct statx& st);
lisafs::Statx ToLisafs(const struct statx& st);

// A single directory entry name, re-checked as defence in depth (the codec
// already has): EINVAL for ".", "..", '/' and the like.
Result<void> CheckName(std::string_view name);

}  // namespace veil::gofer
