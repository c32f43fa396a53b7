// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the Vfs operation files.
#pragma once

#include <string_view>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/dentry.h"
#include "vfs/internal/resolver.h"

namespace veil::vfs::internal {

// The child `name` of `parent` (cached or looked up), or null when it does
// not exist. Caller holds parent's filesystem mutex. ENAMETOOLONG for a name
// over NAME_MAX, as a filesystem's ->lookup.
Result<RefPtr<Dentry>> LookupLocked(Dentry& parent, std::string_view name)
    VEIL_REQUIRES(parent.fs().mutex());

// mnt_want_write: EROFS on a read-only mount.
inline Result<void> WantWrite(const Location& loc) {
  if (loc.mount->read_only()) return Errno(EROFS);
  return Ok();
}

// Resolves `path` (AT_SYMLINK_NOFOLLOW / AT_EMPTY_PATH in `at_flags`,
// openat2's RESOLVE_* in `resolve`); Vfs::ResolveAt without the flag check.
Result<Location> ResolveAt(Vfs& vfs, const Context& ctx, const Location& dir,
                           std::string_view path, int at_flags,
                           uint64_t resolve = 0);

// may_create: EEXIST handled by the caller; ENOENT for a removed directory;
// write and search permission on the directory.
Result<void> MayCreateLocked(const Credentials& creds, Dentry& dir)
    VEIL_REQUIRES(dir.fs().mutex());

// What a namespace operation expects a name to be: rmdir and rename of a
// directory expect one (may_delete's `isdir`), mkdir allows a trailing
// slash on the name it creates.
enum class NameKind : uint8_t { kNonDirectory, kDirectory };

// may_delete(dir, victim, isdir), Linux's order of checks.
Result<void> MayDeleteLocked(const Credentials& creds, Dentry& dir,
                             Dentry& victim, NameKind expected)
    VEIL_REQUIRES(dir.fs().mutex());

}  // namespace veil::vfs::internal
