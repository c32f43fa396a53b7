// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs: an in-memory filesystem with Linux tmpfs (mm/shmem.c) semantics.
//
// A regular file's data starts in process memory (a sparse PageStore that
// allocates pages as shmem does) and moves once, for good, to a host memory
// file (a memfd) when the sentry needs the bytes mappable
// (GetHostMemory()), on fallocate (the host's shmem then does it exactly),
// or when the file grows past TmpfsOptions::memfd_threshold. So a tree of
// many small files costs no host descriptors (RLIMIT_NOFILE stays out of
// reach), while big or mapped files keep the host's holes, SEEK_DATA/
// SEEK_HOLE and hole punching, and can be installed as a task's data plane.
// A self-backed tmpfs (TmpfsOptions::store) keeps every file's data in one
// host file on disk instead (FileStore), for data bigger than memory; a
// file the sentry maps moves to a host file of its own beside it.
// Directories keep their entries in creation order with stable cookies,
// so getdents64 survives concurrent creates and unlinks.
//
// Locking: the namespace (entries, link counts, xattrs) is guarded by the
// filesystem mutex (Filesystem::mutex()); a regular file's data by a lock
// of its own inode, so I/O on different files never meets and reads of
// one file run in parallel; mode, owner, times and the size stat reports
// by a small per-inode lock both paths take (vfs/tmpfs/inode.h).
#pragma once

#include <cstdint>
#include <memory>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/filesystem.h"
#include "vfs/inode.h"
#include "vfs/tmpfs/file_store.h"

namespace veil::vfs::tmpfs {

struct TmpfsOptions {
  uint32_t root_mode = 01777;  // like a fresh `mount -t tmpfs` (mode=1777)
  uint32_t root_uid = 0;
  uint32_t root_gid = 0;
  // A regular file's data moves from process memory to a memfd before its
  // allocated pages would exceed this many bytes. 0: every file that gets
  // data or a size gets a memfd at once (the behaviour before the page
  // store, kept for tests).
  uint64_t memfd_threshold = uint64_t{1} << 20;
  // Self-backed: file data lives in this store, not in process memory
  // (memfd_threshold then does not apply). Shared by the filesystem.
  std::shared_ptr<FileStore> store = nullptr;
};

class TmpfsInode;

class Tmpfs final : public Filesystem {
 public:
  static Ref<Tmpfs> Create(const TmpfsOptions& options = {});

  const char* TypeName() const override { return "tmpfs"; }
  Ref<Inode> Root() override;
  Result<struct statfs> StatFsLocked() override;

  uint64_t NextIno() { return next_ino_++; }  // caller holds mutex()
  uint64_t memfd_threshold() const { return memfd_threshold_; }
  FileStore* store() const { return store_.get(); }  // null: in memory

 private:
  friend class RefCounted<Filesystem>;
  explicit Tmpfs(const TmpfsOptions& options);
  ~Tmpfs() override;

  const uint64_t memfd_threshold_;
  // Declared before root_: inodes free their pages into it on the way out.
  const std::shared_ptr<FileStore> store_;
  RefPtr<TmpfsInode> root_;
  uint64_t next_ino_ = 1;
};

}  // namespace veil::vfs::tmpfs
