// SPDX-License-Identifier: Apache-2.0
#include "vfs/internal/resolver.h"

#include <linux/limits.h>
#include <linux/openat2.h>


namespace veil::vfs::internal {
namespace {

// Linux's MAXSYMLINKS: symlinks followed in one resolution.
constexpr int kMaxSymlinks = 40;
constexpr uint64_t kKnownResolveFlags =
    RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
    RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED;

}  // namespace

Resolver::Resolver(Vfs& vfs, const Context& ctx, Location start,
                   uint64_t resolve)
    : vfs_(vfs),
      ctx_(ctx),
      current_(start),
      root_((resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) ? start : ctx.root),
      start_(std::move(start)),
      resolve_(resolve) {}

Result<Resolver> Resolver::Create(Vfs& vfs, const Context& ctx,
                                  const Location& start, std::string_view path,
                                  uint64_t resolve, EmptyPath empty_path) {
  // openat2: unknown bits, or BENEATH together with IN_ROOT, are EINVAL.
  if ((resolve & ~kKnownResolveFlags) ||
      ((resolve & RESOLVE_BENEATH) && (resolve & RESOLVE_IN_ROOT)))
    return Errno(EINVAL);
  // getname(): a name of PATH_MAX bytes or more (with its NUL) is too long.
  if (path.size() >= PATH_MAX) return Errno(ENAMETOOLONG);
  Resolver r(vfs, ctx, start, resolve);
  if (path.empty()) {
    // getname(): an empty name is ENOENT unless AT_EMPTY_PATH.
    if (empty_path == EmptyPath::kRefuse) return Errno(ENOENT);
    r.empty_ = true;
    return r;
  }
  if (path[0] == '/') {
    VEIL_TRY_VOID(r.JumpToRoot());
  } else if (!start.dentry->inode().IsDir()) {
    // path_init: a relative path from a non-directory dirfd is ENOTDIR.
    return Errno(ENOTDIR);
  }
  r.stack_.push_back({std::string(path), 0});
  return r;
}

bool Resolver::NextComponent(std::string* name, bool* is_last, bool* slash) {
  while (!stack_.empty()) {
    Segment& top = stack_.back();
    while (top.pos < top.text.size() && top.text[top.pos] == '/') ++top.pos;
    if (top.pos == top.text.size()) {
      stack_.pop_back();
      continue;
    }
    size_t end = top.text.find('/', top.pos);
    if (end == std::string::npos) end = top.text.size();
    *name = top.text.substr(top.pos, end - top.pos);
    top.pos = end;
    *slash = end < top.text.size();
    size_t rest = top.text.find_first_not_of('/', end);
    *is_last = rest == std::string::npos && stack_.size() == 1;
    if (rest == std::string::npos) top.pos = top.text.size();
    return true;
  }
  return false;
}

Result<void> Resolver::CheckSearch(const Location& dir) {
  Inode& inode = dir.dentry->inode();
  MutexLock lock(inode.fs().mutex());
  return CheckPermission(ctx_.creds, inode.GetAttrLocked(), kMayExec);
}

Result<void> Resolver::JumpToRoot() {
  // nd_jump_root: an absolute path or symlink escapes RESOLVE_BENEATH.
  if (resolve_ & RESOLVE_BENEATH) return Errno(EXDEV);
  current_ = root_;
  return Ok();
}

Result<void> Resolver::StepDotDot() {
  for (;;) {
    if (current_ == root_) {
      // follow_dotdot at the root: stay, but RESOLVE_BENEATH forbids it.
      if (resolve_ & RESOLVE_BENEATH) return Errno(EXDEV);
      return Ok();
    }
    if (current_.dentry.get() == current_.mount->root().get()) {
      std::optional<Location> up = vfs_.mounts().MountPointOf(*current_.mount);
      if (!up) return Ok();  // the namespace root's `..` is itself
      if (resolve_ & RESOLVE_NO_XDEV) return Errno(EXDEV);
      current_ = std::move(*up);
      continue;
    }
    Dentry* up;
    {
      MutexLock lock(current_.dentry->fs().mutex());
      up = current_.dentry->parent();
      current_ = Location{current_.mount, Ref<Dentry>(*up)};
    }
    break;
  }
  Result<Location> crossed = CrossMounts(current_);
  if (!crossed) return crossed.error();
  current_ = std::move(*crossed);
  return Ok();
}

Result<Location> Resolver::CrossMounts(Location loc) {
  while (loc.dentry->mount_count() > 0) {
    ReaderMutexLock lock(vfs_.mounts().mutex());
    Mount* child = vfs_.mounts().FindChildLocked(*loc.mount, *loc.dentry);
    if (!child) break;
    if (resolve_ & RESOLVE_NO_XDEV) return Errno(EXDEV);
    loc = Location{Ref<Mount>(*child), child->root()};
  }
  return loc;
}

std::vector<std::string> Resolver::NamesAhead() const {
  std::vector<std::string> names;
  if (stack_.empty()) return names;
  const Segment& top = stack_.back();
  for (size_t pos = top.pos;;) {
    pos = top.text.find_first_not_of('/', pos);
    if (pos == std::string::npos) break;
    size_t end = top.text.find('/', pos);
    if (end == std::string::npos) end = top.text.size();
    std::string_view name(top.text.data() + pos, end - pos);
    if (name == "." || name == ".." || name.size() > NAME_MAX) break;
    names.emplace_back(name);
    pos = end;
  }
  return names;
}

Result<Location> Resolver::Lookup(const Location& dir, std::string_view name,
                                  Lookahead lookahead) {
  Dentry& parent = *dir.dentry;
  RefPtr<Dentry> child;
  {
    MutexLock lock(parent.fs().mutex());
    // A removed directory has no entries (IS_DEADDIR).
    if (parent.dead()) return Errno(ENOENT);
    Dentry* cached = parent.FindChildLocked(name);
    if (cached && parent.fs().NamesNeedRevalidation()) {
      // lookup_fast: d_revalidate before a cached name is used.
      std::vector<std::string> ahead;
      if (lookahead == Lookahead::kPath) ahead = NamesAhead();
      NameVerdict verdict = VEIL_TRY(
          RevalidateChildLocked(parent, name, *cached, ahead, &revalidated_));
      // The name is gone from the backing store: what a fresh lookup
      // (the filesystem's ->lookup) answers.
      if (verdict == NameVerdict::kGone) return Errno(ENOENT);
      if (verdict == NameVerdict::kStale) cached = nullptr;
    }
    if (cached) {
      child = RefPtr<Dentry>(cached);
    } else {
      // Filesystems' ->lookup: a name over NAME_MAX is ENAMETOOLONG.
      if (name.size() > NAME_MAX) return Errno(ENAMETOOLONG);
      Ref<Inode> inode = VEIL_TRY(parent.inode().LookupLocked(name));
      child = parent.AddChildLocked(name, std::move(inode));
    }
  }
  return CrossMounts(Location{dir.mount, child.ToRef()});
}

Result<void> Resolver::PushSymlink(Inode& link, const Location& link_parent) {
  if (resolve_ & RESOLVE_NO_SYMLINKS) return Errno(ELOOP);
  if (++links_followed_ > kMaxSymlinks) return Errno(ELOOP);
  std::string target;
  std::optional<Location> jump;
  {
    MutexLock lock(link.fs().mutex());
    jump = VEIL_TRY(link.JumpLocked());
    if (!jump) target = VEIL_TRY(link.ReadlinkLocked());
    link.TouchAtimeLocked();
  }
  if (jump) {
    // nd_jump_link: refused to RESOLVE_NO_MAGICLINKS (ELOOP) and to
    // scoped lookups (EXDEV); otherwise the walk goes on from there.
    if (resolve_ & RESOLVE_NO_MAGICLINKS) return Errno(ELOOP);
    if (resolve_ & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) return Errno(EXDEV);
    if ((resolve_ & RESOLVE_NO_XDEV) && jump->mount.get() != current_.mount.get())
      return Errno(EXDEV);
    current_ = std::move(*jump);
    while (!stack_.empty()) {
      const Segment& top = stack_.back();
      if (top.text.find_first_not_of('/', top.pos) != std::string::npos) break;
      stack_.pop_back();
    }
    return Ok();
  }
  if (target.empty()) return Errno(ENOENT);
  if (target[0] == '/') {
    VEIL_TRY_VOID(JumpToRoot());
  } else {
    current_ = link_parent;
  }
  // Drop segments with nothing left so that "last" stays computable.
  while (!stack_.empty()) {
    const Segment& top = stack_.back();
    if (top.text.find_first_not_of('/', top.pos) != std::string::npos) break;
    stack_.pop_back();
  }
  stack_.push_back({std::move(target), 0});
  return Ok();
}

Result<Last> Resolver::WalkToLast() {
  std::string name;
  bool is_last = false, slash = false;
  for (;;) {
    if (!NextComponent(&name, &is_last, &slash)) {
      // Nothing but slashes (or a link body of "/"): the location itself.
      return Last{current_, "", LastType::kRoot, must_be_dir_};
    }
    // may_lookup: search permission on every directory walked through.
    VEIL_TRY_VOID(CheckSearch(current_));
    if (is_last) {
      Last last{current_, "", LastType::kNormal, must_be_dir_ || slash};
      if (name == ".") {
        last.type = LastType::kDot;
      } else if (name == "..") {
        last.type = LastType::kDotDot;
      } else {
        last.name = std::move(name);
      }
      return last;
    }
    if (name == ".") continue;
    if (name == "..") {
      VEIL_TRY_VOID(StepDotDot());
    } else {
      Location child = VEIL_TRY(Lookup(current_, name, Lookahead::kPath));
      if (child.dentry->inode().IsSymlink()) {
        VEIL_TRY_VOID(PushSymlink(child.dentry->inode(), current_));
        continue;
      }
      current_ = std::move(child);
    }
    // link_path_walk: only a directory can be walked through.
    if (!current_.dentry->inode().IsDir()) return Errno(ENOTDIR);
  }
}

Result<Last> Resolver::FollowLast(const Last& last, Inode& link) {
  must_be_dir_ = must_be_dir_ || last.must_be_dir;
  VEIL_TRY_VOID(PushSymlink(link, last.parent));
  return WalkToLast();
}

Result<Location> Resolver::StepLast(const Last& last) {
  switch (last.type) {
    case LastType::kRoot:
    case LastType::kDot:
      return last.parent;
    case LastType::kDotDot:
      current_ = last.parent;
      VEIL_TRY_VOID(StepDotDot());
      return current_;
    case LastType::kNormal:
      return LookupChild(last.parent, last.name);
  }
  return Errno(EINVAL);
}

Result<Location> Resolver::ResolveFull(bool follow) {
  if (empty_) return start_;
  Last last = VEIL_TRY(WalkToLast());
  for (;;) {
    Location loc = VEIL_TRY(StepLast(last));
    if (last.type == LastType::kNormal && loc.dentry->inode().IsSymlink() &&
        (follow || last.must_be_dir)) {
      last = VEIL_TRY(FollowLast(last, loc.dentry->inode()));
      continue;
    }
    // A trailing slash requires a directory (LOOKUP_DIRECTORY).
    if (last.must_be_dir && !loc.dentry->inode().IsDir())
      return Errno(ENOTDIR);
    return loc;
  }
}

}  // namespace veil::vfs::internal
