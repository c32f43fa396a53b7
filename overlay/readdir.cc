// SPDX-License-Identifier: Apache-2.0
//
// Directory listings (fs/overlayfs/readdir.c): the merged listing of a
// directory with several layers, its emptiness check, and open
// directories, which read either the merged listing or, for a directory
// that lives in one layer, that layer's directory straight.
//
// Merged listing (ovl_dir_read_merged): the upper entries, then each
// lower's entries not seen above, names hidden by a whiteout skipped; the
// lowest layer's entries are moved to the front "so that offsets stay
// reasonably constant". It is taken when a description first reads at
// position 0 and shared by every description reading the unchanged
// directory; positions are indices into it, so getdents neither repeats
// nor skips entries across concurrent changes. Every d_ino is the st_ino
// stat(2) reports for the entry.
#include <dirent.h>
#include <sys/stat.h>

#include <map>

#include "overlay/internal/inode.h"

namespace veil::overlay::internal {
namespace {

struct RawEntry {
  std::string name;
  uint64_t real_ino = 0;
  uint8_t type = 0;
  bool whiteout = false;
  int layer = -1;  // -1: upper; else index into the directory's lowers
};

// Every entry of one layer directory, "." and ".." included, whiteouts
// marked (ovl_dir_read + ovl_check_whiteouts).
Result<std::vector<RawEntry>> ReadLayerDir(vfs::Inode& dir, int layer) {
  MutexLock lock(dir.fs().mutex());
  std::vector<RawEntry> out;
  VEIL_TRY_VOID(dir.ReadDirLocked(0, [&](const vfs::DirEntry& e) {
    out.push_back(RawEntry{e.name, e.ino, e.type, false, layer});
    return true;
  }));
  for (RawEntry& e : out) {
    if (e.type != DT_CHR) continue;
    Result<Ref<vfs::Inode>> child = dir.LookupLocked(e.name);
    e.whiteout = child && IsWhiteoutLocked(**child);
  }
  return out;
}

// The merged entries in Linux's order.
Result<std::vector<RawEntry>> ReadMerged(OverlayInode& dir) {
  std::vector<std::pair<vfs::Inode*, int>> layers;
  if (dir.upper()) layers.emplace_back(dir.upper(), -1);
  for (size_t i = 0; i < dir.lowers().size(); ++i)
    layers.emplace_back(dir.lowers()[i].inode.get(), static_cast<int>(i));
  std::vector<RawEntry> all;
  std::map<std::string, size_t, std::less<>> index;
  std::vector<size_t> order;
  for (size_t k = 0; k < layers.size(); ++k) {
    std::vector<RawEntry> entries =
        VEIL_TRY(ReadLayerDir(*layers[k].first, layers[k].second));
    if (k + 1 < layers.size()) {
      for (RawEntry& e : entries) {
        if (index.count(e.name)) continue;
        index.emplace(e.name, all.size());
        order.push_back(all.size());
        all.push_back(std::move(e));
      }
      continue;
    }
    // ovl_fill_lowest: the lowest layer's names, known or new, go first.
    std::vector<size_t> middle;
    std::vector<bool> moved(all.size() + entries.size(), false);
    for (RawEntry& e : entries) {
      auto it = index.find(e.name);
      if (it != index.end()) {
        middle.push_back(it->second);
        moved[it->second] = true;
      } else {
        middle.push_back(all.size());
        all.push_back(std::move(e));
      }
    }
    for (size_t i : order)
      if (!moved[i]) middle.push_back(i);
    order = std::move(middle);
  }
  std::vector<RawEntry> out;
  out.reserve(order.size());
  for (size_t i : order) out.push_back(std::move(all[i]));
  return out;
}

}  // namespace

Result<std::shared_ptr<DirCache>> OverlayInode::DirCacheLocked() {
  if (std::shared_ptr<DirCache> cache = dir_cache_.lock();
      cache && cache->version == dir_version_)
    return cache;
  std::vector<RawEntry> merged = VEIL_TRY(ReadMerged(*this));
  auto cache = std::make_shared<DirCache>();
  cache->version = dir_version_;
  for (RawEntry& e : merged) {
    uint64_t ino = 0;
    if (e.name == ".") {
      ino = CurrentIno();
    } else if (e.name == "..") {
      ino = parent_ ? parent_->CurrentIno() : CurrentIno();
    } else if (!e.whiteout && e.layer < 0) {
      RefPtr<vfs::Inode> child;
      {
        MutexLock lock(upper_->fs().mutex());
        if (auto found = upper_->LookupLocked(e.name); found)
          child = RefPtr<vfs::Inode>(std::move(*found));
      }
      ino = child ? EntryInoLocked(nullptr, child.get())
                  : ofs().MapInoLocked(0, e.real_ino);
    } else if (!e.whiteout) {
      uint32_t fsid = ofs().FsidOfLower(lowers_[e.layer].layer);
      ino = ofs().MapInoLocked(fsid, e.real_ino);
    }
    cache->entries.push_back(
        DirCacheEntry{std::move(e.name), ino, e.type, e.whiteout});
  }
  dir_cache_ = cache;
  return cache;
}

const std::map<std::string, uint64_t, std::less<>>*
OverlayInode::ImpureInosLocked() {
  if (!impure_ || !upper_) return nullptr;
  if (impure_version_ != dir_version_) {
    Result<std::vector<RawEntry>> entries = ReadLayerDir(*upper_, -1);
    // Linux warns and reports the upper numbers when the lookups fail.
    if (!entries) return nullptr;
    impure_inos_.clear();
    for (const RawEntry& e : *entries) {
      if (e.name == "." || e.name == ".." || e.whiteout) continue;
      RefPtr<vfs::Inode> child;
      {
        MutexLock lock(upper_->fs().mutex());
        if (auto found = upper_->LookupLocked(e.name); found)
          child = RefPtr<vfs::Inode>(std::move(*found));
      }
      if (!child) continue;
      uint64_t ino = EntryInoLocked(nullptr, child.get());
      if (ino != ofs().MapInoLocked(0, e.real_ino)) impure_inos_[e.name] = ino;
    }
    impure_version_ = dir_version_;
    // "A good opportunity to get rid of an unneeded impure flag" (best
    // effort; it changes the directory's ctime).
    if (impure_inos_.empty()) {
      {
        MutexLock lock(upper_->fs().mutex());
        (void)upper_->RemoveXattrLocked(kImpureXattr);
      }
      impure_ = false;
      impure_version_.reset();
      return nullptr;
    }
  }
  return &impure_inos_;
}

Result<void> OverlayInode::CheckEmptyLocked(
    std::vector<std::string>* upper_whiteouts) {
  std::vector<RawEntry> merged = VEIL_TRY(ReadMerged(*this));
  for (const RawEntry& e : merged) {
    if (e.name == "." || e.name == "..") continue;
    if (!e.whiteout) return Errno(ENOTEMPTY);
    if (e.layer < 0) upper_whiteouts->push_back(e.name);
  }
  return Ok();
}

bool OverlayInode::IsEmptyDirLocked() {
  std::vector<std::string> ignored;
  return IsDir() && CheckEmptyLocked(&ignored).has_value();
}

Result<void> OverlayInode::ClearWhiteoutsLocked(
    const std::vector<std::string>& names) {
  MutexLock lock(upper_->fs().mutex());
  for (const std::string& name : names) {
    Result<Ref<vfs::Inode>> found = upper_->LookupLocked(name);
    if (found && IsWhiteoutLocked(**found))
      VEIL_TRY_VOID(upper_->UnlinkLocked(name, **found));
  }
  return Ok();
}

// The inode hook (for a filesystem stacked on this one): a fresh merged
// listing each call, cookies are positions in it.
Result<void> OverlayInode::ReadDirLocked(uint64_t cookie,
                                         const vfs::DirEmitter& emit) {
  if (!IsDir()) return Errno(ENOTDIR);
  if (dead_) return Errno(ENOENT);
  std::shared_ptr<DirCache> cache = VEIL_TRY(DirCacheLocked());
  for (uint64_t i = cookie; i < cache->entries.size(); ++i) {
    const DirCacheEntry& e = cache->entries[i];
    if (e.whiteout) continue;
    if (!emit(vfs::DirEntry{e.name, e.ino, e.type, i + 1})) break;
  }
  return Ok();
}

// --- Open directories -------------------------------------------------------

namespace {

class DirFile final : public vfs::FileImpl {
 public:
  explicit DirFile(Ref<OverlayInode> inode)
      : inode_(std::move(inode)),
        is_real_(!inode_->MayHaveWhiteouts()),
        real_(inode_->real()),
        real_is_upper_(inode_->upper() != nullptr),
        real_layer_(real_is_upper_ ? 0 : inode_->lowers()[0].layer) {}

  // generic_read_dir.
  Result<size_t> PRead(std::span<uint8_t>, int64_t) override {
    return Errno(EISDIR);
  }
  Result<size_t> PWrite(const vfs::Credentials&, std::span<const uint8_t>,
                        int64_t*, vfs::WriteAt) override {
    return Errno(EISDIR);
  }

  Result<void> ReadDir(uint64_t* cookie, const vfs::DirEmitter& emit) override {
    MutexLock lock(inode_->fs().mutex());
    // iterate_dir on a removed directory.
    if (inode_->dead()) return Errno(ENOENT);
    if (*cookie == 0) Reset();
    VEIL_TRY_VOID(is_real_ ? ReadRealLocked(cookie, emit)
                           : ReadMergedLocked(cookie, emit));
    inode_->TouchAtimeLocked();
    return Ok();
  }

 private:
  // ovl_dir_reset: at position 0 a stale listing is dropped, and a
  // directory copied up since the open switches to the merged listing.
  void Reset() {
    if (cache_ && cache_->version != inode_->dir_version()) cache_.reset();
    if (is_real_ && inode_->MayHaveWhiteouts()) is_real_ = false;
  }

  Result<void> ReadMergedLocked(uint64_t* cookie, const vfs::DirEmitter& emit) {
    if (!cache_) cache_ = VEIL_TRY(inode_->DirCacheLocked());
    for (uint64_t i = *cookie; i < cache_->entries.size(); ++i) {
      const DirCacheEntry& e = cache_->entries[i];
      if (!e.whiteout && !emit(vfs::DirEntry{e.name, e.ino, e.type, i + 1}))
        return Ok();
      *cookie = i + 1;
    }
    return Ok();
  }

  // Straight from the one layer, in batches, with inode numbers made the
  // overlay's.
  Result<void> ReadRealLocked(uint64_t* cookie, const vfs::DirEmitter& emit) {
    constexpr size_t kBatch = 128;
    impure_ = real_is_upper_ ? inode_->ImpureInosLocked() : nullptr;
    for (;;) {
      if (real_is_upper_ && *cookie == kRealDirEod) return Ok();
      std::vector<vfs::DirEntry> batch;
      {
        MutexLock lock(real_->fs().mutex());
        VEIL_TRY_VOID(
            real_->ReadDirLocked(*cookie, [&](const vfs::DirEntry& e) {
              if (batch.size() == kBatch) return false;
              batch.push_back(e);
              return true;
            }));
      }
      for (vfs::DirEntry& e : batch) {
        e.ino = Translate(e);
        if (!emit(e)) return Ok();
        *cookie = e.next_cookie;
      }
      if (batch.size() < kBatch) {
        // An upper directory ends as Linux tmpfs's does (offset_iterate_dir):
        // once reached, the end sticks until a rewind. A lower directory
        // does not change, so its own cookies serve.
        if (real_is_upper_) *cookie = kRealDirEod;
        return Ok();
      }
    }
  }

  uint64_t Translate(const vfs::DirEntry& e) {
    OverlayFs& ofs = inode_->ofs();
    if (e.name == ".") return inode_->CurrentIno();
    if (e.name == "..") {
      OverlayInode* parent = inode_->parent();
      return parent ? parent->CurrentIno() : inode_->CurrentIno();
    }
    if (!real_is_upper_)
      return ofs.MapInoLocked(ofs.FsidOfLower(real_layer_), e.ino);
    // ovl_fill_real: an impure directory's copied-up entries report their
    // origin's number, from the cached impure list.
    if (impure_) {
      auto it = impure_->find(e.name);
      if (it != impure_->end()) return it->second;
    }
    return ofs.MapInoLocked(0, e.ino);
  }

  const Ref<OverlayInode> inode_;
  // Guarded by the overlay mutex (and the description's offset mutex).
  bool is_real_;
  const Ref<vfs::Inode> real_;
  const bool real_is_upper_;
  const uint32_t real_layer_;
  std::shared_ptr<DirCache> cache_;
  // The inode's impure list during one ReadRealLocked call.
  const std::map<std::string, uint64_t, std::less<>>* impure_ = nullptr;
};

}  // namespace

std::unique_ptr<vfs::FileImpl> NewDirFile(Ref<OverlayInode> inode) {
  return std::make_unique<DirFile>(std::move(inode));
}

}  // namespace veil::overlay::internal
