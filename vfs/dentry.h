// SPDX-License-Identifier: Apache-2.0
//
// Dentry: a name in a filesystem's tree bound to an inode. Linux analogue:
// struct dentry. The VFS keeps a tree of dentries per filesystem as the
// cache of names it has resolved; it gives `..` its meaning, carries mount
// points, and names files for getcwd and /proc/<pid>/fd.
//
// Ownership: refcounted. A dentry holds its filesystem, its inode and its
// parent (strongly,
// as Linux's d_parent does), and the parent's child cache holds the child;
// the cycle is broken when a name is removed (unlink, rmdir, rename over)
// and, for a whole tree, by PruneTree() when a filesystem goes away. An open
// file keeps its dentry, so an unlinked file stays readable.
//
// Thread-safety: name_, parent_, children_ and dead_ are guarded by the
// filesystem's mutex (fs().mutex(); checked by the analysis, see
// SameFsLocked); mount_count_ is atomic.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <string_view>

#include "base/ref.h"
#include "vfs/inode.h"

namespace veil::vfs {

class Dentry final : public RefCounted<Dentry> {
 public:
  static Ref<Dentry> CreateRoot(Ref<Inode> inode);

  Inode& inode() const { return *inode_; }
  const Ref<Inode>& inode_ref() const { return inode_; }
  Filesystem& fs() const { return inode_->fs(); }

  // Guarded by the filesystem mutex.
  const std::string& name() const VEIL_REQUIRES(fs().mutex()) {
    return name_;
  }
  Dentry* parent() const VEIL_REQUIRES(fs().mutex()) { return parent_.get(); }
  bool is_root() const VEIL_REQUIRES(fs().mutex()) { return !parent_; }
  // True once the name was removed from its directory (Linux: unhashed).
  bool dead() const VEIL_REQUIRES(fs().mutex()) { return dead_; }

  // Cached child, or nullptr. Caller holds the filesystem mutex.
  Dentry* FindChildLocked(std::string_view name) const
      VEIL_REQUIRES(fs().mutex());
  // Caches and returns a new child. Caller holds the filesystem mutex.
  Ref<Dentry> AddChildLocked(std::string_view name, Ref<Inode> inode)
      VEIL_REQUIRES(fs().mutex());
  // Drops `name` from the cache and marks that dentry dead.
  void RemoveChildLocked(std::string_view name) VEIL_REQUIRES(fs().mutex());
  // d_invalidate: drops `name` from the cache because the filesystem no
  // longer vouches for it (NameVerdict::kGone/kStale), and marks it and
  // every name cached below it (but mount points) dead, as gVisor's
  // InvalidateDentry does: whoever still holds one (an open file, a cwd)
  // keeps its inode, but looks nothing up through it (ENOENT), so no
  // dentry outside the tree can gather children (which would be a cycle
  // nothing breaks).
  void InvalidateChildLocked(std::string_view name)
      VEIL_REQUIRES(fs().mutex());
  // Moves this dentry under `new_parent` as `new_name` (rename).
  void MoveLocked(Dentry& new_parent, std::string_view new_name)
      VEIL_REQUIRES(fs().mutex());
  // Swaps two dentries' places (RENAME_EXCHANGE).
  static void ExchangeLocked(Dentry& a, Dentry& b)
      VEIL_REQUIRES(a.fs().mutex());
  // True if `this` is `other` or one of its ancestors.
  // Caller holds the (common) filesystem mutex.
  bool IsAncestorOfLocked(const Dentry& other) const
      VEIL_REQUIRES(other.fs().mutex());

  // Releases every cached descendant (breaks the parent/child cycles);
  // kKill also marks each one dead. Mount points stay cached.
  enum class Prune : uint8_t { kRelease, kKill };
  void PruneTree(Prune prune = Prune::kRelease) VEIL_REQUIRES(fs().mutex());

  // For the thread-safety analysis, which names a lock by the path it was
  // reached through: states that `other` (a dentry linked to this one, or
  // found under it) is of this dentry's filesystem, so that its fields are
  // guarded by the mutex the caller holds. Checked at run time: aborts if
  // the filesystems differ (a bug: trees never span filesystems).
  void SameFsLocked(const Dentry& other) const VEIL_REQUIRES(fs().mutex())
      VEIL_ASSERT_CAPABILITY(other.fs().mutex());

  int mount_count() const { return mount_count_.load(); }
  void AddMount() { mount_count_.fetch_add(1); }
  void RemoveMount() { mount_count_.fetch_sub(1); }

 private:
  friend class RefCounted<Dentry>;
  Dentry(Ref<Inode> inode, RefPtr<Dentry> parent, std::string name);
  ~Dentry() = default;

  const Ref<Filesystem> fs_;  // keeps inode_'s filesystem alive; see inode.h
  const Ref<Inode> inode_;
  RefPtr<Dentry> parent_ VEIL_GUARDED_BY(fs().mutex());
  std::string name_ VEIL_GUARDED_BY(fs().mutex());
  std::map<std::string, Ref<Dentry>, std::less<>> children_
      VEIL_GUARDED_BY(fs().mutex());
  bool dead_ VEIL_GUARDED_BY(fs().mutex()) = false;
  std::atomic<int> mount_count_{0};
};

}  // namespace veil::vfs
