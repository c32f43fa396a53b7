// SPDX-License-Identifier: Apache-2.0
//
// Filesystem: one instance of a file system type (a tmpfs, a gofer-backed
// tree, an overlay). Linux analogue: struct super_block.
//
// Locking: every Filesystem owns one mutex, `mutex()`, that serialises all
// namespace and metadata operations on its inodes and on the dentries of its
// tree. The VFS takes it around each operation (check and act under one
// lock, so a permission check cannot be raced by a concurrent chmod); inode
// hooks suffixed `Locked` run with it held. File data I/O on memory-backed
// files does not need it. Lock order: a Filesystem mutex is never held while
// taking another Filesystem's mutex (cross-filesystem operations fail with
// EXDEV before locking), and the VFS mount-table lock is taken before any
// Filesystem mutex.
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
#include <mutex>
#include <string>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/dentry_cache.h"

namespace veil::vfs {

class Inode;

class Filesystem : public RefCounted<Filesystem> {
 public:
  virtual ~Filesystem();

  std::mutex& mutex() { return mutex_; }
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
  std::mutex mutex_;
  const uint64_t dev_;
  DentryCache dentries_;  // Guarded by mutex_.
};

}  // namespace veil::vfs
