// SPDX-License-Identifier: Apache-2.0
//
// StorePages: one tmpfs file's data in a FileStore (a self-backed tmpfs),
// with shmem's page accounting, like PageStore for process memory: a
// write allocates every page it touches, a hole reads as zeros, truncating
// frees the pages past the new size and zeroes the tail of the last one,
// st_blocks is 8 per allocated page. Unlike PageStore it also does
// fallocate(2) itself, as shmem_fallocate does: allocated but never
// written pages count in st_blocks, read as zeros and are holes to
// SEEK_DATA (shmem leaves fallocated pages !uptodate until a write or a
// second fallocate over them), may
// lie past EOF (FALLOC_FL_KEEP_SIZE) until a truncate; a punched hole
// frees the whole pages inside it and zeroes the partial ones at its ends.
//
// The data is a map of runs: file pages [first, first + count) held by
// store pages [store, store + count), so a file written in order costs one
// map entry however big it is.
//
// Invariant: the bytes of a page at or past size() are zero (growing the
// file exposes zeros), and so are the bytes of a page not yet written.
//
// Internal to vfs/tmpfs; not thread-safe: the owning inode's data lock
// guards it (its const members run in parallel under the shared lock; the
// others take the FileStore's allocator lock inside it).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "base/result.h"
#include "vfs/tmpfs/file_store.h"

namespace veil::vfs::tmpfs {

class StorePages final {
 public:
  static constexpr uint64_t kPageSize = FileStore::kPageSize;

  explicit StorePages(FileStore& store) : store_(store) {}
  StorePages(const StorePages&) = delete;
  StorePages& operator=(const StorePages&) = delete;
  ~StorePages() { Clear(); }

  uint64_t size() const { return size_; }
  uint64_t pages() const { return pages_; }  // allocated, written or not

  // Copies up to buf.size() bytes at `offset`, stopping at the end of the
  // file. Errors: the store's pread (EIO).
  Result<size_t> Read(std::span<uint8_t> buf, uint64_t offset) const;

  // Writes `buf` at `offset`, growing the size to cover what was written;
  // returns the bytes written. A failure part way (ENOSPC, EIO from the
  // store) is a short write, as on Linux: the bytes written stay and
  // count, the pages past them that this write added are freed. A
  // failure before the first byte is the errno, with nothing changed.
  Result<size_t> Write(std::span<const uint8_t> buf, uint64_t offset);

  // Sets the size. A size at or below the current one frees every page
  // past it, fallocated ones included, and zeroes the tail of the page it
  // ends in (shmem_setattr); growing frees nothing. If zeroing fails (EIO)
  // nothing has changed.
  Result<void> Truncate(uint64_t size);

  // fallocate(2) modes 0 and FALLOC_FL_KEEP_SIZE: allocates the pages of
  // [offset, offset + length) that have none, reserving their disk blocks
  // (ENOSPC, and nothing allocated, when the host cannot), then grows the
  // size to offset + length unless `keep_size`.
  Result<void> Allocate(uint64_t offset, uint64_t length, bool keep_size);

  // FALLOC_FL_PUNCH_HOLE: frees the whole pages in [offset, offset +
  // length) and zeroes the rest of the range.
  Result<void> PunchHole(uint64_t offset, uint64_t length);

  // SEEK_DATA / SEEK_HOLE for 0 <= offset < size(): data is a written
  // page. SEEK_DATA with no data before EOF is ENXIO; EOF is a hole.
  Result<uint64_t> SeekData(uint64_t offset) const;
  uint64_t SeekHole(uint64_t offset) const;

  // Gives the data to the empty host file `fd`: its size, the written
  // pages' bytes, and fallocated pages as fallocate(KEEP_SIZE) ranges, so
  // holes stay holes and a memfd's st_blocks equals ours. On error the
  // pages are unchanged (fd is then the caller's to drop).
  Result<void> CopyTo(int fd) const;

  // Frees every page and sets the size to 0.
  void Clear();

 private:
  struct Run {
    uint64_t store;  // first store page
    uint64_t count;
    bool written;    // false: fallocated, not written yet
  };
  using RunMap = std::map<uint64_t, Run>;  // by first file page

  // The run holding file page `page`, or runs_.end().
  RunMap::const_iterator Find(uint64_t page) const;
  // Makes `page` the first page of a run if a run covers it.
  void SplitAt(uint64_t page);
  // Allocates store pages for the pages of [first, end) that have none;
  // appends the file page ranges it filled to `added`.
  void AllocateRange(uint64_t first, uint64_t end, bool written,
                     std::vector<std::pair<uint64_t, uint64_t>>* added);
  // Frees the pages of [first, end) that have store pages.
  void FreeRange(uint64_t first, uint64_t end);
  // Marks the runs of [first, end) written.
  void MarkWritten(uint64_t first, uint64_t end);
  // Writes zeros over the written bytes of [offset, end).
  Result<void> ZeroRange(uint64_t offset, uint64_t end);
  // Joins `it` with the run before it when both are contiguous.
  void MergeWithPrevious(RunMap::iterator it);

  FileStore& store_;
  RunMap runs_;
  uint64_t pages_ = 0;
  uint64_t size_ = 0;
};

}  // namespace veil::vfs::tmpfs
