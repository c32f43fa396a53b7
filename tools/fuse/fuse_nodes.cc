// SPDX-License-Identifier: Apache-2.0
//
// FuseAdapter's node table: node ids the kernel holds, resolved again from
// their names on each use so that they pin no dentry (fuse_adapter.h,
// "Node ids").
#include <algorithm>
#include <vector>

#include "tools/fuse/fuse_adapter.h"

namespace veil::tools {

FuseAdapter::FuseAdapter(vfs::Vfs& vfs, bool exclusive)
    : vfs_(vfs),
      exclusive_(exclusive),
      root_(vfs.RootLocation()),
      root_ctx_(vfs.RootContext()) {
  // The kernel holds the root without ever looking it up; it is never
  // forgotten (Forget keeps it).
  Node root{.mount = root_.mount, .ino = root_.dentry->inode().ino()};
  root.lookups = 1;
  root.pinned = std::make_unique<vfs::Location>(root_);
  nodes_.emplace(FUSE_ROOT_ID, std::move(root));
  by_inode_.emplace(
      std::make_pair(root_.mount.get(), root_.dentry->inode().ino()),
      FUSE_ROOT_ID);
}

Result<vfs::Location> FuseAdapter::Find(fuse_ino_t ino) {
  struct Step {
    std::string name;
    const vfs::Mount* mount;
    uint64_t ino;
  };
  // The names from the nearest pinned node down, taken under the lock and
  // walked without it (the walk takes filesystem locks).
  std::vector<Step> steps;
  std::optional<vfs::Location> loc;
  {
    std::lock_guard lock(mutex_);
    for (fuse_ino_t cur = ino;;) {
      auto it = nodes_.find(cur);
      // The kernel only sends ids it holds; anything else is a stale
      // handle. A node's directory node lives as long as the node.
      if (it == nodes_.end()) return Errno(ESTALE);
      const Node& node = it->second;
      if (node.pinned) {
        loc = *node.pinned;
        break;
      }
      steps.push_back(Step{node.name, node.mount.get(), node.ino});
      cur = node.parent;
    }
  }
  for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
    // With full rights: the kernel checked search permission when it
    // looked the name up, and keeps the node whatever the caller.
    Result<vfs::Location> next =
        vfs_.ResolveAt(root_ctx_, *loc, step->name, AT_SYMLINK_NOFOLLOW);
    // A name that went away or leads to another file (changed behind the
    // mount, as a shared --gofer directory can be): a stale handle, as
    // NFS answers.
    if (!next) return Errno(next.error().code() == ENOENT ? ESTALE
                                                          : next.error().code());
    if (next->mount.get() != step->mount ||
        next->dentry->inode().ino() != step->ino)
      return Errno(ESTALE);
    loc = std::move(*next);
  }
  return std::move(*loc);
}

void FuseAdapter::RenameLocked(Node& node, fuse_ino_t parent,
                               std::string_view name) {
  if (node.parent != parent) {
    if (parent != 0) ++nodes_.at(parent).children;
    const fuse_ino_t old = std::exchange(node.parent, parent);
    if (old != 0) {
      Node& old_parent = nodes_.at(old);
      --old_parent.children;
      if (old_parent.lookups == 0 && old_parent.children == 0)
        EraseLocked(old);
    }
  }
  node.name.assign(name);
}

fuse_ino_t FuseAdapter::Remember(const vfs::Location& loc, fuse_ino_t parent,
                                 std::string_view name) {
  std::lock_guard lock(mutex_);
  const uint64_t ino = loc.dentry->inode().ino();
  auto key = std::make_pair(loc.mount.get(), ino);
  auto [it, inserted] = by_inode_.try_emplace(key, next_ino_);
  if (inserted) {
    Node node{.mount = loc.mount, .ino = ino};
    node.lookups = 1;
    nodes_.emplace(next_ino_, std::move(node));
    RenameLocked(nodes_.at(next_ino_), parent, name);
    return next_ino_++;
  }
  Node& node = nodes_.at(it->second);
  ++node.lookups;
  // Keep the newest name: after `mv a b` or `rm` of one hard link the
  // kernel looks the inode up again under the name that still exists, and
  // resolving (and reopening by name) needs a live one. The root stays
  // the root.
  if (it->second != FUSE_ROOT_ID) {
    node.pinned.reset();
    RenameLocked(node, parent, name);
  }
  return it->second;
}

void FuseAdapter::EraseLocked(fuse_ino_t ino) {
  // Iterative: forgetting a deep leaf may free its whole chain.
  while (ino != 0 && ino != FUSE_ROOT_ID) {
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return;
    Node& node = it->second;
    if (node.lookups > 0 || node.children > 0) return;
    by_inode_.erase(std::make_pair(node.mount.get(), node.ino));
    const fuse_ino_t parent = node.parent;
    nodes_.erase(it);
    if (parent == 0) return;
    Node& up = nodes_.at(parent);
    --up.children;
    ino = parent;
  }
}

void FuseAdapter::Forget(fuse_ino_t ino, uint64_t count) {
  // Declared before the lock so that a pinned Location (and perhaps the
  // last reference to its dentry and inode) goes after mutex_ is released.
  std::unique_ptr<vfs::Location> dropped;
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  node.lookups -= std::min(count, node.lookups);
  if (node.lookups > 0 || ino == FUSE_ROOT_ID) return;
  dropped = std::move(node.pinned);
  EraseLocked(ino);
}

FuseAdapter::Named FuseAdapter::NodeNamed(const vfs::Location& dir,
                                          std::string_view name) {
  Named named;
  Result<vfs::Location> loc =
      vfs_.ResolveAt(root_ctx_, dir, name, AT_SYMLINK_NOFOLLOW);
  if (!loc) return named;
  std::lock_guard lock(mutex_);
  auto it = by_inode_.find(
      std::make_pair(loc->mount.get(), loc->dentry->inode().ino()));
  if (it == by_inode_.end()) return named;
  named.node = it->second;
  named.location = std::move(*loc);
  return named;
}

void FuseAdapter::PinRemoved(const Named& gone, fuse_ino_t parent,
                             std::string_view name) {
  if (gone.node == 0) return;
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(gone.node);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  // Known by another name (a hard link looked up since): that one stays.
  if (node.pinned || node.parent != parent || node.name != name) return;
  node.pinned = std::make_unique<vfs::Location>(*gone.location);
  RenameLocked(node, 0, "");
}

void FuseAdapter::MoveNode(const Named& moved, fuse_ino_t parent,
                           std::string_view name, fuse_ino_t new_parent,
                           std::string_view new_name) {
  if (moved.node == 0) return;
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(moved.node);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  if (node.pinned || node.parent != parent || node.name != name) return;
  RenameLocked(node, new_parent, new_name);
}

size_t FuseAdapter::NodesForTesting() {
  std::lock_guard lock(mutex_);
  return nodes_.size();
}

}  // namespace veil::tools
