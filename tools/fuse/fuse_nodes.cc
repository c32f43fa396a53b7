// SPDX-License-Identifier: Apache-2.0
//
// FuseNodes: node ids resolved again from their names on each use, so that
// they pin no dentry, and kept to a budget with the kernel's help.
#include "tools/fuse/fuse_nodes.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>

namespace veil::tools {

FuseNodes::FuseNodes(vfs::Vfs& vfs) : vfs_(vfs) {
  // The kernel holds the root without ever looking it up; it is never
  // forgotten (Forget keeps it).
  const vfs::Location root = vfs.RootLocation();
  Node node{.mount = root.mount, .ino = root.dentry->inode().ino()};
  node.lookups = 1;
  node.pinned = true;
  node.location = std::make_unique<vfs::Location>(root);
  by_inode_.emplace(std::make_pair(root.mount.get(), node.ino), FUSE_ROOT_ID);
  nodes_.emplace(FUSE_ROOT_ID, std::move(node));
}

FuseNodes::~FuseNodes() { StopTrimming(); }

Result<vfs::Location> FuseNodes::Find(fuse_ino_t ino) {
  struct Step {
    fuse_ino_t node;
    std::string name;
    const vfs::Mount* mount;
    uint64_t ino;
  };
  // The names from the nearest node with a Location down, taken under the
  // lock and walked without it (the walk takes filesystem locks).
  std::vector<Step> steps;
  std::optional<vfs::Location> loc;
  {
    MutexLock lock(mu_);
    for (fuse_ino_t cur = ino;;) {
      auto it = nodes_.find(cur);
      // The kernel only sends ids it holds; anything else is a stale
      // handle. A node's directory node lives as long as the node.
      if (it == nodes_.end()) return Errno(ESTALE);
      const Node& node = it->second;
      if (node.location) {
        loc = *node.location;
        break;
      }
      steps.push_back(Step{cur, node.name, node.mount.get(), node.ino});
      cur = node.parent;
    }
  }
  if (steps.empty()) return std::move(*loc);
  for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
    // Unchecked: the kernel checked search permission when it looked the
    // name up, and keeps the node whoever asks (and a check would cost a
    // round trip per directory on a revalidating gofer mount).
    Result<vfs::Location> next = vfs_.LookupChildUnchecked(*loc, step->name);
    // A name that went away or leads to another file (changed behind the
    // mount, as a shared --gofer directory can be): a stale handle, as
    // NFS answers.
    if (!next) {
      if (next.error().code() == ENOENT) return Errno(ESTALE);
      return next.error();
    }
    if (next->mount.get() != step->mount ||
        next->dentry->inode().ino() != step->ino)
      return Errno(ESTALE);
    loc = std::move(*next);
  }
  Dropped dropped;
  MutexLock lock(mu_);
  auto it = nodes_.find(ino);
  if (it != nodes_.end() && !it->second.location)
    MakeHotLocked(ino, it->second, *loc, &dropped);
  return std::move(*loc);
}

void FuseNodes::MakeHotLocked(fuse_ino_t ino, Node& node,
                              const vfs::Location& loc, Dropped* dropped) {
  if (node.pinned) return;
  if (!node.location) {
    hot_.push_back(ino);
    if (hot_.size() > kHotNodes) {
      // The oldest hot node cools: resolved by name again when next used.
      const fuse_ino_t cold = hot_.front();
      hot_.pop_front();
      auto it = nodes_.find(cold);
      if (it != nodes_.end() && !it->second.pinned && cold != ino)
        dropped->push_back(std::move(it->second.location));
    }
  }
  node.location = std::make_unique<vfs::Location>(loc);
}

void FuseNodes::RenameLocked(Node& node, fuse_ino_t parent,
                             std::string_view name, Dropped* dropped) {
  if (node.parent != parent) {
    if (parent != 0) ++nodes_.at(parent).children;
    const fuse_ino_t old = std::exchange(node.parent, parent);
    if (old != 0) {
      Node& old_parent = nodes_.at(old);
      --old_parent.children;
      if (old_parent.lookups == 0 && old_parent.children == 0)
        EraseLocked(old, dropped);
    }
  }
  node.name.assign(name);
}

fuse_ino_t FuseNodes::Remember(const vfs::Location& loc, fuse_ino_t parent,
                               std::string_view name) {
  Dropped dropped;
  MutexLock lock(mu_);
  const uint64_t ino = loc.dentry->inode().ino();
  auto [it, inserted] =
      by_inode_.try_emplace(std::make_pair(loc.mount.get(), ino), next_ino_);
  const fuse_ino_t id = it->second;
  if (inserted) {
    Node node{.mount = loc.mount, .ino = ino};
    nodes_.emplace(id, std::move(node));
    ++next_ino_;
    ++made_;
    order_.push_back(id);
    if (max_nodes_ != 0 && nodes_.size() > max_nodes_) trim_cv_.Signal();
  }
  Node& node = nodes_.at(id);
  ++node.lookups;
  // Keep the newest name: after `mv a b` or `rm` of one hard link the
  // kernel looks the inode up again under the name that still exists, and
  // resolving (and reopening by name) needs a live one. The root stays
  // the root.
  if (id != FUSE_ROOT_ID) {
    if (node.pinned) {
      node.pinned = false;
      dropped.push_back(std::move(node.location));
    }
    RenameLocked(node, parent, name, &dropped);
    MakeHotLocked(id, node, loc, &dropped);
  }
  return id;
}

void FuseNodes::EraseLocked(fuse_ino_t ino, Dropped* dropped) {
  // Iterative: forgetting a deep leaf may free its whole chain.
  while (ino != 0 && ino != FUSE_ROOT_ID) {
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return;
    Node& node = it->second;
    if (node.lookups > 0 || node.children > 0) return;
    by_inode_.erase(std::make_pair(node.mount.get(), node.ino));
    if (node.location) dropped->push_back(std::move(node.location));
    const fuse_ino_t parent = node.parent;
    nodes_.erase(it);
    if (parent == 0) return;
    --nodes_.at(parent).children;
    ino = parent;
  }
}

void FuseNodes::Forget(fuse_ino_t ino, uint64_t count) {
  // Declared before the lock: a dropped Location (perhaps the last
  // reference to its dentry and inode) goes after mu_ is released.
  Dropped dropped;
  MutexLock lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  node.lookups -= std::min(count, node.lookups);
  if (node.lookups > 0 || ino == FUSE_ROOT_ID) return;
  EraseLocked(ino, &dropped);
}

FuseNodes::Named FuseNodes::NodeNamed(const vfs::Location& dir,
                                      std::string_view name) {
  Named named;
  Result<vfs::Location> loc = vfs_.LookupChildUnchecked(dir, name);
  if (!loc) return named;
  MutexLock lock(mu_);
  auto it = by_inode_.find(
      std::make_pair(loc->mount.get(), loc->dentry->inode().ino()));
  if (it == by_inode_.end()) return named;
  named.node = it->second;
  named.location = std::move(*loc);
  return named;
}

void FuseNodes::PinRemoved(const Named& gone, fuse_ino_t parent,
                           std::string_view name) {
  if (gone.node == 0) return;
  Dropped dropped;
  MutexLock lock(mu_);
  auto it = nodes_.find(gone.node);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  // Known by another name (a hard link looked up since): that one stays.
  if (node.pinned || node.parent != parent || node.name != name) return;
  if (node.location) dropped.push_back(std::move(node.location));
  node.location = std::make_unique<vfs::Location>(*gone.location);
  node.pinned = true;
  RenameLocked(node, 0, "", &dropped);
}

void FuseNodes::MoveNode(const Named& moved, fuse_ino_t parent,
                         std::string_view name, fuse_ino_t new_parent,
                         std::string_view new_name) {
  if (moved.node == 0) return;
  Dropped dropped;
  MutexLock lock(mu_);
  auto it = nodes_.find(moved.node);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  if (node.pinned || node.parent != parent || node.name != name) return;
  // A hot Location followed its dentry, which the rename moved.
  RenameLocked(node, new_parent, new_name, &dropped);
}

size_t FuseNodes::size() {
  MutexLock lock(mu_);
  return nodes_.size();
}

void FuseNodes::StartTrimming(fuse_session* se, size_t max_nodes) {
  MutexLock lock(mu_);
  if (trimmer_.joinable() || max_nodes == 0) return;
  session_ = se;
  max_nodes_ = max_nodes;
  trim_stop_ = false;
  trimmer_ = std::thread([this] { TrimLoop(); });
}

void FuseNodes::StopTrimming() {
  {
    MutexLock lock(mu_);
    trim_stop_ = true;
  }
  trim_cv_.Signal();
  if (trimmer_.joinable()) trimmer_.join();
}

void FuseNodes::TrimLoop() {
  // Trims to nine tenths of the budget, so that it does not run per node.
  constexpr size_t kBatch = 256;
  MutexLock lock(mu_);
  for (;;) {
    while (!trim_stop_ && !(nodes_.size() > max_nodes_ && !order_.empty()))
      trim_cv_.Wait(mu_);
    if (trim_stop_) return;
    const size_t target = max_nodes_ - max_nodes_ / 10;
    std::vector<std::pair<fuse_ino_t, std::string>> entries;
    // Each id is looked at once per pass; directories with children go
    // to the back (their children are newer and go first).
    for (size_t n = order_.size(); n > 0 && entries.size() < kBatch &&
                                   nodes_.size() - entries.size() > target;
         --n) {
      const fuse_ino_t id = order_.front();
      order_.pop_front();
      auto it = nodes_.find(id);
      if (it == nodes_.end()) continue;  // forgotten meanwhile
      const Node& node = it->second;
      if (node.pinned || node.parent == 0) continue;  // no name to drop
      if (node.children > 0) {
        order_.push_back(id);
        continue;
      }
      entries.emplace_back(node.parent, node.name);
    }
    if (entries.empty()) {
      // Everything left is in use: wait for a new node.
      const uint64_t made = made_;
      while (!trim_stop_ && made_ == made) trim_cv_.Wait(mu_);
      continue;
    }
    fuse_session* se = session_;
    mu_.Unlock();
    for (const auto& [parent, name] : entries) {
      // The kernel drops its dentry (if unused) and, with it, the inode:
      // FORGET follows. An error (the entry is gone already, the session
      // is ending) leaves nothing to do.
      (void)fuse_lowlevel_notify_inval_entry(se, parent, name.data(),
                                             name.size());
    }
    mu_.Lock();
    // The FORGETs come a little later: give them that time before
    // counting again, or the same excess would be trimmed twice.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    while (!trim_stop_ && trim_cv_.WaitUntil(mu_, deadline)) {
    }
  }
}

}  // namespace veil::tools
