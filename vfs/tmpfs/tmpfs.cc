// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs: the filesystem object, inode attributes, symlinks and xattrs.
#include "vfs/tmpfs/tmpfs.h"

#include <linux/magic.h>
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
      nlink_(S_ISDIR(spec.mode) ? 2 : 1),
      rdev_(spec.rdev),
      atime_(now),
      mtime_(now),
      ctime_(now),
      btime_(now),
      target_(spec.symlink_target) {
  if (S_ISDIR(spec.mode)) parent_ = this;
  if (S_ISREG(spec.mode) && fs.store())
    stored_ = std::make_unique<StorePages>(*fs.store());
}

TmpfsInode::~TmpfsInode() = default;

uint64_t TmpfsInode::SizeLocked() {
  switch (type()) {
    case S_IFDIR:
      return dir_size_;
    case S_IFLNK:
      return target_.size();
    case S_IFREG: {
      if (host_file_) {
        struct stat st;
        if (fstat(host_file_.get(), &st) != 0) return 0;
        return static_cast<uint64_t>(st.st_size);
      }
      return stored_ ? stored_->size() : data_.size();
    }
    default:
      return 0;
  }
}

Attr TmpfsInode::GetAttrLocked() {
  Attr a;
  a.mode = mode_;
  a.nlink = nlink_;
  a.uid = uid_;
  a.gid = gid_;
  a.ino = ino();
  a.dev = fs().dev();
  a.rdev = rdev_;
  a.atime = atime_;
  a.mtime = mtime_;
  a.ctime = ctime_;
  a.btime = btime_;
  if (IsRegular() && host_file_) {
    struct stat st;
    if (fstat(host_file_.get(), &st) == 0) {
      a.size = static_cast<uint64_t>(st.st_size);
      a.blocks = static_cast<uint64_t>(st.st_blocks);
    }
  } else if (IsRegular() && stored_) {
    a.size = stored_->size();
    a.blocks = stored_->pages() * (StorePages::kPageSize / 512);  // as shmem
  } else if (IsRegular()) {
    a.size = data_.size();
    a.blocks = data_.pages() * (PageStore::kPageSize / 512);  // as shmem
  } else {
    a.size = SizeLocked();
    // A long symlink target takes a page of its own.
    if (IsSymlink() && target_.size() + 1 > kShortSymlinkLen) a.blocks = 8;
  }
  return a;
}

Result<void> TmpfsInode::SetAttrLocked(const SetAttr& attr) {
  timespec now = Now();
  if (attr.mask & kSetSize) {
    if (!IsRegular()) return Errno(EINVAL);
    uint64_t old_size = SizeLocked();
    bool has_pages = GetAttrLocked().blocks > 0;
    // Without a page store (threshold 0) a size change makes the memfd, as
    // it always did.
    if (!host_file_ && !stored_ && tmpfs().memfd_threshold() == 0 &&
        attr.size != old_size)
      VEIL_TRY(HostFileLocked(HostFile::kMemory));
    if (host_file_) {
      // shmem_setattr truncates past the new size even when the size stays
      // (dropping blocks fallocate(KEEP_SIZE) put beyond EOF): so does the
      // memfd's ftruncate.
      if (ftruncate(host_file_.get(), static_cast<off_t>(attr.size)) != 0)
        return Errno::FromErrno();
    } else if (stored_) {
      if (attr.size > uint64_t{INT64_MAX}) return Errno(EINVAL);
      VEIL_TRY_VOID(stored_->Truncate(attr.size));
    } else {
      // ftruncate's negative length. (The page store never has pages past
      // EOF: only fallocate puts them there, and it makes the memfd.)
      if (attr.size > uint64_t{INT64_MAX}) return Errno(EINVAL);
      data_.Truncate(attr.size);
    }
    // A size change stamps mtime and ctime; so does shmem_truncate_range,
    // which runs for any shrink-or-same of a file that has pages.
    if (attr.size != old_size || (attr.size <= old_size && has_pages)) {
      mtime_ = now;
      ctime_ = now;
    }
  }
  if (attr.mask & kSetMode) mode_ = (mode_ & S_IFMT) | (attr.mode & 07777);
  if (attr.mask & kSetUid) uid_ = attr.uid;
  if (attr.mask & kSetGid) gid_ = attr.gid;
  if (attr.mask & kSetAtime) atime_ = attr.atime;
  if (attr.mask & kSetAtimeNow) atime_ = now;
  if (attr.mask & kSetMtime) mtime_ = attr.mtime;
  if (attr.mask & kSetMtimeNow) mtime_ = now;
  if (attr.mask & kSetCtimeNow) ctime_ = now;
  return Ok();
}

void TmpfsInode::TouchAtimeLocked() {
  // relatime: update when atime is not newer than mtime or ctime, or is a
  // day old.
  timespec now = Now();
  if (atime_ <= mtime_ || atime_ <= ctime_ ||
      now.tv_sec - atime_.tv_sec >= 24 * 60 * 60)
    atime_ = now;
}

void TmpfsInode::StampModifiedLocked() {
  timespec now = Now();
  mtime_ = now;
  ctime_ = now;
}

void TmpfsInode::DataModifiedLocked(const Credentials& creds) {
  StampModifiedLocked();
  mode_ &= ~SetIdBitsClearedByWrite(creds, mode_, gid_);  // file_remove_privs
}

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
  ctime_ = Now();
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
  ctime_ = Now();
  return Ok();
}

}  // namespace veil::vfs::tmpfs
