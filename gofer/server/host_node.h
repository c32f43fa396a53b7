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
// only changes made by host processes make a node stale. A directory's
// location is never set to one of its own descendants (checked and set
// under one table-wide mutex, as Linux's s_vfs_rename_mutex), so parent
// links form no cycle; walks up them are bounded all the same (ESTALE).
//
// Descriptor budget. Every node's O_PATH descriptor counts against
// RLIMIT_NOFILE, and a client that walks a big tree (`find` over a rootfs
// of 170,000 names) holds an FDID for each. So the NodeTable keeps at most
// a budget of them open: past it, it closes the descriptors of nodes
// nobody is using right now (CLOCK: a node used since the last sweep gets
// a second chance), and Fd() opens a closed one again through its
// location, with the same identity check, so a node stays the same inode
// or becomes ESTALE. The export's root is never closed, nor is a
// descriptor somebody holds (Fd() pins it). A removed node (no location)
// is closed like any idle one, and is ESTALE from then on (as NFS says of
// a removed file's handle). Reopening goes down from
// the deepest ancestor still open in a loop, never by recursion: a client
// can make a chain of directories as deep as it likes.
//
// The table also bounds what a client can pin otherwise: open FDIDs take a
// slot of `max_open_files` (OpenFileSlot; ENFILE past it), and the table
// holds at most `max_nodes` nodes (ENFILE for a new one).
//
// Ownership: HostNodes are shared (std::shared_ptr) by the FDIDs that name
// them and by their children. The NodeTable holds weak references; a node
// removes itself when its last owner lets go, keeping the table alive till
// then. A chain of any length is freed in a loop (ReleaseParent).
//
// Thread-safety: HostNode is thread-safe (its descriptor and location have
// their own leaf mutex); NodeTable is thread-safe. Lock order: the table's
// rename mutex (only to move a directory), then the table's mutex, then a
// node's. None of them is held across a system call other than close(2).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "base/mutex.h"
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

class HostNode final : public std::enable_shared_from_this<HostNode> {
 public:
  // A descriptor pinned open for as long as the holder keeps it.
  using PathFd = std::shared_ptr<const UniqueFd>;

  HostNode(const HostNode&) = delete;
  HostNode& operator=(const HostNode&) = delete;
  ~HostNode();

  // The node's O_PATH descriptor, pinned; opened again through the
  // location if the table closed it. Errors: ESTALE if the location no
  // longer leads to this inode; EMFILE; openat2(2)'s errno.
  Result<PathFd> Fd() const;
  // The S_IFMT bits: an inode never changes type.
  uint32_t type() const { return type_; }
  bool is_dir() const { return type_ == S_IFDIR; }
  const InodeKey& key() const { return key_; }

  // Where the node was last seen: `name` in the directory `parent`.
  // Ignored for a directory if `parent` is the node or one of its
  // descendants. Errors: ESTALE (location unchanged) if `parent` has more
  // ancestors than the table has nodes: links in a loop.
  [[nodiscard]] Result<void> SetLocation(std::shared_ptr<HostNode> parent,
                                         std::string name);
  // `name` in `dir` was removed (unlink, rmdir, rename over it): if that
  // was the node's location it has none now; its descriptor stays until
  // the budget closes it (never while pinned), then Fd() is ESTALE. Call
  // with the descriptor pinned (Fd()) from before the removal.
  void Removed(const HostNode& dir, std::string_view name);

  // open(2) of this very inode with `flags` (O_CLOEXEC and O_NOFOLLOW are
  // added; O_CREAT/O_EXCL/O_PATH must not be set). O_TRUNC is applied only
  // after the identity check, so a swapped name can never truncate another
  // file; it needs write access (it is ignored with O_RDONLY). Errors:
  // ESTALE if the inode can no longer be reached by its remembered name;
  // ELOOP for a symlink; otherwise open(2)'s errno.
  Result<UniqueFd> Reopen(int flags) const;

  // True while the node holds its descriptor open; for tests.
  bool has_fd() const;

 private:
  friend class NodeTable;
  friend class HostNodePeer;  // tests
  HostNode(std::shared_ptr<NodeTable> table, UniqueFd fd, uint32_t type,
           InodeKey key)
      : table_(std::move(table)),
        type_(type),
        key_(key),
        fd_(std::make_shared<const UniqueFd>(std::move(fd))) {}

  std::shared_ptr<HostNode> parent() const;
  // Opens `name` in `parent` (O_PATH, or `flags`) and checks it is still
  // this inode: ESTALE otherwise.
  Result<UniqueFd> OpenAtLocation(int flags) const;
  // Opens `name` in the directory `dir` with `flags` and checks that it is
  // this inode: ESTALE if the name is gone, is a symlink or is another file.
  Result<UniqueFd> OpenIn(int dir, const std::string& name, int flags) const;
  // Fd() when the descriptor was closed: finds the deepest ancestor that is
  // still open, then opens each node below it in turn. ESTALE if renames
  // move a node of the chain meanwhile, a few times in a row, or past
  // as many ancestors as the table has nodes (a loop).
  Result<PathFd> ReopenChain() const;
  // Opens this node's descriptor through `dir`, its parent's descriptor,
  // if it is closed; the pinned descriptor. EAGAIN if the node's parent is
  // no longer `expected_parent` (moved meanwhile).
  Result<PathFd> OpenBelow(const HostNode* expected_parent,
                           const UniqueFd& dir) const;
  // Takes `fd` (of this inode) if the node has none, and returns the
  // node's descriptor pinned; `installed` says whether `fd` was taken.
  PathFd InstallPinned(UniqueFd fd, bool* installed) const;
  // Takes `fd` (of this inode) if the node has none; true if it did.
  bool Install(UniqueFd fd) const;
  // Drops a reference to a parent. If it was the last one, the parent is
  // destroyed here, and so on up the chain, iteratively.
  static void ReleaseParent(std::shared_ptr<HostNode> parent);

  // What a sweep of the table's budget did with this node.
  enum class Sweep { kClosed, kSpared, kNoFd };
  Sweep SweepLocked() const;  // caller holds the table's mutex

  // Keeps the table alive until this node has removed itself from it.
  const std::shared_ptr<NodeTable> table_;
  const uint32_t type_ = 0;
  const InodeKey key_;

  mutable Mutex mu_;
  mutable PathFd fd_ VEIL_GUARDED_BY(mu_);  // Null once closed.
  // Null for the root and a removed node; a directory's is changed under
  // the table's rename_mu_ (but by Removed, which makes no loop).
  std::shared_ptr<HostNode> parent_ VEIL_GUARDED_BY(mu_);
  std::string name_ VEIL_GUARDED_BY(mu_);
  bool removed_ VEIL_GUARDED_BY(mu_) = false;  // Removed(), not the root.
  mutable std::atomic<bool> used_{true};  // Fd() since the last sweep

  static inline void (*loop_checked_for_test_)() = nullptr;  // HostNodePeer
};

// One HostNode per inode the client holds an FDID for, so that N walks to
// the same file cost one host descriptor and a rename can update the one
// location that matters; and the descriptor budget.
struct NodeLimits {
  // The most node (O_PATH) descriptors kept open; 0: no limit.
  size_t max_node_fds = 0;
  // The most open files (open FDIDs) at once; 0: no limit.
  size_t max_open_files = 0;
  // The most nodes the table holds; 0: no limit.
  size_t max_nodes = 0;
};

class NodeTable;

// One open FDID's place in its table's open-file budget, given back when
// the slot is destroyed. Movable; a moved-from slot holds nothing.
class OpenFileSlot {
 public:
  OpenFileSlot(OpenFileSlot&&) = default;
  OpenFileSlot& operator=(OpenFileSlot&&) = delete;
  ~OpenFileSlot();

 private:
  friend class NodeTable;
  explicit OpenFileSlot(std::shared_ptr<NodeTable> table)
      : table_(std::move(table)) {}
  std::shared_ptr<NodeTable> table_;
};

class NodeTable final : public std::enable_shared_from_this<NodeTable> {
 public:
  // `max_open`: the most node descriptors kept open (0: no limit).
  static std::shared_ptr<NodeTable> Create(size_t max_open = 0) {
    return Create(NodeLimits{.max_node_fds = max_open});
  }
  static std::shared_ptr<NodeTable> Create(const NodeLimits& limits) {
    return std::shared_ptr<NodeTable>(new NodeTable(limits));
  }

  // The node for the inode `fd` (an O_PATH descriptor) refers to, with the
  // statx(2) result `st` describing it: the existing node if there is one
  // (it takes `fd` if its own was closed, else `fd` is closed), else a new
  // one owning `fd`. Its location becomes (parent, name). Errors: ENFILE
  // if a new node would exceed max_nodes (`fd` is closed), as open(2) when
  // the system's file table is full.
  Result<std::shared_ptr<HostNode>> Intern(UniqueFd fd, const struct statx& st,
                                           std::shared_ptr<HostNode> parent,
                                           std::string name);

  // The live node for `key`, or null.
  std::shared_ptr<HostNode> Find(const InodeKey& key);

  // A place for one more open file. Errors: ENFILE past max_open_files (as
  // open(2) when the system's file table is full: the limit is the
  // export's, shared by every user of it).
  Result<OpenFileSlot> ReserveOpenFile();

  size_t size();
  // Node descriptors open now; for tests.
  size_t open_fds();
  // Open-file slots taken now; for tests.
  size_t open_files();

 private:
  friend class HostNode;
  friend class OpenFileSlot;
  explicit NodeTable(const NodeLimits& limits)
      : max_open_(limits.max_node_fds),
        max_open_files_(limits.max_open_files),
        max_nodes_(limits.max_nodes) {}
  // `node` opened its descriptor: counts it, then closes others while
  // over budget.
  void Admit(std::weak_ptr<const HostNode> node);
  // The longest walk up parent links without a loop (the node count).
  size_t WalkBound();
  void Forget(const InodeKey& key, bool had_fd);

  const size_t max_open_;
  const size_t max_open_files_;
  const size_t max_nodes_;
  std::atomic<size_t> open_files_{0};
  // Held across a directory's loop check and move (HostNode::SetLocation),
  // as Linux's s_vfs_rename_mutex. Taken before mu_.
  Mutex rename_mu_;
  Mutex mu_;
  std::map<InodeKey, std::weak_ptr<HostNode>> nodes_ VEIL_GUARDED_BY(mu_);
  // Nodes that opened a descriptor, oldest first (the CLOCK hand sweeps
  // from the front); entries of dead or closed nodes are dropped lazily.
  std::deque<std::weak_ptr<const HostNode>> clock_ VEIL_GUARDED_BY(mu_);
  size_t open_ VEIL_GUARDED_BY(mu_) = 0;
};

// ---- Host system call helpers shared by the backend's files. ----

// openat2(2) resolution for every lookup: never leave the directory `dirfd`
// names, never cross a mount, never follow any symlink (O_NOFOLLOW still
// returns a trailing symlink itself when O_PATH is set).
Result<UniqueFd> OpenBeneath(int dirfd, const char* name, int flags,
                             mode_t mode = 0);

// OpenBeneath of one entry, for every lookup and reopen: a mount point
// below the export (RESOLVE_NO_XDEV's EXDEV; CheckName refuses "..") is
// not served: EACCES, as a directory the client may not search.
Result<UniqueFd> OpenEntry(int dirfd, const char* name, int flags);

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
