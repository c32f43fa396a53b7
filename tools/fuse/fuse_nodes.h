// SPDX-License-Identifier: Apache-2.0
//
// FuseNodes: the node ids a FuseAdapter gave the kernel, and what each
// stands for. Linux analogue: the other side of fs/fuse's nodeid and
// lookup count (fuse_inode's nlookup, FORGET).
//
// A node stands for one file (inode number) on one mount, plus the
// kernel's lookup count; FORGET drops the count and the node goes at zero
// (libfuse's lookup-count lifetime) once no other node names it as its
// directory. A node does not hold its file: the kernel remembers an inode
// for as long as it likes, and holding a Location per node would pin a
// dentry (and its inode, and for the gofer client its FDID) for each,
// beyond the dentry cache's budget. A node keeps the directory node and
// name it was last looked up under and is resolved again, name by name
// from its nearest resolved ancestor, checked against its inode number
// (ESTALE if another file took the name). The kHotNodes most recently used
// nodes keep their Location, so that the requests of one operation
// (LOOKUP, GETATTR, OPEN, ...) and the directory being walked cost no
// walk. Renames through the mount move the nodes they touch; a node whose
// name is removed while the kernel still knows it (an unlinked open file,
// a hard link's other name) pins its Location until it is forgotten or
// looked up again under a live name.
//
// The table itself is kept to a budget of nodes (StartTrimming): past it,
// a thread asks the kernel to drop its dentries of the oldest leaf nodes
// (fuse_lowlevel_notify_inval_entry); a FUSE inode goes with its last
// dentry, and the kernel then sends FORGET. Dentries in use (an open
// file, a cwd) stay, and so do their nodes.
//
// Thread-safety: all methods are thread-safe (one mutex, a leaf below the
// VFS's locks: no VFS call is made while holding it, and Locations are
// dropped after it is released).
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#endif
#include <fuse_lowlevel.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/ref.h"
#include "base/result.h"
#include "vfs/mount.h"
#include "vfs/vfs.h"

namespace veil::tools {

class FuseNodes final {
 public:
  // Nodes that keep their Location while recently used.
  static constexpr size_t kHotNodes = 1024;

  // `vfs` is borrowed (the adapter's). FUSE_ROOT_ID is `vfs`'s root.
  explicit FuseNodes(vfs::Vfs& vfs);
  ~FuseNodes();
  FuseNodes(const FuseNodes&) = delete;
  FuseNodes& operator=(const FuseNodes&) = delete;

  // The Location of `ino`; ESTALE for an id the kernel should not hold,
  // or whose name now leads elsewhere.
  Result<vfs::Location> Find(fuse_ino_t ino);
  // Counts one kernel lookup of `loc`, found as `name` in directory node
  // `parent`, and returns its node id.
  fuse_ino_t Remember(const vfs::Location& loc, fuse_ino_t parent,
                      std::string_view name);
  void Forget(fuse_ino_t ino, uint64_t count);

  // The node of the file `name` in `dir` names now, if the kernel knows
  // it (looked up with full rights: no permission check, no error).
  struct Named {
    fuse_ino_t node = 0;
    std::optional<vfs::Location> location;
  };
  Named NodeNamed(const vfs::Location& dir, std::string_view name);
  // After `name` in directory node `parent` was removed or renamed over:
  // a node known by that name keeps `gone.location` instead.
  void PinRemoved(const Named& gone, fuse_ino_t parent, std::string_view name);
  // After a rename of (parent, name) to (new_parent, new_name): the node
  // that had the old name has the new one.
  void MoveNode(const Named& moved, fuse_ino_t parent, std::string_view name,
                fuse_ino_t new_parent, std::string_view new_name);

  // Keeps the table near `max_nodes` (see the class comment) with a thread
  // that asks the kernel through `se` to forget the oldest leaves. Call
  // once the session's loop may start; StopTrimming before it is
  // destroyed (after the unmount: a request in flight may hold a
  // directory the kernel needs for an invalidation).
  void StartTrimming(fuse_session* se, size_t max_nodes);
  void StopTrimming();

  size_t size();

 private:
  struct Node {
    // The mount it was seen on (held: a mount the kernel still knows a
    // node of is busy, as it would be with the node's Location).
    Ref<vfs::Mount> mount;
    uint64_t ino = 0;       // Inode::ino() of the file, on `mount`
    fuse_ino_t parent = 0;  // the directory node it was last seen in
    std::string name{};     // its name there
    uint64_t lookups = 0;   // the kernel's lookup count
    uint32_t children = 0;  // nodes whose `parent` this is
    bool pinned = false;    // `location` is the root's, or the name's gone
    std::unique_ptr<vfs::Location> location{};  // pinned, or hot
  };
  using Dropped = std::vector<std::unique_ptr<vfs::Location>>;

  // Points `node` at (parent, name), keeping the children counts.
  void RenameLocked(Node& node, fuse_ino_t parent, std::string_view name,
                    Dropped* dropped) VEIL_REQUIRES(mu_);
  // Drops a node whose count and children are gone, and so on up.
  void EraseLocked(fuse_ino_t ino, Dropped* dropped) VEIL_REQUIRES(mu_);
  // Gives `ino` its Location as one of the kHotNodes recently used.
  void MakeHotLocked(fuse_ino_t ino, Node& node, const vfs::Location& loc,
                     Dropped* dropped) VEIL_REQUIRES(mu_);
  void TrimLoop() VEIL_EXCLUDES(mu_);

  vfs::Vfs& vfs_;  // borrowed; see the constructor

  Mutex mu_;
  // by_inode_ is keyed by (mount, inode number): the same file seen
  // through two bind mounts keeps each mount's flags.
  std::unordered_map<fuse_ino_t, Node> nodes_ VEIL_GUARDED_BY(mu_);
  std::map<std::pair<const vfs::Mount*, uint64_t>, fuse_ino_t> by_inode_
      VEIL_GUARDED_BY(mu_);
  fuse_ino_t next_ino_ VEIL_GUARDED_BY(mu_) = FUSE_ROOT_ID + 1;
  std::deque<fuse_ino_t> hot_ VEIL_GUARDED_BY(mu_);    // oldest first
  std::deque<fuse_ino_t> order_ VEIL_GUARDED_BY(mu_);  // trimming, oldest first
  uint64_t made_ VEIL_GUARDED_BY(mu_) = 0;             // nodes made so far

  CondVar trim_cv_;
  fuse_session* session_ VEIL_GUARDED_BY(mu_) = nullptr;  // borrowed
  size_t max_nodes_ VEIL_GUARDED_BY(mu_) = 0;             // 0: no trimming
  bool trim_stop_ VEIL_GUARDED_BY(mu_) = false;
  std::thread trimmer_;
};

}  // namespace veil::tools
