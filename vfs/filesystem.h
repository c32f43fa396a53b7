// SPDX-License-Identifier: Apache-2.0
//
// Filesystem: one instance of a file system type (a tmpfs, a gofer-backed
// tree, an overlay). Linux analogue: struct super_block.
//
// Locking: every Filesystem owns one mutex, `mutex()`, that serialises all
// namespace and metadata operations on its inodes and on the dentries of its
// tree. The VFS takes it around each operation (check and act under one
// lock, so a permission check cannot be raced by a concurrent chmod); inode
// hooks suffixed `Locked` run with it held. File data I/O (FileImpl
// read/write/lseek/fallocate of a regular file) never holds it across the
// data: a filesystem guards a file's data with a lock of that file (tmpfs:
// the inode's data lock, taken after this mutex, never before it), so I/O
// on different files never meets here (vfs/README.md). Lock order: a
// Filesystem mutex is never held while taking another Filesystem's mutex
// (cross-filesystem operations fail with EXDEV before locking), and the
// VFS mount-table lock is taken before any Filesystem mutex.
//
// Names: the VFS caches every name it looks up (Dentry) and trusts it,
// unless the filesystem says its backing store changes behind the VFS's
// back (NamesNeedRevalidation): then the resolver asks RevalidateLocked
// about a cached name before it uses it, as Linux's d_revalidate.
//
// Names: every filesystem caches the names the VFS resolved in its
// DentryCache (vfs/dentry_cache.h), bounded by a budget of names
// (DentryCache::kDefaultBudget unless SetDentryCacheBudget says
// otherwise); unused names past it are evicted, least recently used first.
//
// Ownership: refcounted. Mounts and root dentries hold a reference (other
// dentries hold their parent, and so their root); inodes do not (see
// vfs/inode.h: the root inode would make a cycle).
#pragma once

#include <sys/statfs.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/ref.h"
#include "base/result.h"
#include "vfs/dentry_cache.h"

namespace veil::vfs {

class Inode;

// What a filesystem found when asked about a cached name (d_revalidate).
enum class NameVerdict : uint8_t {
  kValid,  // it still names the cached inode (whose attributes are fresh)
  kGone,   // it names nothing now: the lookup answers ENOENT
  kStale,  // it names another file now: drop the dentry and look it up
};

class Filesystem : public RefCounted<Filesystem> {
 public:
  virtual ~Filesystem();

  Mutex& mutex() VEIL_RETURN_CAPABILITY(mutex_) { return mutex_; }
  // The st_dev every inode of this filesystem reports.
  uint64_t dev() const { return dev_; }
  // A short type name ("tmpfs"), for /proc/mounts and messages.
  virtual const char* TypeName() const = 0;

  // The root directory inode.
  virtual Ref<Inode> Root() = 0;

  // statfs(2). Caller holds mutex().
  virtual Result<struct statfs> StatFsLocked() = 0;

  // Whether setxattr/removexattr hooks get names of any namespace and
  // answer EOPNOTSUPP/EINVAL themselves (after their side effects), rather
  // than the VFS rejecting unknown namespaces first. overlayfs does: its
  // catch-all handler copies the file up, then the upper layer rejects.
  virtual bool ResolvesXattrNamespaces() const { return false; }

  // Whether cached names must be checked against the backing store before
  // the VFS uses them (a gofer tree the host changes too). False for
  // tmpfs and overlay, whose names change only through the VFS. Fixed for
  // the filesystem's life.
  virtual bool NamesNeedRevalidation() const { return false; }

  // d_revalidate, batched: `names[i]` is cached under `cached[i]`'s
  // parent, which is `dir` for i = 0 and `cached[i - 1]` after (a chain of
  // cached dentries down a path the resolver is about to walk). Checks
  // them in order against the backing store, in one round trip where it
  // can, and answers a verdict for each checked, stopping after the first
  // that is not kValid (at least one verdict unless it fails). A kValid
  // inode's cached attributes are refreshed from the same answer. Errors:
  // whatever the backing store's lookup answers (the lookup fails with
  // it). Caller holds mutex(); called only when NamesNeedRevalidation().
  virtual Result<std::vector<NameVerdict>> RevalidateLocked(
      Inode& dir, std::span<const std::string> names,
      std::span<Inode* const> cached) VEIL_REQUIRES(mutex());

  // Allocates a fresh anonymous device number, as Linux's get_anon_bdev.
  static uint64_t AllocateAnonDev();

  // The cached names of this filesystem. Caller holds mutex().
  DentryCache& dentries() { return dentries_; }
  // The most names kept cached (in use or not; at least 1). Names past it
  // that nothing uses are evicted now and from then on. Takes mutex().
  void SetDentryCacheBudget(size_t names);
  // How many names are cached now. Takes mutex().
  size_t CachedDentries();

 protected:
  Filesystem();

 private:
  Mutex mutex_;
  const uint64_t dev_;
  DentryCache dentries_;  // Guarded by mutex_.
};

}  // namespace veil::vfs
