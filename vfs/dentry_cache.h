// SPDX-License-Identifier: Apache-2.0
//
// DentryCache: the names one filesystem has cached, over the dentry trees
// of all its mounts. Linux analogue: the dentry hash table (d_hash) with
// the superblock's dentry LRU (s_dentry_lru) and its shrinker, but with a
// fixed budget of names instead of memory pressure.
//
// Every cached dentry is in an index keyed by (parent, name), which is
// how lookups find children, and on one LRU list, most recently looked up
// first. The cache holds one reference to each. When an insertion takes
// the cache past its budget, dentries are evicted from the least recently
// used end: a dentry that nothing but the cache holds (no open file, no
// Location, no cached child, since a child holds its parent; not a mount
// point; not a root, which is never cached) and whose inode does not
// object (Inode::MayEvictDentryLocked) leaves the index and is dropped.
// One in use is moved to the recently used end instead (a second
// chance), and a bounded number is looked at per insertion, so the cache
// may stay over its budget by what is in use, and an insertion never
// scans the whole list. A dropped dentry releases its inode (and for the
// gofer client the inode's FDIDs) and its reference to its parent, which
// may then become evictable in turn. An evicted name is looked up again
// from the filesystem when next needed, and gives the same answers.
//
// Memory: an index slot (8 bytes, at a load factor between 1/2 and 1)
// plus the three link pointers in each Dentry.
//
// Thread-safety: every method is called with the filesystem's mutex held
// (Filesystem::mutex()); nothing here takes another lock. Dentries are
// dropped by the callers after unlinking them, still under that mutex.
// The analysis cannot name that mutex from here (a DentryCache does not
// know its filesystem), so the methods that touch dentries are exempt
// (VEIL_NO_THREAD_SAFETY_ANALYSIS) and their callers, Dentry's and
// Filesystem's *Locked methods, carry the checked claim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/ref.h"

namespace veil::vfs {

class Dentry;

class DentryCache final {
 public:
  // The default budget of every filesystem (names, in use or not).
  // Small enough that a gofer-backed filesystem's control FDIDs stay far
  // below a LISAFS server's per-connection limit (65,536 in ours), and
  // that its memory is a few MB (vfs/README.md, "Dentry cache").
  static constexpr size_t kDefaultBudget = 16384;
  // Dentries in use passed over per insertion, at most.
  static constexpr size_t kMaxScan = 64;

  DentryCache() = default;
  ~DentryCache();
  DentryCache(const DentryCache&) = delete;
  DentryCache& operator=(const DentryCache&) = delete;

  // The cached child `name` of `parent`, or null; a hit becomes the most
  // recently used.
  Dentry* FindLocked(const Dentry& parent,
                     std::string_view name) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  // Caches `child` (not yet cached, under its current parent and name),
  // taking a reference, as the most recently used.
  void InsertLocked(Dentry& child) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  // Takes `child` out of the cache and returns the cache's reference.
  Ref<Dentry> RemoveLocked(Dentry& child) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  // Re-indexes `child` after a change of parent or name.
  void RehashLocked(Dentry& child, const Dentry& old_parent,
                    std::string_view old_name) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  // Evicts unused dentries, least recently used first, until the cache is
  // within its budget or `max_passed` dentries in use were passed over
  // (size() of them make a whole pass). The evicted dentries' references
  // go to `out`, for the caller to drop.
  void EvictLocked(std::vector<Ref<Dentry>>* out,
                   size_t max_passed = kMaxScan) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  // Takes every cached descendant of `root` out of the cache, in use or
  // not, except those something is mounted on; their references go to
  // `out`. Looks at every cached dentry (an unmount, not a hot path).
  void PruneLocked(const Dentry& root, std::vector<Ref<Dentry>>* out)
      VEIL_NO_THREAD_SAFETY_ANALYSIS;

  size_t size() const { return size_; }
  size_t budget() const { return budget_; }
  void set_budget(size_t budget) { budget_ = budget; }

 private:
  static size_t Hash(const Dentry* parent, std::string_view name);
  Dentry** SlotOf(const Dentry* parent,
                  std::string_view name) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  void Unhash(Dentry& d) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  void Grow() VEIL_NO_THREAD_SAFETY_ANALYSIS;
  void LruPushFront(Dentry& d) VEIL_NO_THREAD_SAFETY_ANALYSIS;
  void LruUnlink(Dentry& d) VEIL_NO_THREAD_SAFETY_ANALYSIS;

  std::vector<Dentry*> buckets_;  // chains through Dentry::hash_next_
  size_t size_ = 0;
  size_t budget_ = kDefaultBudget;
  Dentry* lru_head_ = nullptr;  // most recently used
  Dentry* lru_tail_ = nullptr;  // least recently used
};

}  // namespace veil::vfs
