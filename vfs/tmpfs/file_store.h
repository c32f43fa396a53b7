// SPDX-License-Identifier: Apache-2.0
//
// FileStore: one host file that holds the data of every regular file of a
// "self-backed" tmpfs (gVisor: --overlay2=root:self), so an upper layer
// can hold more data than the machine has memory: the host's page cache
// keeps what is hot and writes the rest to disk.
//
// The store is an unnamed file (O_TMPFILE) in a host directory the user
// chooses, so nothing is left behind when veil exits or dies. Its space is
// handed out in 4 KiB pages: a file's data is a list of runs of store
// pages (vfs/tmpfs/store_pages.h). Freed pages are punched out of the host
// file, so deleting data gives the disk space back, and every free page
// reads as zeros (a newly allocated page needs no clearing).
//
// Thread-safe: the allocator has its own lock, because an inode's data can
// be freed wherever its last reference drops. Reads and writes of
// allocated pages go straight to fd() without it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/mutex.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace veil::vfs::tmpfs {

class FileStore final {
 public:
  static constexpr uint64_t kPageSize = 4096;

  // A run of store pages.
  struct Extent {
    uint64_t first = 0;  // store page index
    uint64_t count = 0;
  };

  // Creates the store in the host directory `dir`. Errors: the errno of
  // open(2) on `dir` (ENOENT, ENOTDIR, EACCES) or of creating the file in
  // it (EROFS, ENOSPC, EDQUOT).
  static Result<std::unique_ptr<FileStore>> Create(const std::string& dir);

  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;
  ~FileStore();

  // The store file, for pread/pwrite of allocated pages at
  // page * kPageSize.
  int fd() const { return file_.get(); }

  // Allocates between 1 and `count` (> 0) contiguous pages, starting at
  // `hint` when that page is free (so a growing file stays in one run),
  // else at the lowest free page. The pages read as zeros. Never fails:
  // the host file grows on first write (ENOSPC is reported there).
  Extent Allocate(uint64_t count, uint64_t hint);

  // Returns pages to the store: punched out of the host file, so they
  // take no disk space and read as zeros.
  void Free(Extent pages);

  // Reserves disk blocks for allocated pages (fallocate(2) of the store),
  // so writing them later cannot fail with ENOSPC. A host filesystem that
  // cannot reserve (EOPNOTSUPP) is not an error.
  Result<void> Reserve(Extent pages);

  // A second unnamed host file beside the store, for a file whose data
  // must be an fd of its own (the sentry's data plane).
  Result<UniqueFd> CreateFile() const;

  // Pages handed out and not freed; the store's size in pages.
  uint64_t allocated_pages() const;
  uint64_t size_pages() const;

 private:
  FileStore(UniqueFd dir, UniqueFd file);
  static Result<UniqueFd> CreateUnnamed(int dir);
  void PunchLocked(Extent pages) VEIL_REQUIRES(mutex_);

  const UniqueFd dir_;
  const UniqueFd file_;
  mutable Mutex mutex_;
  // First page -> count; coalesced.
  std::map<uint64_t, uint64_t> free_ VEIL_GUARDED_BY(mutex_);
  uint64_t end_ VEIL_GUARDED_BY(mutex_) = 0;  // pages at or past it are free
  uint64_t allocated_ VEIL_GUARDED_BY(mutex_) = 0;
};

}  // namespace veil::vfs::tmpfs
