// SPDX-License-Identifier: Apache-2.0
#include "gofer/client/internal/handle_cache.h"

#include <vector>

#include "gofer/client/gofer_fs.h"

namespace veil::gofer::client::internal {

Handle::~Handle() { fs.ReleaseFd(fd); }

std::shared_ptr<const Handle> HandleCache::Find(const GoferInode& inode,
                                                HandleKind kind) {
  MutexLock lock(mu_);
  auto it = index_.find(Key{&inode, kind});
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->handle;
}

void HandleCache::Insert(const GoferInode& inode, HandleKind kind,
                         std::shared_ptr<const Handle> handle) {
  // Released handles die after the lock is dropped (declared first):
  // their destructors queue Closes with the reaper.
  std::vector<std::shared_ptr<const Handle>> released;
  MutexLock lock(mu_);
  const Key key{&inode, kind};
  if (auto it = index_.find(key); it != index_.end()) {
    released.push_back(std::move(it->second->handle));
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, std::move(handle)});
  index_[key] = lru_.begin();
  // The new handle is in use now and idle once its file closes: room is
  // made for it then, so the bound holds after that close too.
  TrimLocked(capacity_ > 0 ? capacity_ - 1 : 0, released);
}

void HandleCache::Trim() {
  std::vector<std::shared_ptr<const Handle>> released;  // see Insert
  MutexLock lock(mu_);
  TrimLocked(capacity_, released);
}

void HandleCache::TrimLocked(
    size_t keep, std::vector<std::shared_ptr<const Handle>>& released) {
  size_t idle = 0;
  for (const Entry& e : lru_) idle += Idle(e) ? 1 : 0;
  // From the least recently used end; the ones in use move to the front
  // (they are not what the budget bounds, and the next trim should not
  // look at them first again).
  for (size_t steps = lru_.size(); idle > keep && steps > 0; --steps) {
    auto last = std::prev(lru_.end());
    if (!Idle(*last)) {
      lru_.splice(lru_.begin(), lru_, last);
      continue;
    }
    released.push_back(std::move(last->handle));
    index_.erase(last->key);
    lru_.erase(last);
    --idle;
  }
}

void HandleCache::Drop(const GoferInode& inode) {
  std::vector<std::shared_ptr<const Handle>> released;  // see Insert
  MutexLock lock(mu_);
  for (HandleKind kind : {HandleKind::kRead, HandleKind::kReadWrite}) {
    auto it = index_.find(Key{&inode, kind});
    if (it == index_.end()) continue;
    released.push_back(std::move(it->second->handle));
    lru_.erase(it->second);
    index_.erase(it);
  }
}

size_t HandleCache::DropIdle() {
  std::vector<std::shared_ptr<const Handle>> released;  // see Insert
  MutexLock lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (!Idle(*it)) {
      ++it;
      continue;
    }
    released.push_back(std::move(it->handle));
    index_.erase(it->key);
    it = lru_.erase(it);
  }
  return released.size();
}

size_t HandleCache::size() {
  MutexLock lock(mu_);
  return lru_.size();
}

}  // namespace veil::gofer::client::internal
