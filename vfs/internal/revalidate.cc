// SPDX-License-Identifier: Apache-2.0
#include "vfs/internal/revalidate.h"

namespace veil::vfs::internal {
namespace {

// Cached components checked in one request at most (the gofer's Walk and
// WalkStat take 256; a longer walk asks again further down).
constexpr size_t kMaxBatch = 64;

}  // namespace

Result<NameVerdict> RevalidateChildLocked(Dentry& parent, std::string_view name,
                                          Dentry& child,
                                          std::span<const std::string> ahead,
                                          RevalidatedSet* done) {
  Filesystem& fs = parent.fs();
  if (!fs.NamesNeedRevalidation()) return NameVerdict::kValid;
  // A mount point stays what its mount is on (Linux's d_invalidate would
  // detach the mount; veil keeps it until it is unmounted).
  if (child.mount_count() > 0) return NameVerdict::kValid;
  if (done && done->Contains(child)) return NameVerdict::kValid;

  // The chain of cached dentries down the path: child, then each cached
  // name ahead below the previous one, through directories only, up to
  // the first mount point (the walk leaves this filesystem there).
  std::vector<std::string> names{std::string(name)};
  std::vector<Dentry*> chain{&child};
  for (const std::string& next : ahead) {
    if (chain.size() >= kMaxBatch) break;
    Dentry* last = chain.back();
    if (!last->inode().IsDir()) break;
    parent.SameFsLocked(*last);
    Dentry* below = last->FindChildLocked(next);
    if (!below || below->mount_count() > 0) break;
    if (done && done->Contains(*below)) break;
    names.push_back(next);
    chain.push_back(below);
  }
  std::vector<Inode*> inodes;
  inodes.reserve(chain.size());
  for (Dentry* d : chain) inodes.push_back(&d->inode());

  std::vector<NameVerdict> verdicts =
      VEIL_TRY(parent.fs().RevalidateLocked(parent.inode(), names, inodes));
  // A filesystem that answers nothing vouches for nothing: look it up.
  if (verdicts.empty()) verdicts.push_back(NameVerdict::kStale);
  const NameVerdict first = verdicts.front();
  for (size_t i = 0; i < verdicts.size() && i < chain.size(); ++i) {
    if (verdicts[i] == NameVerdict::kValid) {
      if (done) done->Add(*chain[i]);
      continue;
    }
    // d_invalidate: the name is dropped; a later lookup asks the
    // filesystem afresh (kStale) or answers ENOENT (kGone, the caller).
    Dentry& up = i == 0 ? parent : *chain[i - 1];
    parent.SameFsLocked(up);
    up.InvalidateChildLocked(names[i]);
    break;
  }
  return first;
}

}  // namespace veil::vfs::internal
