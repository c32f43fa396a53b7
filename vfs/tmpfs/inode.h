// SPDX-License-Identifier: Apache-2.0
//
// TmpfsInode: every tmpfs file type in one class (Linux: shmem inode).
// Internal to vfs/tmpfs.
//
// A regular file's data is in exactly one place: data_ (process memory),
// or stored_ in a self-backed tmpfs (pages of the FileStore), until
// host_file_ is set, then host_file_ only (the first place is emptied when
// the bytes move, and host_file_ never changes again).
//
// Locking (vfs/README.md, "Lock order"): three locks, always in this order.
//   1. The filesystem mutex (Filesystem::mutex(), held around every
//      ...Locked hook) guards the namespace: directory entries, link
//      counts, parent_, the symlink target, xattrs, the FIFO.
//   2. data_mu_ (Linux i_rwsem around a write, gVisor's dataMu) guards a
//      regular file's data: data_, stored_, host_file_. Reads hold it
//      shared, so they run in parallel; writes, truncates, fallocate and
//      the move to a host file hold it exclusively, so an O_APPEND write
//      lands whole at the end and a read sees all of a write or none of
//      it. File I/O takes it with no other lock held, and never takes the
//      filesystem mutex under it; a truncate takes it under the filesystem
//      mutex (SetAttrLocked).
//   3. meta_mu_, a leaf, guards what both paths change: mode, owner,
//      timestamps, and the data's size and block count as stat reports
//      them (a copy the data path publishes under data_mu_ and meta_mu_,
//      so stat never waits for a write: Linux's i_size_read). Nothing is
//      taken under it, and never two inodes' at once.
// The set-id bits a write clears (SetIdBitsClearedByWrite) are judged and
// cleared in one meta_mu_ section, against the mode as it is then; chmod,
// chown and truncate change the mode under meta_mu_ too (truncate by
// kKillModeBits), so no change undoes another. The relatime decision of a
// read is made without a lock first (atime_due_sec_, as Linux's
// atime_needs_update reads the times unlocked) and again under meta_mu_
// before atime moves, so parallel readers do not meet on meta_mu_.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "base/mutex.h"
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
// Data that would reach past this offset lives in a memfd (see
// WriteDataLocked).
inline constexpr uint64_t kPageStoreMaxEnd = uint64_t{1} << 40;  // 1 TiB
// relatime moves an atime that is at least this old.
inline constexpr int64_t kDaySeconds = 24 * 60 * 60;
// Symlink targets up to this length (with NUL) are stored in the inode.
inline constexpr size_t kShortSymlinkLen = 128;

// One time of a file whose data a task may access natively: `host` is the
// host file's, `seen` the host file's as veil's own last use left it. If
// the host's moved since, a task's native access stamped it: the file's
// time becomes the host's, or, the host's clock being coarser than veil's
// (a jiffy's coarse time against CLOCK_REALTIME), one nanosecond past
// ours, so a change always shows as one and times never go back.
inline void TakeNativeTime(timespec& own, const timespec& host,
                           const timespec& seen);
// atime: the host file's moved, so a task read natively; whether that
// moves the file's atime is relatime's rule on the file's own times
// (atime not after mtime or ctime, or a day old), as Linux decides it;
// the host file's own times differ and so would its decision.
inline void TakeNativeAtime(timespec& atime, const timespec& mtime,
                            const timespec& ctime, const timespec& host,
                            const timespec& seen) {
  if (host.tv_sec == seen.tv_sec && host.tv_nsec == seen.tv_nsec) return;
  auto not_after = [](const timespec& a, const timespec& b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
  };
  if (not_after(atime, mtime) || not_after(atime, ctime) ||
      host.tv_sec - atime.tv_sec >= kDaySeconds)
    TakeNativeTime(atime, host, seen);
}
inline void TakeNativeTime(timespec& own, const timespec& host,
                           const timespec& seen) {
  if (host.tv_sec == seen.tv_sec && host.tv_nsec == seen.tv_nsec) return;
  if (own.tv_sec < host.tv_sec ||
      (own.tv_sec == host.tv_sec && own.tv_nsec < host.tv_nsec)) {
    own = host;
  } else if (++own.tv_nsec == 1000000000) {
    own.tv_nsec = 0;
    ++own.tv_sec;
  }
}

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

  // --- Regular file data (file.cc); called with no lock held -----------

  // Reads at `offset`, stopping at EOF; holes read as zeros. kTouch marks
  // an access (relatime). Shared data lock.
  enum class Atime { kTouch, kLeave };
  Result<size_t> Read(std::span<uint8_t> buf, int64_t offset, Atime atime)
      VEIL_EXCLUDES(data_mu_);
  // Writes `buf` at `*offset` or, with kEnd, at the end of the file as it
  // is under the exclusive data lock (O_APPEND); `*offset` ends past the
  // data. Stamps mtime and ctime and drops set-id bits as file_remove_privs
  // would for `creds`. The VFS has checked offset + size against the
  // largest file offset; the data may first move to a memfd
  // (memfd_threshold).
  Result<size_t> Write(const Credentials& creds, std::span<const uint8_t> buf,
                       int64_t* offset, WriteAt at) VEIL_EXCLUDES(data_mu_);
  // lseek(2) on a regular file.
  Result<int64_t> Seek(int64_t offset, int whence, int64_t current)
      VEIL_EXCLUDES(data_mu_);
  // fallocate(2) past the VFS's checks (shmem's modes only).
  Result<void> Allocate(const Credentials& creds, int mode, int64_t offset,
                        int64_t length) VEIL_EXCLUDES(data_mu_);
  // The host file holding the data, created on first need; the first call
  // moves the data there for good (holes stay holes). Errors: whatever
  // creating the file, ftruncate or pwrite report (EMFILE, ENOMEM,
  // ENOSPC); the data then stays where it was.
  Result<int> MappableFd() VEIL_EXCLUDES(data_mu_);
  // The data plane's use of the host file (the sentry installs it in a
  // task, DESIGN.md): BeginHostUse makes it as MappableFd does and counts
  // the open description using it; EndHostUse, at that description's
  // close, moves small data back where it was (data_ or the store) and
  // closes the host file when no description uses it any more, the file
  // was never mapped (NoteMapped) and it is not a host file for its own
  // sake (past the memfd threshold, or fallocated). So the sentry's host
  // descriptors follow the files tasks hold open, not every file they
  // ever opened. Errors: MappableFd's.
  Result<int> BeginHostUse() VEIL_EXCLUDES(data_mu_);
  void EndHostUse() VEIL_EXCLUDES(data_mu_, meta_mu_);
  // A task maps the host file (mmap, exec): it stays for good, since a
  // mapping outlives every fd and must keep seeing the file's data.
  void NoteMapped() VEIL_EXCLUDES(data_mu_);

  // Marks a data change from a path that holds the filesystem mutex but
  // no data (a FIFO write): mtime and ctime to now.
  void StampModifiedLocked() override;

 private:
  // The host file kinds: kMemory makes a memfd; kBacking a file beside a
  // self-backed tmpfs's store (on disk), or a memfd without a store.
  enum class HostFile { kMemory, kBacking };

  // --- Under data_mu_ (shared: reads; exclusive: changes) ---------------
  Result<int> HostFileDataLocked(HostFile kind) VEIL_REQUIRES(data_mu_);
  // Where data reaching past kPageStoreMaxEnd (or fallocated there) goes:
  // a memfd, unless that would bring a self-backed file's data into
  // memory.
  HostFile EdgeHostFileDataLocked() const VEIL_REQUIRES_SHARED(data_mu_);
  Result<size_t> ReadDataLocked(std::span<uint8_t> buf, int64_t offset)
      VEIL_REQUIRES_SHARED(data_mu_);
  // EndHostUse's move: the host file's data extents back into data_ or a
  // new StorePages, its times into ours, then the host file closed. On
  // error nothing changes (the host file stays).
  Result<void> MoveDataBackLocked() VEIL_REQUIRES(data_mu_)
      VEIL_EXCLUDES(meta_mu_);
  // Its copy: the host file's extents into `stored` (a self-backed
  // tmpfs) or data_.
  Result<void> CopyHostDataLocked(int fd, uint64_t size, StorePages* stored)
      VEIL_REQUIRES(data_mu_);
  Result<size_t> WriteDataLocked(std::span<const uint8_t> buf, int64_t offset)
      VEIL_REQUIRES(data_mu_);
  // SEEK_DATA/SEEK_HOLE for 0 <= offset < size.
  Result<int64_t> SeekHolesDataLocked(int64_t offset, int whence)
      VEIL_REQUIRES_SHARED(data_mu_);
  Result<void> AllocateDataLocked(int mode, int64_t offset, int64_t length)
      VEIL_REQUIRES(data_mu_);
  // Sets the size (SetAttrLocked's truncate): takes data_mu_ itself.
  Result<void> TruncateData(uint64_t size, timespec now)
      VEIL_EXCLUDES(data_mu_, meta_mu_);
  // The data's size and 512-byte blocks, exactly (a host file: fstat).
  uint64_t SizeDataLocked() VEIL_REQUIRES_SHARED(data_mu_);
  uint64_t BlocksDataLocked() VEIL_REQUIRES_SHARED(data_mu_);
  // After a change to data_ or stored_: publishes size and blocks for
  // stat; with `creds`, also a write's stamps and set-id removal.
  void PublishDataLocked(const Credentials* creds, timespec now)
      VEIL_REQUIRES(data_mu_) VEIL_EXCLUDES(meta_mu_);

  // --- meta_mu_ helpers (each takes it) ---------------------------------
  void StampCtime(timespec now) VEIL_EXCLUDES(meta_mu_);
  void StampMtimeCtime(timespec now) VEIL_EXCLUDES(meta_mu_);
  // Relatime: atime to now if it is not newer than mtime or ctime, or is
  // a day old.
  void TouchAtime() VEIL_EXCLUDES(meta_mu_);
  // Recomputes atime_due_sec_.
  void AtimeChangedMetaLocked() VEIL_REQUIRES(meta_mu_);
  // A regular file's size as stat reports it (meta_mu_, or the host
  // file's fstat).
  uint64_t PublishedSize() VEIL_EXCLUDES(meta_mu_);

  Tmpfs& tmpfs() const { return static_cast<Tmpfs&>(fs()); }
  void AddEntryLocked(std::string_view name, Ref<TmpfsInode> child);
  void RemoveEntryLocked(std::string_view name);
  static uint8_t DirentType(uint32_t mode);

  // The data lock comes first (inode.h's comment at the top).
  SharedMutex data_mu_ VEIL_ACQUIRED_BEFORE(meta_mu_);
  Mutex meta_mu_;
  uint32_t mode_ VEIL_GUARDED_BY(meta_mu_);
  uint32_t uid_ VEIL_GUARDED_BY(meta_mu_);
  uint32_t gid_ VEIL_GUARDED_BY(meta_mu_);
  timespec atime_ VEIL_GUARDED_BY(meta_mu_);
  timespec mtime_ VEIL_GUARDED_BY(meta_mu_);
  timespec ctime_ VEIL_GUARDED_BY(meta_mu_);
  // Regular files: what stat reports while the data is in data_ or
  // stored_ (host_fd_ < 0); the host file's fstat after.
  uint64_t data_size_ VEIL_GUARDED_BY(meta_mu_) = 0;
  uint64_t data_blocks_ VEIL_GUARDED_BY(meta_mu_) = 0;
  // host_file_'s fd once set (borrowed from it; it lives as long as we do).
  int host_fd_ VEIL_GUARDED_BY(meta_mu_) = -1;
  // The host file's times as veil's own last use of it left them (making
  // it, writing, truncating, reading, setting its times): stat takes the
  // host file's time only where it moved since (a task's native write or
  // read), so the stamps veil's own operations put on it never show.
  struct HostTimes {
    timespec atime{}, mtime{}, ctime{};
  };
  HostTimes host_seen_ VEIL_GUARDED_BY(meta_mu_);
  // Brings host_seen_ up to the host file (if any); takes meta_mu_.
  // kTasks before veil's own use of it: times that moved since the last
  // record are the tasks' native accesses, folded into ours first (else
  // veil's use would hide them). kVeil after it: recorded only.
  enum class HostTimesFrom : uint8_t { kTasks, kVeil };
  void SyncHostTimes(HostTimesFrom from) VEIL_REQUIRES_SHARED(data_mu_)
      VEIL_EXCLUDES(meta_mu_);
  // Reads before this second (CLOCK_REALTIME) leave atime alone: INT64_MIN
  // while atime is not newer than mtime and ctime. Written under meta_mu_,
  // read without it.
  std::atomic<int64_t> atime_due_sec_{INT64_MIN};

  // Guarded by the filesystem mutex.
  uint32_t nlink_;
  uint64_t rdev_;
  const timespec btime_;
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
  PageStore data_ VEIL_GUARDED_BY(data_mu_);
  // Set in a self-backed tmpfs.
  std::unique_ptr<StorePages> stored_ VEIL_GUARDED_BY(data_mu_);
  UniqueFd host_file_ VEIL_GUARDED_BY(data_mu_);
  // The data plane's users of host_file_ (BeginHostUse), whether a task
  // mapped it, and whether it is a host file for its own sake (made for
  // size or fallocate: never moved back).
  int host_users_ VEIL_GUARDED_BY(data_mu_) = 0;
  bool host_mapped_ VEIL_GUARDED_BY(data_mu_) = false;
  bool host_pinned_ VEIL_GUARDED_BY(data_mu_) = false;

  // FIFOs: the pipe every open shares. Guarded by the filesystem mutex.
  std::unique_ptr<FifoPipe> fifo_;
};

}  // namespace veil::vfs::tmpfs
