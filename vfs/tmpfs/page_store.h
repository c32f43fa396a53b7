// SPDX-License-Identifier: Apache-2.0
//
// PageStore: a small tmpfs file's data in process memory, held the way
// shmem holds a file in the page cache, so that what stat(2) and lseek(2)
// observe is the same: a write allocates every page it touches, a hole
// reads as zeros and costs nothing, truncating down frees the pages past
// the new size and zeroes the tail of the last partial page. st_blocks is
// 8 per allocated page, SEEK_DATA finds allocated pages.
//
// Invariants: every allocated page starts before size(), and the bytes of
// an allocated page at or past size() are zero (so growing the file by a
// write or a truncate exposes zeros, as shmem's truncate guarantees).
//
// Internal to vfs/tmpfs; not thread-safe: the owning inode's data lock
// guards it (its const members run in parallel under the shared lock).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>

#include "base/result.h"

namespace veil::vfs::tmpfs {

class PageStore final {
 public:
  // NOTE: the host's page size on x86-64, which shmem allocates and counts
  // in: the page store must match it for st_blocks and SEEK_DATA/SEEK_HOLE
  // to stay the same across the move to a memfd.
  static constexpr uint64_t kPageSize = 4096;

  PageStore() = default;
  PageStore(const PageStore&) = delete;
  PageStore& operator=(const PageStore&) = delete;

  uint64_t size() const { return size_; }
  uint64_t pages() const { return pages_.size(); }

  // Copies up to buf.size() bytes at `offset`, stopping at the end of the
  // file; holes read as zeros. Returns the number of bytes copied.
  size_t Read(std::span<uint8_t> buf, uint64_t offset) const;

  // Writes all of `buf` at `offset`, allocating the pages it touches and
  // growing the size to cover it. The caller keeps offset + size within
  // the largest file offset (the VFS's rw_verify_area does).
  void Write(std::span<const uint8_t> buf, uint64_t offset);

  // Sets the size: shrinking frees whole pages past it and zeroes the tail
  // of the page it ends in (shmem_truncate_range); growing allocates
  // nothing.
  void Truncate(uint64_t size);

  // Pages a write of `length` (> 0) bytes at `offset` would allocate: the
  // pages it touches that are not allocated yet.
  uint64_t PagesAdded(uint64_t offset, uint64_t length) const;

  // SEEK_DATA / SEEK_HOLE for 0 <= offset < size() (shmem_file_llseek has
  // already answered ENXIO for the rest): data is an allocated page.
  // SEEK_DATA with no data at or after `offset` is ENXIO; the end of the
  // file is always a hole.
  Result<uint64_t> SeekData(uint64_t offset) const;
  uint64_t SeekHole(uint64_t offset) const;

  // Gives the data to the memfd `fd` (which must be empty): sets its size
  // and writes only the allocated pages, so holes stay holes and the
  // memfd's st_blocks equals ours. On error the store is unchanged.
  Result<void> CopyTo(int fd) const;

  // Frees every page and sets the size to 0.
  void Clear();

 private:
  using Page = std::array<uint8_t, kPageSize>;
  std::map<uint64_t, std::unique_ptr<Page>> pages_;  // by page index
  uint64_t size_ = 0;
};

}  // namespace veil::vfs::tmpfs
