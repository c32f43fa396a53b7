// SPDX-License-Identifier: Apache-2.0
//
// GoferFs: the filesystem object, the inode map and statfs.
#include "gofer/client/gofer_fs.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>

#include "base/logging.h"
#include "gofer/client/internal/fd_reaper.h"
#include "gofer/client/internal/gofer_inode.h"
#include "gofer/client/internal/handle_cache.h"
#include "lisafs/client.h"

namespace veil::gofer {

using client::internal::CheckStatx;
using client::internal::FdReaper;
using client::internal::GoferInode;
using client::internal::HandleCache;
using client::internal::HostKey;
using client::internal::KeyOf;

namespace {
// Numbers we hand out for files on other host devices carry this bit, so
// they cannot collide with a host inode number of the root's device (no
// Linux filesystem hands out inode numbers that large).
constexpr uint64_t kForeignInoBit = uint64_t{1} << 63;

// GoferFsOptions::max_cached_handles: each cached handle may hold a
// donated descriptor of ours, so an eighth of our own limit at most.
size_t HandleBudget(size_t asked) {
  if (asked != 0) return asked;
  size_t budget = 1024;
  struct rlimit limit = {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY)
    budget = std::min(budget, static_cast<size_t>(limit.rlim_cur / 8));
  return std::max<size_t>(budget, 1);
}
}  // namespace

GoferFs::GoferFs(std::unique_ptr<lisafs::Client> client,
                 const GoferFsOptions& options)
    : options_(options),
      client_(std::move(client)),
      reaper_(std::make_unique<FdReaper>(*client_)),
      handles_(std::make_unique<HandleCache>(
          HandleBudget(options.max_cached_handles))) {}

GoferFs::~GoferFs() {
  // The root is the last inode (everything else holds the filesystem), so
  // after it every FDID is queued (a dying inode drops its cached
  // handles); the reaper closes them all before it stops, and only then
  // does the connection go.
  root_ = nullptr;
  handles_.reset();
  reaper_.reset();
}

Result<Ref<GoferFs>> GoferFs::Create(std::unique_ptr<lisafs::Client> client,
                                     const GoferFsOptions& options) {
  const lisafs::Inode root = client->root();
  Ref<GoferFs> fs = AdoptRef(*new GoferFs(std::move(client), options));
  if (!CheckStatx(root.stat) || (root.stat.mode & S_IFMT) != S_IFDIR) {
    VEIL_LOG(kWarning) << "gofer client: the server's root is not a usable "
                          "directory";
    fs->ReleaseFd(root.control_fd);
    return Errno(EIO, "gofer: the server's root is not a directory");
  }
  fs->root_dev_major_ = root.stat.dev_major;
  fs->root_dev_minor_ = root.stat.dev_minor;
  MutexLock lock(fs->mutex());
  Ref<GoferInode> inode =
      VEIL_TRY(fs->InodeForLocked(root, Freshness::kCreated));
  // The root's ".." is itself, as at the root of any Linux mount.
  inode->set_parent_ino(inode->ino());
  fs->root_ = RefPtr<GoferInode>(inode);
  return fs;
}

Ref<vfs::Inode> GoferFs::Root() { return root_.ToRef(); }

Result<struct statfs> GoferFs::StatFsLocked() {
  auto reply = VEIL_TRY(client_->Call(lisafs::FStatFSReq{root_->control_fd()}));
  const lisafs::FStatFSResp& r = reply.message;
  struct statfs st {};
  st.f_type = static_cast<__fsword_t>(r.type);
  st.f_bsize = static_cast<__fsword_t>(r.block_size);
  st.f_frsize = static_cast<__fsword_t>(r.block_size);
  st.f_blocks = r.blocks;
  st.f_bfree = r.blocks_free;
  st.f_bavail = r.blocks_available;
  st.f_files = r.files;
  st.f_ffree = r.files_free;
  st.f_namelen = static_cast<__fsword_t>(r.name_length);
  // As tmpfs: the fsid is our device number, never the host's.
  uint64_t dev = this->dev();
  st.f_fsid.__val[0] = static_cast<int>(dev & 0xffffffff);
  st.f_fsid.__val[1] = static_cast<int>(dev >> 32);
  return st;
}

void GoferFs::ReleaseFd(lisafs::FdId fd) { reaper_->Release(fd); }

void GoferFs::FlushReleasedFds() { reaper_->Flush(); }

uint64_t GoferFs::InoFor(const HostKey& key) {
  if (key.dev_major == root_dev_major_ && key.dev_minor == root_dev_minor_ &&
      (key.ino & kForeignInoBit) == 0)
    return key.ino;
  MutexLock lock(map_mu_);
  auto [it, added] = foreign_inos_.try_emplace(key, 0);
  if (added) it->second = kForeignInoBit | next_foreign_ino_++;
  return it->second;
}

Result<Ref<GoferInode>> GoferFs::InodeForLocked(const lisafs::Inode& reply,
                                                Freshness freshness) {
  if (Result<void> ok = CheckStatx(reply.stat); !ok) {
    ReleaseFd(reply.control_fd);
    return ok.error();
  }
  const HostKey key = KeyOf(reply.stat);
  const uint64_t ino = InoFor(key);
  RefPtr<GoferInode> existing;
  {
    MutexLock lock(map_mu_);
    GoferInode* live = FindLiveLocked(key);
    // A dying inode (count already 0) is gone for our purposes: TryAddRef
    // fails and a new inode takes its place in the index.
    if (live && live->TryAddRef())
      existing = RefPtr<GoferInode>(AdoptRef(*live));
  }
  if (existing) {
    const client::internal::CachedStat& old = existing->stat_locked();
    // The host may reuse the number of a file that is gone; a different
    // type or birth time, or a file we know was removed, means that the
    // live inode is such a leftover, not this file.
    bool same = freshness == Freshness::kExisting &&
                (old.mode() & S_IFMT) == (reply.stat.mode & S_IFMT) &&
                !((old.mask() & reply.stat.mask & lisafs::kStatxBtime) &&
                  !(old.btime() == reply.stat.btime));
    if (same) {
      ReleaseFd(reply.control_fd);
      VEIL_TRY_VOID(existing->UpdateStatLocked(reply.stat));
      return existing.ToRef();
    }
  }
  Ref<GoferInode> inode =
      MakeRef<GoferInode>(*this, ino, reply.control_fd, reply.stat);
  MutexLock lock(map_mu_);
  // A leftover of the same key leaves the index (it dies unfound).
  if (GoferInode* old = FindLiveLocked(key)) UnindexLiveLocked(*old, key);
  IndexLiveLocked(*inode);
  return inode;
}

void GoferFs::Forget(const GoferInode& inode) {
  // The dying inode's own key: nothing changes its attributes any more.
  const HostKey key = inode.key();
  MutexLock lock(map_mu_);
  UnindexLiveLocked(const_cast<GoferInode&>(inode), key);
}

namespace {
size_t HashKey(const HostKey& key) {
  uint64_t h = key.ino * 0x9e3779b97f4a7c15ull;
  h ^= (uint64_t{key.dev_major} << 32 | key.dev_minor) * 0xc2b2ae3d27d4eb4full;
  return static_cast<size_t>(h ^ (h >> 31));
}
}  // namespace

GoferInode* GoferFs::FindLiveLocked(const HostKey& key) {
  if (live_buckets_.empty()) return nullptr;
  GoferInode* i = live_buckets_[HashKey(key) & (live_buckets_.size() - 1)];
  for (; i; i = i->live_next_)
    if (i->key() == key) return i;
  return nullptr;
}

void GoferFs::IndexLiveLocked(GoferInode& inode) {
  if (live_count_ + 1 > live_buckets_.size()) {
    // Double the table (load factor at most one); keys are read under the
    // filesystem mutex, which our callers hold.
    std::vector<GoferInode*> old(
        std::max<size_t>(64, live_buckets_.size() * 2));
    old.swap(live_buckets_);
    for (GoferInode* head : old) {
      for (GoferInode* i = head; i;) {
        GoferInode* next = i->live_next_;
        GoferInode*& slot =
            live_buckets_[HashKey(i->key()) & (live_buckets_.size() - 1)];
        i->live_next_ = slot;
        slot = i;
        i = next;
      }
    }
  }
  GoferInode*& slot =
      live_buckets_[HashKey(inode.key()) & (live_buckets_.size() - 1)];
  inode.live_next_ = slot;
  slot = &inode;
  ++live_count_;
}

void GoferFs::UnindexLiveLocked(GoferInode& inode, const HostKey& key) {
  if (live_buckets_.empty()) return;
  // By address: only the inode's own key is read.
  GoferInode** slot = &live_buckets_[HashKey(key) & (live_buckets_.size() - 1)];
  while (*slot && *slot != &inode) slot = &(*slot)->live_next_;
  if (!*slot) return;  // replaced by a newer inode of the same key
  *slot = inode.live_next_;
  inode.live_next_ = nullptr;
  --live_count_;
}

size_t GoferFs::LiveInodesForTesting() {
  MutexLock lock(map_mu_);
  return live_count_;
}

}  // namespace veil::gofer
