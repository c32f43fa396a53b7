// SPDX-License-Identifier: Apache-2.0
#include "vfs/dentry_cache.h"

#include <cassert>
#include <functional>
#include <unordered_set>

#include "vfs/dentry.h"

namespace veil::vfs {
namespace {
constexpr size_t kInitialBuckets = 64;
}  // namespace

DentryCache::~DentryCache() {
  // Every cached dentry holds its parent and so, through its root, the
  // filesystem that owns this cache: none can be left.
  assert(size_ == 0);
}

size_t DentryCache::Hash(const Dentry* parent, std::string_view name) {
  uint64_t h = std::hash<std::string_view>{}(name);
  h ^= static_cast<uint64_t>(reinterpret_cast<uintptr_t>(parent)) *
       0x9e3779b97f4a7c15ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

Dentry** DentryCache::SlotOf(const Dentry* parent, std::string_view name) {
  return &buckets_[Hash(parent, name) & (buckets_.size() - 1)];
}

Dentry* DentryCache::FindLocked(const Dentry& parent, std::string_view name) {
  if (size_ == 0) return nullptr;
  for (Dentry* d = *SlotOf(&parent, name); d; d = d->hash_next_) {
    if (d->up_.parent == &parent && d->name() == name) {
      if (d != lru_head_) {
        LruUnlink(*d);
        LruPushFront(*d);
      }
      return d;
    }
  }
  return nullptr;
}

void DentryCache::InsertLocked(Dentry& child) {
  assert(!child.cached() && !child.is_root());
  if (size_ + 1 > buckets_.size()) Grow();
  child.AddRef();
  Dentry** slot = SlotOf(child.up_.parent, child.name());
  child.hash_next_ = *slot;
  *slot = &child;
  child.flags_ |= Dentry::kCached;
  LruPushFront(child);
  ++size_;
}

void DentryCache::Unhash(Dentry& d) {
  Dentry** slot = SlotOf(d.up_.parent, d.name());
  while (*slot != &d) slot = &(*slot)->hash_next_;
  *slot = d.hash_next_;
  d.hash_next_ = nullptr;
  LruUnlink(d);
  d.flags_ &= ~Dentry::kCached;
  --size_;
}

Ref<Dentry> DentryCache::RemoveLocked(Dentry& child) {
  assert(child.cached());
  Unhash(child);
  return AdoptRef(child);
}

void DentryCache::RehashLocked(Dentry& child, const Dentry& old_parent,
                               std::string_view old_name) {
  Dentry** slot = SlotOf(&old_parent, old_name);
  while (*slot != &child) slot = &(*slot)->hash_next_;
  *slot = child.hash_next_;
  Dentry** fresh = SlotOf(child.up_.parent, child.name());
  child.hash_next_ = *fresh;
  *fresh = &child;
}

void DentryCache::EvictLocked(std::vector<Ref<Dentry>>* out,
                              size_t max_passed) {
  size_t passed = 0;
  while (size_ > budget_ && lru_tail_ != nullptr) {
    Dentry& d = *lru_tail_;
    if (d.UnusedLocked()) {
      out->push_back(RemoveLocked(d));
      continue;
    }
    // In use: it stays, as if just used. Its ancestors are in use too.
    if (++passed > max_passed) break;
    LruUnlink(d);
    LruPushFront(d);
  }
}

void DentryCache::PruneLocked(const Dentry& root,
                              std::vector<Ref<Dentry>>* out) {
  // A mount point stays cached, and so do its ancestors, so that lookups
  // keep finding the dentry its mount is attached to.
  std::unordered_set<const Dentry*> keep;
  std::vector<Dentry*> below;
  for (Dentry* head : buckets_) {
    for (Dentry* d = head; d; d = d->hash_next_) {
      if (!root.IsAncestorOfLocked(*d->up_.parent)) continue;
      below.push_back(d);
      if (d->mount_count() == 0) continue;
      for (const Dentry* up = d; up != &root && keep.insert(up).second;
           up = up->parent()) {
      }
    }
  }
  for (Dentry* d : below)
    if (!keep.contains(d)) out->push_back(RemoveLocked(*d));
}

void DentryCache::Grow() {
  std::vector<Dentry*> old(std::max(kInitialBuckets, buckets_.size() * 2));
  old.swap(buckets_);
  for (Dentry* head : old) {
    for (Dentry* d = head; d;) {
      Dentry* next = d->hash_next_;
      Dentry** slot = SlotOf(d->up_.parent, d->name());
      d->hash_next_ = *slot;
      *slot = d;
      d = next;
    }
  }
}

void DentryCache::LruPushFront(Dentry& d) {
  d.lru_prev_ = nullptr;
  d.lru_next_ = lru_head_;
  if (lru_head_) lru_head_->lru_prev_ = &d;
  lru_head_ = &d;
  if (!lru_tail_) lru_tail_ = &d;
}

void DentryCache::LruUnlink(Dentry& d) {
  (d.lru_prev_ ? d.lru_prev_->lru_next_ : lru_head_) = d.lru_next_;
  (d.lru_next_ ? d.lru_next_->lru_prev_ : lru_tail_) = d.lru_prev_;
  d.lru_prev_ = d.lru_next_ = nullptr;
}

}  // namespace veil::vfs
