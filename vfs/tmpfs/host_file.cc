// SPDX-License-Identifier: Apache-2.0
//
// A regular file's host file as the sentry's data plane uses it
// (inode.h, BeginHostUse): counting the descriptions that installed it,
// giving small data back when none is left, and telling tasks' native
// accesses' times from veil's own.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "vfs/tmpfs/inode.h"

namespace veil::vfs::tmpfs {

Result<int> TmpfsInode::BeginHostUse() {
  WriterMutexLock data(data_mu_);
  const bool made = !host_file_;
  int fd = VEIL_TRY(HostFileDataLocked(HostFile::kBacking));
  if (made) host_pinned_ = false;  // made for the data plane only
  ++host_users_;
  return fd;
}

void TmpfsInode::NoteMapped() {
  WriterMutexLock data(data_mu_);
  host_mapped_ = true;
}

void TmpfsInode::EndHostUse() {
  WriterMutexLock data(data_mu_);
  if (host_users_ > 0) --host_users_;
  if (host_users_ > 0 || host_mapped_ || host_pinned_ || !host_file_) return;
  if (SizeDataLocked() > tmpfs().memfd_threshold()) return;
  // An error (ENOMEM, ENOSPC in the store) leaves the data where it is,
  // which is only a descriptor more.
  (void)MoveDataBackLocked();
}

Result<void> TmpfsInode::CopyHostDataLocked(int fd, uint64_t size,
                                             StorePages* stored) {
  // Extent by extent (SEEK_DATA/SEEK_HOLE), so holes stay holes.
  std::vector<uint8_t> buf(64 * 1024);
  off_t at = 0;
  while (static_cast<uint64_t>(at) < size) {
    off_t data = lseek(fd, at, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      return Errno::FromErrno();
    }
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return Errno::FromErrno();
    for (off_t pos = data; pos < hole;) {
      size_t want = static_cast<size_t>(
          std::min<off_t>(hole - pos, static_cast<off_t>(buf.size())));
      ssize_t n = pread(fd, buf.data(), want, pos);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno::FromErrno();
      if (n == 0) break;
      std::span<const uint8_t> got(buf.data(), static_cast<size_t>(n));
      if (stored) {
        VEIL_TRY(stored->Write(got, static_cast<uint64_t>(pos)));
      } else {
        data_.Write(got, static_cast<uint64_t>(pos));
      }
      pos += n;
    }
    at = hole;
  }
  if (stored) return stored->Truncate(size);
  data_.Truncate(size);
  return Ok();
}

Result<void> TmpfsInode::MoveDataBackLocked() {
  const int fd = host_file_.get();
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno::FromErrno();
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::unique_ptr<StorePages> stored;
  if (tmpfs().store()) stored = std::make_unique<StorePages>(*tmpfs().store());
  // data_ is empty while the host file holds the data (HostFileDataLocked
  // emptied it); filled here, and emptied again if anything fails.
  Result<void> copied = CopyHostDataLocked(fd, size, stored.get());
  if (!copied) {
    data_.Clear();
    return copied.error();
  }
  if (stored) stored_ = std::move(stored);
  host_file_.reset();
  MutexLock meta(meta_mu_);
  host_fd_ = -1;
  data_size_ = size;
  data_blocks_ = BlocksDataLocked();
  // What tasks' native writes and reads stamped on the host file is ours
  // now (as GetAttrLocked reports it: only times that moved since veil's
  // own last use).
  TakeNativeTime(mtime_, st.st_mtim, host_seen_.mtime);
  TakeNativeTime(ctime_, st.st_ctim, host_seen_.ctime);
  TakeNativeAtime(atime_, mtime_, ctime_, st.st_atim, host_seen_.atime);
  AtimeChangedMetaLocked();
  return Ok();
}

void TmpfsInode::SyncHostTimes(HostTimesFrom from) {
  struct stat st;
  if (!host_file_ || fstat(host_file_.get(), &st) != 0) return;
  MutexLock meta(meta_mu_);
  if (from == HostTimesFrom::kTasks) {
    TakeNativeTime(mtime_, st.st_mtim, host_seen_.mtime);
    TakeNativeTime(ctime_, st.st_ctim, host_seen_.ctime);
    TakeNativeAtime(atime_, mtime_, ctime_, st.st_atim, host_seen_.atime);
    AtimeChangedMetaLocked();
  }
  host_seen_ = {st.st_atim, st.st_mtim, st.st_ctim};
}

}  // namespace veil::vfs::tmpfs
