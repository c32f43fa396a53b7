// SPDX-License-Identifier: Apache-2.0
//
// Resolver: Linux's pathname walk (fs/namei.c link_path_walk and friends)
// over the VFS's mount and dentry trees, with openat2(2) RESOLVE_* rules.
//
// A resolver walks every component but the last, then hands the caller a
// Last: the parent directory and the final name. The caller locks the
// parent's filesystem, looks the name up and either acts on it (create,
// unlink, rename) or, when it finds a symlink it must follow, calls
// FollowLast() to continue the walk into the link body, exactly as Linux's
// open_last_lookups re-enters the walk. ResolveFull() does that loop for
// callers that just want the final location.
//
// Errors follow Linux's order: EACCES (no search permission) on a directory
// before anything inside it; ENOTDIR when walking through a non-directory;
// ELOOP after 40 symlinks; ENAMETOOLONG for a component over NAME_MAX (at
// lookup time) or a path of PATH_MAX bytes or more; ENOENT for an empty
// path without AT_EMPTY_PATH; EXDEV for RESOLVE_BENEATH/NO_XDEV escapes.
//
// Thread-safety: a Resolver is used by one thread for one operation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "vfs/internal/revalidate.h"
#include "vfs/vfs.h"

namespace veil::vfs::internal {

enum class LastType { kNormal, kDot, kDotDot, kRoot };

// An empty path: ENOENT (getname), or the start itself (AT_EMPTY_PATH).
enum class EmptyPath { kRefuse, kAllow };

struct Last {
  Location parent;
  std::string name;      // empty unless type == kNormal
  LastType type = LastType::kNormal;
  // The final component was followed by '/' in its path string, or an
  // earlier followed final symlink had one: the result must be a directory.
  bool must_be_dir = false;
};

class Resolver final {
 public:
  // Fails like Linux on a bad path (ENOENT empty, ENAMETOOLONG too long)
  // or bad resolve flags (EINVAL).
  static Result<Resolver> Create(Vfs& vfs, const Context& ctx,
                                 const Location& start, std::string_view path,
                                 uint64_t resolve, EmptyPath empty_path);

  // Walks to the parent of the final component.
  Result<Last> WalkToLast();
  // Continues into the body of the symlink `link` found as the final
  // component of `last`: counts it, applies RESOLVE_NO_SYMLINKS and
  // absolute-target rules, and walks to the body's last component.
  Result<Last> FollowLast(const Last& last, Inode& link);
  // Resolves the whole path. `follow` = follow a final symlink.
  Result<Location> ResolveFull(bool follow);

  // Looks up `name` in directory `dir` (caller holds no lock): cached
  // dentry (revalidated first where the filesystem asks for it) or
  // filesystem lookup, then crosses mounts. ENOENT if absent.
  Result<Location> LookupChild(const Location& dir, std::string_view name) {
    return Lookup(dir, name, Lookahead::kNone);
  }
  // Steps to a final Last's target location ("." / ".." / "/" / a name),
  // crossing mounts; does not follow symlinks.
  Result<Location> StepLast(const Last& last);

  // Follows mounts stacked on `loc` (RESOLVE_NO_XDEV: EXDEV).
  Result<Location> CrossMounts(Location loc);

  bool path_was_empty() const { return empty_; }
  const Context& ctx() const { return ctx_; }

 private:
  Resolver(Vfs& vfs, const Context& ctx, Location start, uint64_t resolve);

  struct Segment {
    std::string text;
    size_t pos = 0;
  };
  // Whether a revalidation may also check the names after this one.
  enum class Lookahead { kNone, kPath };
  Result<Location> Lookup(const Location& dir, std::string_view name,
                          Lookahead lookahead);
  // The plain names that follow the current component in its segment, up
  // to the first "." or "..": what the walk will look up next.
  std::vector<std::string> NamesAhead() const;
  // Takes the next component; `*is_last` if nothing but slashes remains in
  // any segment; `*slash` if a '/' followed it in its segment.
  bool NextComponent(std::string* name, bool* is_last, bool* slash);
  Result<void> CheckSearch(const Location& dir);
  Result<void> StepDotDot();
  Result<void> JumpToRoot();
  Result<void> PushSymlink(Inode& link, const Location& link_parent);

  Vfs& vfs_;
  const Context& ctx_;  // borrowed: the caller's context outlives us
  Location current_;
  Location root_;       // "/" and the `..` barrier
  Location start_;      // RESOLVE_BENEATH barrier
  uint64_t resolve_;
  int links_followed_ = 0;
  bool empty_ = false;
  bool must_be_dir_ = false;
  std::vector<Segment> stack_;
  // Cached dentries found valid during this resolution (batched answers).
  RevalidatedSet revalidated_;
};

// Linux acl_permission_check + generic_permission + capabilities.
// `mask` is MAY_READ/MAY_WRITE/MAY_EXEC bits (4/2/1).
Result<void> CheckPermission(const Credentials& creds, const Attr& attr,
                             int mask);
// inode_owner_or_capable: owner, or CAP_FOWNER.
bool OwnerOrCapable(const Credentials& creds, const Attr& attr);
// may_delete's sticky rule (check_sticky): EPERM when the directory is
// sticky and the caller owns neither it nor the victim.
bool StickyForbids(const Credentials& creds, const Attr& dir,
                   const Attr& victim);

inline constexpr int kMayExec = 1;
inline constexpr int kMayWrite = 2;
inline constexpr int kMayRead = 4;

}  // namespace veil::vfs::internal
