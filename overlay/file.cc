// SPDX-License-Identifier: Apache-2.0
//
// Open files: regular files over the layer file that holds the data
// (fs/overlayfs/file.c ovl_open, ovl_real_fdget), and the open(2) hook.
#include <fcntl.h>

#include <atomic>
#include <memory>

#include "overlay/internal/inode.h"

namespace veil::overlay::internal {
namespace {

// The flags a layer file is opened with: the access mode and the flags
// that shape I/O; creation and truncation were the overlay's business.
int RealFlags(int flags) {
  return flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
}

class RegularFile final : public vfs::FileImpl {
 public:
  RegularFile(Ref<OverlayInode> inode, int flags)
      : inode_(std::move(inode)), flags_(flags) {}

  // Opens the layer file that now holds the data. Caller holds the
  // overlay mutex.
  Result<void> OpenRealLocked() {
    if (vfs::Inode* upper = inode_->upper()) {
      MutexLock lock(upper->fs().mutex());
      std::shared_ptr<vfs::FileImpl> up(
          VEIL_TRY(upper->OpenLocked(RealFlags(flags_))));
      // The lower file stays open with us: host memory it gave (a
      // mapping, a task's fd) is the description's until it closes
      // (file_description.h), as a mapping taken before a copy-up keeps
      // the lower bytes in Linux.
      retired_ = real_.exchange(std::move(up));
      real_is_upper_.store(true, std::memory_order_release);
      return Ok();
    }
    vfs::Inode& lower = *inode_->lowers()[0].inode;
    MutexLock lock(lower.fs().mutex());
    // Lower layers are read-only and noatime.
    real_.store(std::shared_ptr<vfs::FileImpl>(VEIL_TRY(
        lower.OpenLocked(O_RDONLY | O_NOATIME | (flags_ & O_NONBLOCK)))));
    return Ok();
  }

  // ovl_read_iter and ovl_write_iter: nothing to move, nothing happens
  // (not even an atime update).
  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    if (buf.empty()) return size_t{0};
    std::shared_ptr<vfs::FileImpl> f = VEIL_TRY(Current());
    return f->PRead(buf, offset);
  }
  Result<size_t> PWrite(const vfs::Credentials& creds,
                        std::span<const uint8_t> buf, int64_t* offset,
                        vfs::WriteAt at) override {
    if (buf.empty()) return size_t{0};
    std::shared_ptr<vfs::FileImpl> f = VEIL_TRY(Current());
    return f->PWrite(creds, buf, offset, at);
  }
  Result<int64_t> Seek(int64_t offset, int whence, int64_t current) override {
    std::shared_ptr<vfs::FileImpl> f = VEIL_TRY(Current());
    return f->Seek(offset, whence, current);
  }
  Result<void> Truncate(uint64_t length) override {
    std::shared_ptr<vfs::FileImpl> f = VEIL_TRY(Current());
    return f->Truncate(length);
  }
  // ovl_fallocate drops setuid/setgid before the layer is asked, so even
  // a mode the layer refuses (EOPNOTSUPP) removes them.
  Result<void> Allocate(const vfs::Credentials& creds, int mode, int64_t offset,
                        int64_t length) override {
    {
      MutexLock lock(inode_->fs().mutex());
      VEIL_TRY_VOID(inode_->RemovePrivsLocked(creds));
    }
    std::shared_ptr<vfs::FileImpl> f = VEIL_TRY(Current());
    return f->Allocate(creds, mode, offset, length);
  }
  Result<void> Sync() override {
    std::shared_ptr<vfs::FileImpl> f = VEIL_TRY(Current());
    return f->Sync();
  }
  // The layer's memory: the upper copy's, or the lower file's until a
  // copy-up (a mapping taken before it keeps the lower bytes, as in Linux).
  Result<vfs::HostMemory> GetHostMemory() override {
    std::shared_ptr<vfs::FileImpl> f = VEIL_TRY(Current());
    return f->GetHostMemory();
  }
  void NoteMapped() override {
    if (Result<std::shared_ptr<vfs::FileImpl>> f = Current(); f) {
      (*f)->NoteMapped();
    }
  }

 private:
  // The layer file to use now. A description opened before a copy-up
  // moves to the upper copy (ovl_real_fdget: "realfile was copied up").
  // Only that move takes the overlay mutex: once the layer file is the
  // upper one it never changes, and until the inode has an upper
  // (HasUpper, an atomic) the lower one stays right. So I/O on different
  // files never meets on an overlay lock, and the I/O itself runs under
  // the layer's own locking (tmpfs: the file's data lock). The shared
  // pointer keeps a replaced layer file alive until its I/O is done.
  Result<std::shared_ptr<vfs::FileImpl>> Current() {
    if (real_is_upper_.load(std::memory_order_acquire) || !inode_->HasUpper())
      return real_.load();
    MutexLock lock(inode_->fs().mutex());
    if (!real_is_upper_.load(std::memory_order_relaxed))
      VEIL_TRY_VOID(OpenRealLocked());
    return real_.load();
  }

  const Ref<OverlayInode> inode_;
  const int flags_;
  // Changed only under the overlay mutex (OpenRealLocked), read without
  // it (Current): the lower layer's file until real_is_upper_, then the
  // upper's for good.
  std::atomic<std::shared_ptr<vfs::FileImpl>> real_;
  std::atomic<bool> real_is_upper_{false};
  // The lower file real_ held before the copy-up (overlay mutex).
  std::shared_ptr<vfs::FileImpl> retired_;
};

}  // namespace

Result<void> OverlayInode::RemovePrivsLocked(const vfs::Credentials& creds) {
  if (!upper_ || !IsRegular() || creds.HasCap(vfs::Capability::kFsetid))
    return Ok();
  MutexLock lock(upper_->fs().mutex());
  vfs::Attr attr = upper_->GetAttrLocked();
  const uint32_t kill =
      vfs::SetIdBitsClearedByWrite(creds, attr.mode, attr.gid);
  if (!kill) return Ok();
  // Cleared from the upper's mode as it is when applied: a write through
  // another description clears bits under the upper file's own lock.
  vfs::SetAttr change;
  change.mask = vfs::kKillModeBits | vfs::kSetCtimeNow;
  change.kill = kill;
  return upper_->SetAttrLocked(change);
}

Result<std::unique_ptr<vfs::FileImpl>> OverlayInode::OpenLocked(int flags) {
  Ref<OverlayInode> self(*this);
  switch (type()) {
    case S_IFREG: {
      // ovl_open_need_copy_up: opening for write, or with O_TRUNC, copies
      // the file up first; with O_TRUNC the data is not copied at all.
      int acc = flags & O_ACCMODE;
      if (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC)) {
        VEIL_TRY_VOID(
            CopyUpLocked((flags & O_TRUNC) ? CopyData::kNo : CopyData::kYes));
      }
      auto file = std::make_unique<RegularFile>(self, flags);
      VEIL_TRY_VOID(file->OpenRealLocked());
      return std::unique_ptr<vfs::FileImpl>(std::move(file));
    }
    case S_IFDIR:
      return NewDirFile(self);
    case S_IFIFO:
      // The overlay inode's own pipe (init_special_inode): reads mark
      // atime through TouchAtimeLocked, which reaches only an upper copy;
      // writes stamp nothing visible (ovl_update_time passes only atime on).
      if (!fifo_) fifo_ = std::make_unique<vfs::FifoPipe>();
      return vfs::OpenFifoLocked(*this, *fifo_, flags);
    default:
      // Device nodes without a driver, and sockets: ENXIO.
      return Errno(ENXIO);
  }
}

}  // namespace veil::overlay::internal
