// SPDX-License-Identifier: Apache-2.0
//
// Revalidation of cached names (Linux's d_revalidate, fs/namei.c
// lookup_fast / d_revalidate / d_invalidate) for filesystems whose backing
// store changes behind the VFS (Filesystem::NamesNeedRevalidation: a gofer
// tree the host shares). The resolver and the namespace operations call
// RevalidateChildLocked on a cached dentry before they use it; on other
// filesystems it returns at once, so tmpfs and overlay pay one virtual call.
//
// Batching: a path walk names the components it will take next, and the
// cached dentries below the first one are checked in the same round trip
// (Filesystem::RevalidateLocked). The ones found valid are remembered in a
// RevalidatedSet for the rest of that one resolution, so the walk does not
// ask about them again.
//
// Locking: called with the filesystem mutex held, which stays held over
// the filesystem's round trip (see vfs/README.md, "Lock order").
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/dentry.h"

namespace veil::vfs::internal {

// The dentries one resolution has found valid. Holds them, so that a
// pointer in it cannot come to name another dentry meanwhile.
class RevalidatedSet {
 public:
  bool Contains(const Dentry& d) const {
    for (const Ref<Dentry>& r : dentries_)
      if (r.get() == &d) return true;
    return false;
  }
  void Add(Dentry& d) { dentries_.emplace_back(d); }

 private:
  std::vector<Ref<Dentry>> dentries_;
};

// Before `child`, cached as `name` under `parent`, is used: asks its
// filesystem whether the name still holds (with the names `ahead` of it in
// the path, as far as they are cached below it, in the same request),
// drops the dentries found gone or stale from the cache, and returns the
// verdict for `child` (kValid at once if the filesystem trusts its names,
// if `child` is in `done`, or if something is mounted on it). After
// kGone/kStale `child` may be gone: the caller must not touch it again.
// `done` may be null. Errors: the filesystem's. Caller holds the
// filesystem mutex.
Result<NameVerdict> RevalidateChildLocked(Dentry& parent, std::string_view name,
                                          Dentry& child,
                                          std::span<const std::string> ahead,
                                          RevalidatedSet* done)
    VEIL_REQUIRES(parent.fs().mutex());

}  // namespace veil::vfs::internal
