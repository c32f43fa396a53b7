// SPDX-License-Identifier: Apache-2.0
#include "vfs/inode.h"

#include "vfs/mount.h"

#include <linux/limits.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "vfs/dentry.h"
#include "vfs/file_description.h"
#include "vfs/file_lock.h"

namespace veil::vfs {

Filesystem::Filesystem() : dev_(AllocateAnonDev()) {}
Filesystem::~Filesystem() = default;

Result<std::vector<NameVerdict>> Filesystem::RevalidateLocked(
    Inode&, std::span<const std::string> names, std::span<Inode* const>) {
  // A filesystem whose names change only through the VFS: all still true.
  return std::vector<NameVerdict>(names.size(), NameVerdict::kValid);
}

uint64_t Filesystem::AllocateAnonDev() {
  // Linux hands out anonymous devices as major 0, minor 1, 2, ...; veil
  // starts high so its numbers never look like a real disk's.
  static std::atomic<uint64_t> next_minor{0x100};
  return makedev(0, next_minor.fetch_add(1));
}

void Filesystem::SetDentryCacheBudget(size_t names) {
  MutexLock lock(mutex_);
  dentries_.set_budget(std::max<size_t>(names, 1));
  // Whole passes, as many as make progress: a dentry dropped in one pass
  // may leave its parent unused for the next.
  for (size_t before = dentries_.size() + 1;
       dentries_.size() > dentries_.budget() && dentries_.size() < before;) {
    before = dentries_.size();
    std::vector<Ref<Dentry>> evicted;
    dentries_.EvictLocked(&evicted, before);
  }
}

size_t Filesystem::CachedDentries() {
  MutexLock lock(mutex_);
  return dentries_.size();
}

Inode::Inode(Filesystem& fs, uint64_t ino, uint32_t type)
    : fs_(fs), ino_(ino), type_(type) {}
Inode::~Inode() { delete locks_.load(std::memory_order_acquire); }

FileLocks& Inode::locks() {
  FileLocks* locks = locks_.load(std::memory_order_acquire);
  if (locks) return *locks;
  // Two first users may race: one table wins, the other is thrown away.
  auto fresh = std::make_unique<FileLocks>();
  if (locks_.compare_exchange_strong(locks, fresh.get(),
                                     std::memory_order_acq_rel))
    return *fresh.release();
  return *locks;
}

// Linux: a node with no file_operations to open (a socket) gives ENXIO.
Result<std::unique_ptr<FileImpl>> Inode::OpenLocked(int) {
  return Errno(ENXIO);
}
// Linux: lookup and friends on a non-directory fail with ENOTDIR.
Result<Ref<Inode>> Inode::LookupLocked(std::string_view) {
  return Errno(ENOTDIR);
}
Result<Ref<Inode>> Inode::CreateLocked(std::string_view, const CreateSpec&) {
  return Errno(ENOTDIR);
}
Result<void> Inode::LinkLocked(std::string_view, Inode&) {
  return Errno(ENOTDIR);
}
Result<void> Inode::UnlinkLocked(std::string_view, Inode&) {
  return Errno(ENOTDIR);
}
Result<void> Inode::RenameLocked(std::string_view, Inode&, Inode&,
                                 std::string_view, Inode*, unsigned) {
  return Errno(ENOTDIR);
}
Result<void> Inode::ReadDirLocked(uint64_t, const DirEmitter&) {
  return Errno(ENOTDIR);
}
Result<std::optional<Location>> Inode::JumpLocked() {
  return std::optional<Location>();
}
// Linux: readlink on something that is not a symlink is EINVAL.
Result<std::string> Inode::ReadlinkLocked() { return Errno(EINVAL); }
// Linux: a filesystem without xattr handlers answers EOPNOTSUPP.
Result<std::string> Inode::GetXattrLocked(std::string_view) {
  return Errno(EOPNOTSUPP);
}
Result<void> Inode::SetXattrLocked(std::string_view, std::string_view, int) {
  return Errno(EOPNOTSUPP);
}
Result<std::vector<std::string>> Inode::ListXattrLocked() {
  return std::vector<std::string>{};
}
Result<void> Inode::RemoveXattrLocked(std::string_view) {
  return Errno(EOPNOTSUPP);
}

Result<void> CheckName(std::string_view name) {
  if (name.size() > NAME_MAX) return Errno(ENAMETOOLONG);
  if (name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string_view::npos)
    return Errno(EINVAL);
  return Ok();
}

}  // namespace veil::vfs
