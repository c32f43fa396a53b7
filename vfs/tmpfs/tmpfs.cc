// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs: the filesystem object, inode attributes, symlinks and xattrs.
#include "vfs/tmpfs/tmpfs.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>


#include "vfs/tmpfs/inode.h"

namespace veil::vfs::tmpfs {

// --- Tmpfs ----------------------------------------------------------------

Ref<Tmpfs> Tmpfs::Create(const TmpfsOptions& options) {
  Ref<Tmpfs> fs = AdoptRef(*new Tmpfs(options));
  CreateSpec spec;
  spec.mode = S_IFDIR | (options.root_mode & 07777);
  spec.uid = options.root_uid;
  spec.gid = options.root_gid;
  MutexLock lock(fs->mutex());
  fs->root_ = RefPtr<TmpfsInode>(
      MakeRef<TmpfsInode>(*fs, fs->NextIno(), spec, Now()));
  return fs;
}

Tmpfs::Tmpfs(const TmpfsOptions& options)
    : memfd_threshold_(options.memfd_threshold), store_(options.store) {}

Tmpfs::~Tmpfs() = default;

Ref<Inode> Tmpfs::Root() { return root_.ToRef(); }

Result<struct statfs> Tmpfs::StatFsLocked() {
  struct statfs st {};
  st.f_type = TMPFS_MAGIC;
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_namelen = NAME_MAX;
  // NOTE: an unlimited tmpfs (size=0, nr_inodes=0) reports zero blocks and
  // inodes, as Linux does; veil's tmpfs has no size limit yet. A
  // self-backed one is limited by its store's disk: it reports that disk's
  // blocks (in its own 4 KiB units), so `df` and programs that check free
  // space before writing see what a write can really use.
  if (store_) {
    struct statfs host {};
    if (fstatfs(store_->fd(), &host) == 0 && host.f_bsize > 0) {
      auto pages = [&](uint64_t blocks) {
        return static_cast<fsblkcnt_t>(blocks *
                                       static_cast<uint64_t>(host.f_bsize) /
                                       st.f_bsize);
      };
      st.f_blocks = pages(host.f_blocks);
      st.f_bfree = pages(host.f_bfree);
      st.f_bavail = pages(host.f_bavail);
    }
  }
  uint64_t dev = this->dev();
  st.f_fsid.__val[0] = static_cast<int>(dev & 0xffffffff);
  st.f_fsid.__val[1] = static_cast<int>(dev >> 32);
  return st;
}

// --- TmpfsInode: attributes -----------------------------------------------

TmpfsInode::TmpfsInode(Tmpfs& fs, uint64_t ino, const CreateSpec& spec,
                       timespec now)
    : Inode(fs, ino, spec.mode & S_IFMT),
      mode_(spec.mode),
      uid_(spec.uid),
      gid_(spec.gid),
      atime_(now),
      mtime_(now),
      ctime_(now),
      nlink_(S_ISDIR(spec.mode) ? 2 : 1),
      rdev_(spec.rdev),
      btime_(now),
      target_(spec.symlink_target) {
  if (S_ISDIR(spec.mode)) parent_ = this;
  if (S_ISREG(spec.mode) && fs.store())
    stored_ = std::make_unique<StorePages>(*fs.store());
}

TmpfsInode::~TmpfsInode() = default;

uint64_t TmpfsInode::PublishedSize() {
  int host;
  uint64_t size;
  {
    MutexLock meta(meta_mu_);
    host = host_fd_;
    size = data_size_;
  }
  struct stat st;
  if (host >= 0 && fstat(host, &st) == 0)
    size = static_cast<uint64_t>(st.st_size);
  return size;
}

Attr TmpfsInode::GetAttrLocked() {
  Attr a;
  int host = -1;
  {
    MutexLock meta(meta_mu_);
    a.mode = mode_;
    a.uid = uid_;
    a.gid = gid_;
    a.atime = atime_;
    a.mtime = mtime_;
    a.ctime = ctime_;
    if (IsRegular()) {
      host = host_fd_;
      a.size = data_size_;
      a.blocks = data_blocks_;
    }
  }
  a.nlink = nlink_;
  a.ino = ino();
  a.dev = fs().dev();
  a.rdev = rdev_;
  a.btime = btime_;
  if (host >= 0) {
    // The host file is the data plane: tasks may have written it natively.
    struct stat st;
    if (fstat(host, &st) == 0) {
      a.size = static_cast<uint64_t>(st.st_size);
      a.blocks = static_cast<uint64_t>(st.st_blocks);
      // A native write or read stamps the host file's times; ours are
      // copied to it when set (SetAttrLocked), so the later of the two
      // is the file's.
      if (!(st.st_mtim <= a.mtime)) a.mtime = st.st_mtim;
      if (!(st.st_ctim <= a.ctime)) a.ctime = st.st_ctim;
      if (!(st.st_atim <= a.atime)) a.atime = st.st_atim;
    }
  } else if (IsDir()) {
    a.size = dir_size_;
  } else if (IsSymlink()) {
    a.size = target_.size();
    // A long symlink target takes a page of its own.
    if (target_.size() + 1 > kShortSymlinkLen) a.blocks = 8;
  }
  return a;
}

Result<void> TmpfsInode::SetAttrLocked(const SetAttr& attr) {
  timespec now = Now();
  if (attr.mask & kSetSize) {
    if (!IsRegular()) return Errno(EINVAL);
    VEIL_TRY_VOID(TruncateData(attr.size, now));
  }
  MutexLock meta(meta_mu_);
  if (attr.mask & kSetMode) mode_ = (mode_ & S_IFMT) | (attr.mode & 07777);
  if (attr.mask & kKillModeBits) mode_ &= ~(attr.kill & 07777);
  if (attr.mask & kSetUid) uid_ = attr.uid;
  if (attr.mask & kSetGid) gid_ = attr.gid;
  if (attr.mask & kSetAtime) atime_ = attr.atime;
  if (attr.mask & kSetAtimeNow) atime_ = now;
  if (attr.mask & kSetMtime) mtime_ = attr.mtime;
  if (attr.mask & kSetMtimeNow) mtime_ = now;
  if (attr.mask & kSetCtimeNow) ctime_ = now;
  AtimeChangedMetaLocked();
  constexpr uint32_t kTimes =
      kSetAtime | kSetAtimeNow | kSetMtime | kSetMtimeNow;
  if ((attr.mask & kTimes) && host_fd_ >= 0) {
    // The data plane's host file takes the same times, so a time set to
    // the past is not hidden by the host's (GetAttrLocked takes the
    // later). Its ctime moves to now, as ours.
    const timespec times[2] = {atime_, mtime_};
    (void)futimens(host_fd_, times);
  }
  return Ok();
}

void TmpfsInode::TouchAtimeLocked() { TouchAtime(); }

void TmpfsInode::TouchAtime() {
  timespec now = Now();
  // A first look without the lock, as Linux's atime_needs_update: most
  // reads move nothing, and parallel readers should not meet on meta_mu_.
  if (now.tv_sec < atime_due_sec_.load(std::memory_order_relaxed)) return;
  MutexLock meta(meta_mu_);
  // relatime: update when atime is not newer than mtime or ctime, or is a
  // day old.
  if (atime_ <= mtime_ || atime_ <= ctime_ ||
      now.tv_sec - atime_.tv_sec >= kDaySeconds) {
    atime_ = now;
    AtimeChangedMetaLocked();
  }
}

void TmpfsInode::AtimeChangedMetaLocked() {
  int64_t due = INT64_MIN;  // the next read moves atime
  if (!(atime_ <= mtime_) && !(atime_ <= ctime_) &&
      __builtin_add_overflow(atime_.tv_sec, kDaySeconds, &due))
    due = INT64_MAX;
  atime_due_sec_.store(due, std::memory_order_relaxed);
}

void TmpfsInode::StampCtime(timespec now) {
  MutexLock meta(meta_mu_);
  ctime_ = now;
  AtimeChangedMetaLocked();
}

void TmpfsInode::StampMtimeCtime(timespec now) {
  MutexLock meta(meta_mu_);
  mtime_ = now;
  ctime_ = now;
  AtimeChangedMetaLocked();
}

void TmpfsInode::StampModifiedLocked() { StampMtimeCtime(Now()); }

// --- Symlinks -------------------------------------------------------------

Result<std::string> TmpfsInode::ReadlinkLocked() {
  if (!IsSymlink()) return Errno(EINVAL);
  return target_;
}

// --- Extended attributes --------------------------------------------------

Result<std::string> TmpfsInode::GetXattrLocked(std::string_view name) {
  auto it = xattrs_.find(name);
  if (it == xattrs_.end()) return Errno(ENODATA);
  return it->second;
}

Result<void> TmpfsInode::SetXattrLocked(std::string_view name,
                                        std::string_view value, int flags) {
  auto it = xattrs_.find(name);
  if (it != xattrs_.end() && (flags & XATTR_CREATE)) return Errno(EEXIST);
  if (it == xattrs_.end() && (flags & XATTR_REPLACE)) return Errno(ENODATA);
  if (it == xattrs_.end()) {
    xattrs_.emplace(std::string(name), std::string(value));
  } else {
    it->second.assign(value);
  }
  StampCtime(Now());
  return Ok();
}

Result<std::vector<std::string>> TmpfsInode::ListXattrLocked() {
  std::vector<std::string> names;
  for (const auto& [name, value] : xattrs_) names.push_back(name);
  return names;
}

Result<void> TmpfsInode::RemoveXattrLocked(std::string_view name) {
  auto it = xattrs_.find(name);
  if (it == xattrs_.end()) return Errno(ENODATA);
  xattrs_.erase(it);
  StampCtime(Now());
  return Ok();
}

}  // namespace veil::vfs::tmpfs
