// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs: an in-memory filesystem with Linux tmpfs (mm/shmem.c) semantics.
//
// File data lives in host memory files: each regular file that has ever
// held data owns a memfd, so holes cost nothing, SEEK_DATA/SEEK_HOLE and
// hole punching are the host's, and the sentry can map the bytes into a
// task or install the fd as the task's data plane (GetHostMemory()).
// Directories keep their entries in creation order with stable cookies,
// so getdents64 survives concurrent creates and unlinks.
//
// Locking: all inode state is guarded by the filesystem mutex
// (Filesystem::mutex()); file data by the host kernel.
#pragma once

#include <cstdint>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/filesystem.h"
#include "vfs/inode.h"

namespace veil::vfs::tmpfs {

struct TmpfsOptions {
  uint32_t root_mode = 01777;  // like a fresh `mount -t tmpfs` (mode=1777)
  uint32_t root_uid = 0;
  uint32_t root_gid = 0;
};

class TmpfsInode;

class Tmpfs final : public Filesystem {
 public:
  static Ref<Tmpfs> Create(const TmpfsOptions& options = {});

  const char* TypeName() const override { return "tmpfs"; }
  Ref<Inode> Root() override;
  Result<struct statfs> StatFsLocked() override;

  uint64_t NextIno() { return next_ino_++; }  // caller holds mutex()

 private:
  friend class RefCounted<Filesystem>;
  Tmpfs() = default;
  ~Tmpfs() override;

  RefPtr<TmpfsInode> root_;
  uint64_t next_ino_ = 1;
};

}  // namespace veil::vfs::tmpfs
