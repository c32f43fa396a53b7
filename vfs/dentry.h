// SPDX-License-Identifier: Apache-2.0
//
// Dentry: a name in a filesystem's tree bound to an inode. Linux analogue:
// struct dentry. The VFS keeps a tree of dentries per mount of a
// filesystem as the cache of names it has resolved; it gives `..` its
// meaning, carries mount points, and names files for getcwd and
// /proc/<pid>/fd.
//
// Ownership: refcounted. A dentry holds its inode and its parent
// (strongly, as Linux's d_parent does); a root dentry (a mount's root, no
// parent) holds the filesystem instead, so every dentry keeps its
// filesystem alive through its chain of parents. The filesystem's
// DentryCache (vfs/dentry_cache.h) holds one reference to every cached
// child. A child leaves the cache when its name is removed (unlink, rmdir,
// rename over it: it is then dead), when it is evicted (nothing but the
// cache holds it, and the cache is over its budget), and, for a whole
// tree, by PruneTree() when a mount goes away. An open file keeps its
// dentry, so an unlinked file stays readable; whatever holds a dentry
// keeps its whole chain of parents, so `..` and getcwd always work on it.
//
// Memory: one allocation per dentry, its name stored inline after the
// object (a rename to a longer name moves it out of line); the cache's
// index and LRU links are intrusive. See vfs/README.md, "Dentry cache".
//
// Thread-safety: the name, the parent, the cache links and the dead flag
// are guarded by the filesystem's mutex (fs().mutex(); checked by the
// analysis, see SameFsLocked, except inside DentryCache, whose callers
// hold it); mount_count_ is atomic (changed under the mount table's lock).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/mutex.h"
#include "base/ref.h"
#include "vfs/inode.h"

namespace veil::vfs {

class DentryCache;

class Dentry final : public RefCounted<Dentry> {
 public:
  static Ref<Dentry> CreateRoot(Ref<Inode> inode);
  Dentry(const Dentry&) = delete;
  Dentry& operator=(const Dentry&) = delete;

  Inode& inode() const { return *inode_; }
  Ref<Inode> inode_ref() const { return Ref<Inode>(*inode_); }
  Filesystem& fs() const { return inode_->fs(); }

  // Guarded by the filesystem mutex; copy the name before unlocking.
  std::string_view name() const VEIL_REQUIRES(fs().mutex());
  Dentry* parent() const VEIL_REQUIRES(fs().mutex()) {
    return is_root() ? nullptr : up_.parent;
  }
  // A root is a root for life (read without the mutex).
  bool is_root() const { return root_; }
  // True once the name was removed from its directory (Linux: unhashed
  // by d_delete). An evicted dentry is not dead: nothing holds it.
  bool dead() const VEIL_REQUIRES(fs().mutex()) { return flags_ & kDead; }
  // True while the filesystem's DentryCache holds it.
  bool cached() const VEIL_REQUIRES(fs().mutex()) { return flags_ & kCached; }

  // Cached child, or nullptr; marks it recently used. Caller holds the
  // filesystem mutex.
  Dentry* FindChildLocked(std::string_view name) VEIL_REQUIRES(fs().mutex());
  // Caches and returns a new child. May evict unused names of the
  // filesystem (never this one's ancestors, nor the new child, which are
  // in use). Caller holds the filesystem mutex.
  Ref<Dentry> AddChildLocked(std::string_view name, Ref<Inode> inode)
      VEIL_REQUIRES(fs().mutex());
  // Drops `name` from the cache and marks that dentry dead.
  void RemoveChildLocked(std::string_view name) VEIL_REQUIRES(fs().mutex());
  // d_invalidate: drops `name` from the cache because the filesystem no
  // longer vouches for it (NameVerdict::kGone/kStale), and marks it dead;
  // a directory's cached names leave the cache with it and are marked
  // dead too, but mount points (as gVisor's InvalidateDentry). Whoever
  // still holds one (an open file, a cwd) keeps its inode, but looks
  // nothing up through it (ENOENT).
  void InvalidateChildLocked(std::string_view name) VEIL_REQUIRES(fs().mutex());
  // Moves this dentry under `new_parent` as `new_name` (rename).
  void MoveLocked(Dentry& new_parent, std::string_view new_name)
      VEIL_REQUIRES(fs().mutex());
  // Swaps two dentries' places (RENAME_EXCHANGE).
  static void ExchangeLocked(Dentry& a, Dentry& b)
      VEIL_REQUIRES(a.fs().mutex());
  // True if `this` is `other` or one of its ancestors. Caller holds the
  // (common) filesystem mutex.
  bool IsAncestorOfLocked(const Dentry& other) const
      VEIL_REQUIRES(other.fs().mutex());
  // Whether the cache may drop it: nothing but the cache holds it, nothing
  // is mounted on it, and its inode agrees (Inode::MayEvictDentryLocked).
  bool UnusedLocked() const VEIL_REQUIRES(fs().mutex());

  // Drops every cached descendant from the cache (breaks the parent/child
  // cycles), except mount points. Takes the filesystem mutex.
  void PruneTree() VEIL_EXCLUDES(fs().mutex());

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
  friend class DentryCache;

  enum class Kind : uint8_t { kChild, kRoot };
  enum Flag : uint8_t {
    kDead = 1 << 1,      // removed from its directory
    kCached = 1 << 2,    // in the DentryCache (index and LRU)
    kHeapName = 1 << 3,  // the name is out of line (see NameStorage)
  };
  // Names up to this long live inline; the inline space also holds the
  // out-of-line name's pointer, so it is never smaller than one.
  static constexpr size_t kMinInline = sizeof(char*);

  // One allocation: the object, then `inline_capacity` bytes of name.
  static void* operator new(size_t size, size_t inline_capacity);
  static void operator delete(void* p, size_t inline_capacity);
  static void operator delete(void* p);
  static Dentry* New(Ref<Inode> inode, std::string_view name, Kind kind);

  Dentry(Ref<Inode> inode, uint8_t inline_capacity, Kind kind);
  ~Dentry();

  char* InlineName() { return reinterpret_cast<char*>(this + 1); }
  const char* InlineName() const {
    return reinterpret_cast<const char*>(this + 1);
  }
  const char* NameData() const VEIL_REQUIRES(fs().mutex());
  void SetName(std::string_view name) VEIL_REQUIRES(fs().mutex());
  void FreeHeapName() VEIL_REQUIRES(fs().mutex());
  // Changes the parent (both in this filesystem), moving the reference.
  void SetParent(Dentry& parent) VEIL_REQUIRES(fs().mutex());

  // Held (a reference taken by hand: see ~Dentry for the order).
  Inode* const inode_;
  // Held: the parent, or for a root the filesystem (root_).
  union Up {
    Dentry* parent;
    Filesystem* fs;
  } up_ VEIL_GUARDED_BY(fs().mutex());
  // DentryCache links, guarded by the filesystem mutex.
  Dentry* hash_next_ = nullptr;
  Dentry* lru_prev_ = nullptr;
  Dentry* lru_next_ = nullptr;
  std::atomic<int32_t> mount_count_{0};
  uint8_t name_len_ VEIL_GUARDED_BY(fs().mutex()) = 0;
  const uint8_t inline_capacity_;
  const bool root_;  // apart from flags_: read without the mutex
  uint8_t flags_ VEIL_GUARDED_BY(fs().mutex()) = 0;
};

}  // namespace veil::vfs
