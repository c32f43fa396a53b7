// SPDX-License-Identifier: Apache-2.0
//
// TmpfsInode: every tmpfs file type in one class (Linux: shmem inode).
// Internal to vfs/tmpfs. All members are guarded by the filesystem mutex,
// except that host_file_, once set, never changes.
//
// A regular file's data is in exactly one place: data_ (process memory),
// or stored_ in a self-backed tmpfs (pages of the FileStore), until
// host_file_ is set, then host_file_ only (the first place is emptied when
// the bytes move). Every data operation below picks the place under the
// mutex.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/unique_fd.h"
#include "vfs/fifo.h"
#include "vfs/file_description.h"
#include "vfs/tmpfs/page_store.h"
#include "vfs/tmpfs/store_pages.h"
#include "vfs/tmpfs/tmpfs.h"

namespace veil::vfs::tmpfs {

// Linux tmpfs counts directory sizes in fake 20-byte entries.
inline constexpr uint64_t kBogoDirentSize = 20;
// The directory position after the last entry (Linux DIR_OFFSET_EOD).
inline constexpr uint64_t kEndOfDirCookie = 0x7fffffff;
// Data that would reach past this offset lives in a memfd (see WriteLocked).
inline constexpr uint64_t kPageStoreMaxEnd = uint64_t{1} << 40;  // 1 TiB
// Symlink targets up to this length (with NUL) are stored in the inode.
inline constexpr size_t kShortSymlinkLen = 128;

class TmpfsInode final : public Inode {
 public:
  TmpfsInode(Tmpfs& fs, uint64_t ino, const CreateSpec& spec, timespec now);
  ~TmpfsInode() override;

  Attr GetAttrLocked() override;
  Result<void> SetAttrLocked(const SetAttr& attr) override;
  void TouchAtimeLocked() override;
  Result<std::unique_ptr<FileImpl>> OpenLocked(int flags) override;

  Result<Ref<Inode>> LookupLocked(std::string_view name) override;
  Result<Ref<Inode>> CreateLocked(std::string_view name,
                                  const CreateSpec& spec) override;
  Result<void> LinkLocked(std::string_view name, Inode& target) override;
  Result<void> UnlinkLocked(std::string_view name, Inode& child) override;
  Result<void> RenameLocked(std::string_view name, Inode& child,
                            Inode& new_dir, std::string_view new_name,
                            Inode* replaced, unsigned flags) override;
  Result<void> ReadDirLocked(uint64_t cookie, const DirEmitter& emit) override;
  bool IsEmptyDirLocked() override { return entries_.empty(); }

  Result<std::string> ReadlinkLocked() override;

  Result<std::string> GetXattrLocked(std::string_view name) override;
  Result<void> SetXattrLocked(std::string_view name, std::string_view value,
                              int flags) override;
  Result<std::vector<std::string>> ListXattrLocked() override;
  Result<void> RemoveXattrLocked(std::string_view name) override;

  // Regular files: the host file holding the data, created on first need;
  // the first call moves the data there for good (holes stay holes).
  // kMemory makes a memfd; kBacking a file beside a self-backed tmpfs's
  // store (on disk), or a memfd without a store. Errors: whatever creating
  // the file, ftruncate or pwrite report (EMFILE, ENOMEM, ENOSPC); the
  // data then stays where it was.
  enum class HostFile { kMemory, kBacking };
  Result<int> HostFileLocked(HostFile kind);
  // Where data reaching past kPageStoreMaxEnd (or fallocated there) goes:
  // a memfd, unless that would bring a self-backed file's data into
  // memory.
  HostFile EdgeHostFileLocked() const;
  // Regular file data, wherever it lives. ReadLocked stops at EOF; holes
  // read as zeros. WriteLocked writes at `offset` (the VFS has checked
  // offset + size against the largest file offset) and may first move the
  // data to a memfd (memfd_threshold). SeekDataHoleLocked answers
  // SEEK_DATA/SEEK_HOLE for 0 <= offset < size. AllocateLocked is
  // fallocate(2) past the VFS's checks (shmem's modes only).
  Result<size_t> ReadLocked(std::span<uint8_t> buf, int64_t offset);
  Result<size_t> WriteLocked(std::span<const uint8_t> buf, int64_t offset);
  Result<int64_t> SeekDataHoleLocked(int64_t offset, int whence);
  Result<void> AllocateLocked(int mode, int64_t offset, int64_t length);
  // Bumps mtime and ctime after a data change; drops setuid/setgid as
  // file_remove_privs would for `creds`.
  void DataModifiedLocked(const Credentials& creds);
  void StampModifiedLocked() override;
  uint64_t SizeLocked();

 private:
  Tmpfs& tmpfs() const { return static_cast<Tmpfs&>(fs()); }
  void AddEntryLocked(std::string_view name, Ref<TmpfsInode> child);
  void RemoveEntryLocked(std::string_view name);
  static uint8_t DirentType(uint32_t mode);

  uint32_t mode_;
  uint32_t uid_, gid_;
  uint32_t nlink_;
  uint64_t rdev_;
  timespec atime_, mtime_, ctime_, btime_;
  std::map<std::string, std::string, std::less<>> xattrs_;

  // Directories: entries by cookie (creation order), and names to cookies.
  struct Entry {
    std::string name;
    Ref<TmpfsInode> inode;
  };
  std::map<uint64_t, Entry> entries_;
  std::map<std::string, uint64_t, std::less<>> index_;
  uint64_t next_cookie_ = 2;  // 0 and 1 are "." and ".."
  uint64_t dir_size_ = 2 * kBogoDirentSize;
  TmpfsInode* parent_ = nullptr;  // directories: never dangles, a parent
                                  // outlives its entries (it holds them)

  // Symlinks.
  std::string target_;

  // Regular files.
  PageStore data_;
  std::unique_ptr<StorePages> stored_;  // set in a self-backed tmpfs
  UniqueFd host_file_;

  // FIFOs: the pipe every open shares.
  std::unique_ptr<FifoPipe> fifo_;
};

}  // namespace veil::vfs::tmpfs
