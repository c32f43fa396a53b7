// SPDX-License-Identifier: Apache-2.0
//
// The mount namespace: construction, the mount table, mount and unmount,
// and the helpers every operation file uses.
#include "vfs/vfs.h"

#include <linux/limits.h>

#include <vector>

#include "vfs/internal/util.h"

namespace veil::vfs {

timespec Now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

// --- MountTable -----------------------------------------------------------

Mount* MountTable::FindChildLocked(const Mount& mount,
                                   const Dentry& dentry) const {
  auto it = children_.find({&mount, &dentry});
  return it == children_.end() ? nullptr : it->second.get();
}

std::optional<Location> MountTable::MountPointOf(const Mount& mount) const {
  ReaderMutexLock lock(mutex_);
  if (!mount.parent_) return std::nullopt;
  return Location{Ref<Mount>(*mount.parent_), Ref<Dentry>(*mount.mountpoint_)};
}

bool MountTable::AttachedLocked(const Mount& mount) const {
  return mount.parent_ != nullptr;
}

void MountTable::AttachLocked(Ref<Mount> child, Ref<Mount> parent,
                              Ref<Dentry> mountpoint) {
  mountpoint->AddMount();
  child->parent_ = RefPtr<Mount>(parent);
  child->mountpoint_ = RefPtr<Dentry>(mountpoint);
  // NOTE: mounting on a mount point stacks; the newest mount is seen, as in
  // Linux. The older one stays reachable through the stack on unmount.
  auto key = std::make_pair(parent.get(), mountpoint.get());
  auto it = children_.find(key);
  if (it != children_.end()) {
    // Re-parent the older mount under the new one's root.
    Ref<Mount> older = it->second;
    children_.erase(it);
    older->parent_ = RefPtr<Mount>(child);
    older->mountpoint_ = RefPtr<Dentry>(child->root());
    child->root()->AddMount();
    mountpoint->RemoveMount();
    children_.emplace(std::make_pair(child.get(), child->root().get()), older);
  }
  children_.emplace(key, std::move(child));
}

Result<void> MountTable::DetachLocked(Mount& child) {
  auto key = std::make_pair(static_cast<const Mount*>(child.parent_.get()),
                            static_cast<const Dentry*>(child.mountpoint_.get()));
  auto it = children_.find(key);
  if (it == children_.end() || it->second.get() != &child)
    return Errno(EINVAL);
  Ref<Mount> keep = it->second;
  children_.erase(it);
  child.mountpoint_->RemoveMount();
  child.parent_ = nullptr;
  child.mountpoint_ = nullptr;
  return Ok();
}

std::vector<Ref<Mount>> MountTable::All() const {
  ReaderMutexLock lock(mutex_);
  std::vector<Ref<Mount>> all;
  for (const auto& [key, mount] : children_) all.push_back(mount);
  return all;
}

bool MountTable::HasChildrenLocked(const Mount& mount) const {
  auto it = children_.lower_bound({&mount, nullptr});
  return it != children_.end() && it->first.first == &mount;
}

// --- Vfs ------------------------------------------------------------------

Vfs::Vfs(Ref<Filesystem> root_fs, VfsOptions options)
    : options_(options),
      root_mount_(MakeRef<Mount>(root_fs, Dentry::CreateRoot(root_fs->Root()),
                                 0)) {}

Vfs::~Vfs() {
  // Break the dentry trees' parent/child cycles of every mount. Pruning
  // only drops cached names; anyone still holding a dentry keeps its chain.
  std::vector<Ref<Mount>> all = mounts_.All();
  {
    // Detach first: PruneTree keeps mount points cached.
    WriterMutexLock lock(mounts_.mutex());
    for (const Ref<Mount>& mount : all) (void)mounts_.DetachLocked(*mount);
  }
  all.push_back(root_mount_);
  for (const Ref<Mount>& mount : all) mount->root()->PruneTree();
}

void Vfs::RegisterCharDevice(uint64_t rdev,
                             std::shared_ptr<CharDevice> driver) {
  MutexLock lock(devices_mu_);
  devices_[rdev] = std::move(driver);
}

std::shared_ptr<CharDevice> Vfs::FindCharDevice(uint64_t rdev) {
  MutexLock lock(devices_mu_);
  auto it = devices_.find(rdev);
  return it == devices_.end() ? nullptr : it->second;
}

Location Vfs::RootLocation() const {
  return Location{root_mount_, root_mount_->root()};
}

Context Vfs::RootContext() const {
  return Context{Credentials::Root(), RootLocation(), RootLocation(), 022};
}

std::string Vfs::PathOf(const Context& ctx, const Location& loc,
                        const Filesystem* held)
    VEIL_NO_THREAD_SAFETY_ANALYSIS {  // `held`'s lock is the caller's
  std::vector<std::string> parts;
  Location cur = loc;
  bool reachable = true;
  for (;;) {
    if (cur == ctx.root) break;
    if (cur.dentry.get() == cur.mount->root().get()) {
      std::optional<Location> up = mounts_.MountPointOf(*cur.mount);
      if (!up) {
        reachable = false;  // outside the caller's root
        break;
      }
      cur = std::move(*up);
      continue;
    }
    Filesystem& fs = cur.dentry->fs();
    if (&fs != held) fs.mutex().Lock();
    parts.emplace_back(cur.dentry->name());
    Location next{cur.mount, Ref<Dentry>(*cur.dentry->parent())};
    if (&fs != held) fs.mutex().Unlock();
    cur = std::move(next);
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    path.push_back('/');
    path.append(*it);
  }
  if (path.empty()) path = "/";
  if (!reachable) path.insert(0, "(unreachable)");
  return path;
}

Result<void> Vfs::MountAt(const Context& ctx, Ref<Filesystem> fs,
                          const Location& dir, std::string_view path,
                          uint32_t mount_flags) {
  Location target = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, 0));
  // mount(2) needs CAP_SYS_ADMIN and a directory to mount a directory on.
  if (!ctx.creds.HasCap(Capability::kSysAdmin)) return Errno(EPERM);
  if (!target.dentry->inode().IsDir()) return Errno(ENOTDIR);
  Ref<Dentry> root = Dentry::CreateRoot(fs->Root());
  auto mount = MakeRef<Mount>(std::move(fs), std::move(root), mount_flags);
  WriterMutexLock lock(mounts_.mutex());
  mounts_.AttachLocked(std::move(mount), target.mount, target.dentry);
  return Ok();
}

Result<void> Vfs::BindMountAt(const Context& ctx, const Location& src_dir,
                              std::string_view source, const Location& dst_dir,
                              std::string_view target, uint32_t mount_flags) {
  Location src = VEIL_TRY(internal::ResolveAt(*this, ctx, src_dir, source, 0));
  Location dst = VEIL_TRY(internal::ResolveAt(*this, ctx, dst_dir, target, 0));
  if (!ctx.creds.HasCap(Capability::kSysAdmin)) return Errno(EPERM);
  // A directory binds only on a directory, a file only on a non-directory.
  if (src.dentry->inode().IsDir() != dst.dentry->inode().IsDir())
    return Errno(src.dentry->inode().IsDir() ? ENOTDIR : EISDIR);
  auto mount = MakeRef<Mount>(Ref<Filesystem>(src.dentry->fs()), src.dentry,
                              mount_flags);
  WriterMutexLock lock(mounts_.mutex());
  mounts_.AttachLocked(std::move(mount), dst.mount, dst.dentry);
  return Ok();
}

Result<void> Vfs::UnmountAt(const Context& ctx, const Location& dir,
                            std::string_view path) {
  // The mount is held (so that a concurrent unmount cannot free it) but
  // not the dentry: a reference to the root dentry is not one to the mount.
  auto resolve = [&]() -> Result<Ref<Mount>> {
    Location target = VEIL_TRY(internal::ResolveAt(*this, ctx, dir, path, 0));
    if (!ctx.creds.HasCap(Capability::kSysAdmin)) return Errno(EPERM);
    // umount(2): EINVAL unless the path is the root of a mount.
    if (target.dentry.get() != target.mount->root().get() ||
        !mounts_.MountPointOf(*target.mount))
      return Errno(EINVAL);
    return target.mount;
  };
  Ref<Mount> detached = VEIL_TRY(resolve());
  WriterMutexLock lock(mounts_.mutex());
  // Busy: submounts, or references beyond the table's and `detached`.
  // Detached meanwhile by another unmount: EINVAL, as for any non-mount.
  if (!mounts_.AttachedLocked(*detached)) return Errno(EINVAL);
  if (mounts_.HasChildrenLocked(*detached) || detached->BusyBeyond(2))
    return Errno(EBUSY);
  VEIL_TRY_VOID(mounts_.DetachLocked(*detached));
  // Drop the unmounted tree's cached names (their parent/child cycles).
  detached->root()->PruneTree();
  return Ok();
}

Result<Location> Vfs::LookupChildUnchecked(const Location& dir,
                                           std::string_view name) {
  // link_path_walk: only a directory has children.
  if (!dir.dentry->inode().IsDir()) return Errno(ENOTDIR);
  RefPtr<Dentry> child;
  {
    MutexLock lock(dir.dentry->fs().mutex());
    // A removed directory has no entries (IS_DEADDIR).
    if (dir.dentry->dead()) return Errno(ENOENT);
    child = VEIL_TRY(internal::LookupLocked(*dir.dentry, name));
  }
  if (!child) return Errno(ENOENT);
  Location loc{dir.mount, child.ToRef()};
  // Mounts stacked on it, topmost last (as Resolver::CrossMounts).
  while (loc.dentry->mount_count() > 0) {
    ReaderMutexLock lock(mounts_.mutex());
    Mount* mounted = mounts_.FindChildLocked(*loc.mount, *loc.dentry);
    if (!mounted) break;
    loc = Location{Ref<Mount>(*mounted), mounted->root()};
  }
  return loc;
}

// --- internal helpers -----------------------------------------------------

namespace internal {

Result<RefPtr<Dentry>> LookupLocked(Dentry& parent, std::string_view name) {
  // A removed (or invalidated) directory has no entries: IS_DEADDIR in
  // lookup_open and __lookup_hash. Nothing is cached under it either.
  if (parent.dead()) return RefPtr<Dentry>();
  if (Dentry* cached = parent.FindChildLocked(name)) {
    // lookup_dcache's d_revalidate: checked afresh, under the lock the
    // caller's check-and-change holds.
    NameVerdict verdict = VEIL_TRY(
        RevalidateChildLocked(parent, name, *cached, {}, nullptr));
    if (verdict == NameVerdict::kValid) return RefPtr<Dentry>(cached);
    if (verdict == NameVerdict::kGone) return RefPtr<Dentry>();
  }
  if (name.size() > NAME_MAX) return Errno(ENAMETOOLONG);
  Result<Ref<Inode>> inode = parent.inode().LookupLocked(name);
  if (!inode) {
    if (inode.error().code() == ENOENT) return RefPtr<Dentry>();
    return inode.error();
  }
  return RefPtr<Dentry>(parent.AddChildLocked(name, std::move(*inode)));
}

Result<Location> ResolveAt(Vfs& vfs, const Context& ctx, const Location& dir,
                           std::string_view path, int at_flags,
                           uint64_t resolve) {
  Resolver r = VEIL_TRY(Resolver::Create(
      vfs, ctx, dir, path, resolve,
      (at_flags & AT_EMPTY_PATH) ? EmptyPath::kAllow : EmptyPath::kRefuse));
  return r.ResolveFull(!(at_flags & AT_SYMLINK_NOFOLLOW));
}

Result<void> MayCreateLocked(const Credentials& creds, Dentry& dir) {
  if (dir.dead()) return Errno(ENOENT);  // IS_DEADDIR
  return CheckPermission(creds, dir.inode().GetAttrLocked(),
                         kMayWrite | kMayExec);
}

Result<void> MayDeleteLocked(const Credentials& creds, Dentry& dir,
                             Dentry& victim, NameKind expected) {
  dir.SameFsLocked(victim);
  Attr dir_attr = dir.inode().GetAttrLocked();
  Attr victim_attr = victim.inode().GetAttrLocked();
  VEIL_TRY_VOID(CheckPermission(creds, dir_attr, kMayWrite | kMayExec));
  if (StickyForbids(creds, dir_attr, victim_attr)) return Errno(EPERM);
  if (expected == NameKind::kDirectory) {
    if (!victim_attr.IsDir()) return Errno(ENOTDIR);
    if (victim.is_root()) return Errno(EBUSY);
  } else if (victim_attr.IsDir()) {
    return Errno(EISDIR);
  }
  if (dir.dead()) return Errno(ENOENT);
  return Ok();
}

}  // namespace internal
}  // namespace veil::vfs
