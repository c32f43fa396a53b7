// SPDX-License-Identifier: Apache-2.0
//
// Handle and HandleCache: the open FDIDs a GoferFs keeps for files nobody
// has open, bounded.
//
// A Handle is one open FDID on the server (OpenAt, OpenCreateAt) and the
// host descriptor the server donated with it, if any. Opening a regular
// file shares its inode's handle of the right kind (read-only, read-write),
// so that N opens of one file cost one FDID, and a file opened again soon
// costs no round trip (rereads, `make` reading a header twice, the FUSE
// mount reopening a file whose page cache it kept). Each handle costs the
// server an opened descriptor (and pins its node's), and this process one
// descriptor if one was donated: every handle counts against a budget.
//
// Who holds a handle (std::shared_ptr): every open file using it, and the
// cache. A handle in use by an open file is never dropped: its FDID must
// work for as long as the file is open. The cache keeps at most
// `capacity` handles that no open file uses (LRU: a handle found again
// moves to the front); past it (checked when a handle is added and when an
// open file lets go of one), the least recently used idle ones are
// released (their FDIDs queued for Close, their donated descriptors
// closed). So a process that opens 30,000 files one after another holds
// `capacity` handles at the end, not 30,000, and a file it opens again
// while its handle is cached opens without a round trip.
//
// Linux analogue: none exactly; NFS's open-file cache (nfsd's filecache,
// LRU with a limit) is the closest.
//
// Thread-safety: all methods are thread-safe; mu_ is a leaf lock (taken
// under the filesystem mutex, never held while a handle is destroyed,
// which queues a Close with the reaper).
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/unique_fd.h"
#include "lisafs/types.h"

namespace veil::gofer {
class GoferFs;
}

namespace veil::gofer::client::internal {

class GoferInode;

enum class HandleKind : uint8_t { kRead = 0, kReadWrite = 1 };

// An open FDID and the host descriptor the server donated with it
// (checked: a read-only regular file), or none. Destroying it closes
// both (the FDID through the filesystem's reaper).
struct Handle {
  // `fs` is borrowed: handles are owned by the filesystem's cache and by
  // open files, which hold their inode and so the filesystem.
  Handle(GoferFs& fs, lisafs::FdId fd, UniqueFd host)
      : fs(fs), fd(fd), host(std::move(host)) {}
  ~Handle();
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  GoferFs& fs;
  const lisafs::FdId fd;
  const UniqueFd host;
};

class HandleCache final {
 public:
  // `capacity`: the most idle handles kept (0 keeps none).
  explicit HandleCache(size_t capacity) : capacity_(capacity) {}
  HandleCache(const HandleCache&) = delete;
  HandleCache& operator=(const HandleCache&) = delete;

  // The handle of `kind` cached for `inode`, now the most recently used;
  // null if there is none.
  std::shared_ptr<const Handle> Find(const GoferInode& inode, HandleKind kind);
  // Caches `handle` as `inode`'s of `kind` (replacing any), then releases
  // idle handles, least recently used first, while more than `capacity`
  // are idle.
  void Insert(const GoferInode& inode, HandleKind kind,
              std::shared_ptr<const Handle> handle);
  // Releases idle handles, least recently used first, while more than
  // `capacity` are idle: after an open file let go of its handles.
  void Trim();
  // Forgets every handle of `inode` (it is dying: none is in use).
  void Drop(const GoferInode& inode);
  // Releases every idle handle; how many. For when the server or this
  // process is out of descriptors.
  size_t DropIdle();

  size_t capacity() const { return capacity_; }
  // Handles cached now, idle or not; for tests.
  size_t size();

 private:
  using Key = std::pair<const GoferInode*, HandleKind>;
  struct Entry {
    Key key;
    std::shared_ptr<const Handle> handle;
  };
  // Idle: no open file holds a copy. Copies are made only under mu_ (Find),
  // so under mu_ a count of 1 is exact.
  static bool Idle(const Entry& e) { return e.handle.use_count() == 1; }
  // Moves idle handles beyond the `keep` most recently used to `released`.
  void TrimLocked(size_t keep,
                  std::vector<std::shared_ptr<const Handle>>& released)
      VEIL_REQUIRES(mu_);

  const size_t capacity_;
  Mutex mu_;
  std::list<Entry> lru_ VEIL_GUARDED_BY(mu_);  // MRU first.
  std::map<Key, std::list<Entry>::iterator> index_ VEIL_GUARDED_BY(mu_);
};

}  // namespace veil::gofer::client::internal
