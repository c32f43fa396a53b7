// SPDX-License-Identifier: Apache-2.0
#include "vfs/dentry.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "vfs/dentry_cache.h"

namespace veil::vfs {

void* Dentry::operator new(size_t size, size_t inline_capacity) {
  return ::operator new(size + inline_capacity);
}

void Dentry::operator delete(void* p, size_t /*inline_capacity*/) {
  ::operator delete(p);
}

void Dentry::operator delete(void* p) { ::operator delete(p); }

// The new dentry is not shared yet: no lock guards it.
Dentry* Dentry::New(Ref<Inode> inode, std::string_view name,
                    Dentry::Kind kind) VEIL_NO_THREAD_SAFETY_ANALYSIS {
  const size_t capacity = std::max(name.size(), kMinInline);
  Dentry* d = new (capacity)
      Dentry(std::move(inode), static_cast<uint8_t>(capacity), kind);
  d->SetName(name);
  return d;
}

Dentry::Dentry(Ref<Inode> inode, uint8_t inline_capacity, Kind kind)
    : inode_(inode.LeakRef()),
      inline_capacity_(inline_capacity),
      root_(kind == Kind::kRoot) {
  up_.parent = nullptr;
}

Dentry::~Dentry() {
  assert(!cached());
  FreeHeapName();
  // The inode before the parent, and the parent before the filesystem: a
  // filesystem must outlive its inodes (vfs/inode.h), and a root dentry's
  // reference may be its last one.
  inode_->Release();
  if (is_root()) {
    up_.fs->Release();
  } else if (up_.parent) {
    up_.parent->Release();
  }
}

// As New: not shared yet.
Ref<Dentry> Dentry::CreateRoot(Ref<Inode> inode)
    VEIL_NO_THREAD_SAFETY_ANALYSIS {
  Filesystem& fs = inode->fs();
  Dentry* d = New(std::move(inode), "/", Kind::kRoot);
  fs.AddRef();
  d->up_.fs = &fs;
  return AdoptRef(*d);
}

const char* Dentry::NameData() const {
  if (!(flags_ & kHeapName)) return InlineName();
  const char* heap;
  std::memcpy(&heap, InlineName(), sizeof heap);
  return heap;
}

std::string_view Dentry::name() const {
  return std::string_view(NameData(), name_len_);
}

void Dentry::FreeHeapName() {
  if (!(flags_ & kHeapName)) return;
  delete[] NameData();
  flags_ &= ~kHeapName;
}

void Dentry::SetName(std::string_view name) {
  // Names passed CheckName: at most NAME_MAX (255) bytes.
  assert(name.size() <= 255);
  if (name.size() <= inline_capacity_) {
    // Moved before the old name is freed: `name` may be that name.
    char* to = InlineName();
    if (flags_ & kHeapName) {
      const char* heap = NameData();
      std::memmove(to, name.data(), name.size());
      delete[] heap;
      flags_ &= ~kHeapName;
    } else {
      std::memmove(to, name.data(), name.size());
    }
  } else {
    char* heap = new char[name.size()];
    std::memcpy(heap, name.data(), name.size());
    FreeHeapName();
    std::memcpy(InlineName(), &heap, sizeof heap);
    flags_ |= kHeapName;
  }
  name_len_ = static_cast<uint8_t>(name.size());
}

void Dentry::SetParent(Dentry& parent) {
  assert(!is_root());
  if (up_.parent == &parent) return;
  parent.AddRef();
  Dentry* old = std::exchange(up_.parent, &parent);
  if (old) old->Release();
}

void Dentry::SameFsLocked(const Dentry& other) const {
  if (&other.fs() != &fs()) std::abort();
}

bool Dentry::UnusedLocked() const {
  // The count first: a mount is attached only while its mount point is
  // held (MountAt resolves it), and that reference is dropped after the
  // mount count went up, so a count of one means the mount count is seen.
  return RefCount() == 1 && mount_count() == 0 &&
         inode_->MayEvictDentryLocked();
}

Dentry* Dentry::FindChildLocked(std::string_view name) {
  return fs().dentries().FindLocked(*this, name);
}

Ref<Dentry> Dentry::AddChildLocked(std::string_view name, Ref<Inode> inode) {
  DentryCache& cache = fs().dentries();
  if (Dentry* old = cache.FindLocked(*this, name)) {
    // Replaced by a fresh lookup of the same name (callers look in the
    // cache first, so this is not expected): the old one just leaves.
    Ref<Dentry> gone = cache.RemoveLocked(*old);
  }
  Ref<Dentry> child = AdoptRef(*New(std::move(inode), name, Kind::kChild));
  AddRef();
  SameFsLocked(*child);
  child->up_.parent = this;
  cache.InsertLocked(*child);
  // Evicted dentries die here, under the mutex, as removed ones do; the
  // new child and its ancestors are held, so they stay.
  std::vector<Ref<Dentry>> evicted;
  cache.EvictLocked(&evicted);
  return child;
}

void Dentry::RemoveChildLocked(std::string_view name) {
  DentryCache& cache = fs().dentries();
  Dentry* child = cache.FindLocked(*this, name);
  if (!child) return;
  SameFsLocked(*child);
  child->flags_ |= kDead;
  Ref<Dentry> gone = cache.RemoveLocked(*child);
}

void Dentry::InvalidateChildLocked(std::string_view name) {
  DentryCache& cache = fs().dentries();
  Dentry* child = cache.FindLocked(*this, name);
  if (!child) return;
  SameFsLocked(*child);
  child->flags_ |= kDead;
  // All die when the function returns, still under the mutex, as
  // removed names do.
  std::vector<Ref<Dentry>> gone;
  gone.push_back(cache.RemoveLocked(*child));
  // Names cached below it would be reachable only through a dead dentry:
  // they leave the cache too (only a directory can have any).
  if (!child->inode().IsDir()) return;
  const size_t first_below = gone.size();
  cache.PruneLocked(*child, &gone);
  for (size_t i = first_below; i < gone.size(); ++i) {
    SameFsLocked(*gone[i]);
    gone[i]->flags_ |= kDead;
  }
}

void Dentry::MoveLocked(Dentry& new_parent, std::string_view new_name) {
  DentryCache& cache = fs().dentries();
  Ref<Dentry> self(*this);
  // The target name's dentry, if cached, is dead: it was renamed over.
  if (Dentry* victim = cache.FindLocked(new_parent, new_name);
      victim && victim != this) {
    SameFsLocked(*victim);
    victim->flags_ |= kDead;
    Ref<Dentry> gone = cache.RemoveLocked(*victim);
  }
  if (!cached()) {
    // Pruned meanwhile (held, so not evicted): it joins the cache under
    // its new name.
    SetName(new_name);
    SetParent(new_parent);
    cache.InsertLocked(*this);
    return;
  }
  Dentry& old_parent = *up_.parent;
  Ref<Dentry> keep_old_parent(old_parent);
  // The old key finds the index slot: keep a copy of the old name.
  char old_name_buf[256];
  const std::string_view old_name_view = name();
  std::memcpy(old_name_buf, old_name_view.data(), old_name_view.size());
  const std::string_view old_name(old_name_buf, old_name_view.size());
  SetName(new_name);
  SetParent(new_parent);
  cache.RehashLocked(*this, old_parent, old_name);
}

void Dentry::ExchangeLocked(Dentry& a, Dentry& b) {
  DentryCache& cache = a.fs().dentries();
  a.SameFsLocked(b);
  // Both are cached (the rename looked both up under the mutex); out and
  // back in under their new places. `ca` and `cb` hold them meanwhile.
  Ref<Dentry> ca = a.cached() ? cache.RemoveLocked(a) : Ref<Dentry>(a);
  Ref<Dentry> cb = b.cached() ? cache.RemoveLocked(b) : Ref<Dentry>(b);
  char a_name[256], b_name[256];
  const size_t a_len = a.name().size(), b_len = b.name().size();
  std::memcpy(a_name, a.name().data(), a_len);
  std::memcpy(b_name, b.name().data(), b_len);
  Ref<Dentry> a_parent(*a.up_.parent), b_parent(*b.up_.parent);
  a.SetName(std::string_view(b_name, b_len));
  b.SetName(std::string_view(a_name, a_len));
  a.SetParent(*b_parent);
  b.SetParent(*a_parent);
  cache.InsertLocked(a);
  cache.InsertLocked(b);
}

bool Dentry::IsAncestorOfLocked(const Dentry& other) const {
  for (const Dentry* d = &other; d; d = d->parent()) {
    other.SameFsLocked(*d);
    if (d == this) return true;
  }
  return false;
}

void Dentry::PruneTree() {
  // Declared before the lock: the pruned dentries die after it is
  // released, all together once every one is out of the cache.
  std::vector<Ref<Dentry>> pruned;
  MutexLock lock(fs().mutex());
  fs().dentries().PruneLocked(*this, &pruned);
}

}  // namespace veil::vfs
