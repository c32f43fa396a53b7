// SPDX-License-Identifier: Apache-2.0
//
// StorePages: a tmpfs file's data as runs of FileStore pages.
#include "vfs/tmpfs/store_pages.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "base/host_io.h"

namespace veil::vfs::tmpfs {
namespace {

constexpr uint64_t kPage = StorePages::kPageSize;
constexpr uint64_t kNoEnd = std::numeric_limits<uint64_t>::max();

uint64_t PagesUpTo(uint64_t bytes) { return (bytes + kPage - 1) / kPage; }

// Reads all of `len` bytes; past the store's end (pages allocated but
// never written there) they read as zeros.
Result<void> PReadAll(int fd, uint8_t* buf, size_t len, uint64_t offset) {
  HostIo io = PReadFull(fd, {buf, len}, offset);
  if (io.error != 0) return Errno(io.error);
  std::memset(buf + io.done, 0, len - io.done);
  return Ok();
}

Result<void> PWriteAll(int fd, const uint8_t* buf, size_t len,
                       uint64_t offset) {
  HostIo io = PWriteFull(fd, {buf, len}, offset);
  if (io.error != 0) return Errno(io.error);
  return Ok();
}

}  // namespace

StorePages::RunMap::const_iterator StorePages::Find(uint64_t page) const {
  auto it = runs_.upper_bound(page);
  if (it == runs_.begin()) return runs_.end();
  --it;
  return page < it->first + it->second.count ? it : runs_.end();
}

void StorePages::SplitAt(uint64_t page) {
  auto it = runs_.upper_bound(page);
  if (it == runs_.begin()) return;
  --it;
  Run& run = it->second;
  if (it->first == page || page >= it->first + run.count) return;
  uint64_t head = page - it->first;
  runs_.emplace_hint(std::next(it), page,
                     Run{run.store + head, run.count - head, run.written});
  run.count = head;
}

void StorePages::MergeWithPrevious(RunMap::iterator it) {
  if (it == runs_.begin() || it == runs_.end()) return;
  auto prev = std::prev(it);
  Run& p = prev->second;
  if (prev->first + p.count == it->first &&
      p.store + p.count == it->second.store &&
      p.written == it->second.written) {
    p.count += it->second.count;
    runs_.erase(it);
  }
}

void StorePages::AllocateRange(
    uint64_t first, uint64_t end, bool written,
    std::vector<std::pair<uint64_t, uint64_t>>* added) {
  uint64_t page = first;
  while (page < end) {
    auto next = runs_.upper_bound(page);
    uint64_t hint = kNoEnd;
    if (next != runs_.begin()) {
      auto prev = std::prev(next);
      uint64_t prev_end = prev->first + prev->second.count;
      if (prev_end > page) {  // already allocated: skip the run
        page = std::min(end, prev_end);
        continue;
      }
      if (prev_end == page) hint = prev->second.store + prev->second.count;
    }
    uint64_t gap_end = next == runs_.end() ? end : std::min(end, next->first);
    FileStore::Extent got = store_.Allocate(gap_end - page, hint);
    auto it = runs_.emplace_hint(next, page,
                                 Run{got.first, got.count, written});
    pages_ += got.count;
    if (added) added->emplace_back(page, page + got.count);
    page += got.count;
    MergeWithPrevious(it);
  }
}

void StorePages::FreeRange(uint64_t first, uint64_t end) {
  if (first >= end) return;
  SplitAt(first);
  if (end != kNoEnd) SplitAt(end);
  auto it = runs_.lower_bound(first);
  while (it != runs_.end() && it->first < end) {
    store_.Free({it->second.store, it->second.count});
    pages_ -= it->second.count;
    it = runs_.erase(it);
  }
}

void StorePages::MarkWritten(uint64_t first, uint64_t end) {
  SplitAt(first);
  SplitAt(end);
  auto it = runs_.lower_bound(first);
  while (it != runs_.end() && it->first < end) {
    it->second.written = true;
    auto next = std::next(it);
    MergeWithPrevious(it);  // may erase it
    it = next;
  }
  if (it != runs_.end()) MergeWithPrevious(it);
}

Result<size_t> StorePages::Read(std::span<uint8_t> buf,
                                uint64_t offset) const {
  if (offset >= size_) return size_t{0};
  size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(),
                                                    size_ - offset));
  size_t done = 0;
  while (done < n) {
    uint64_t pos = offset + done;
    uint64_t page = pos / kPage;
    auto run = Find(page);
    uint64_t span_end;  // file offset where this stretch ends
    if (run == runs_.end()) {
      auto next = runs_.upper_bound(page);
      span_end = next == runs_.end() ? kNoEnd : next->first * kPage;
    } else {
      span_end = (run->first + run->second.count) * kPage;
    }
    size_t len = static_cast<size_t>(std::min<uint64_t>(n - done,
                                                        span_end - pos));
    if (run == runs_.end() || !run->second.written) {
      std::memset(buf.data() + done, 0, len);
    } else {
      uint64_t at = (run->second.store * kPage) + (pos - run->first * kPage);
      VEIL_TRY_VOID(PReadAll(store_.fd(), buf.data() + done, len, at));
    }
    done += len;
  }
  return n;
}

Result<size_t> StorePages::Write(std::span<const uint8_t> buf,
                                 uint64_t offset) {
  if (buf.empty()) return size_t{0};
  uint64_t first = offset / kPage;
  uint64_t end = PagesUpTo(offset + buf.size());
  std::vector<std::pair<uint64_t, uint64_t>> added;
  AllocateRange(first, end, /*written=*/true, &added);
  size_t done = 0;
  int error = 0;
  while (done < buf.size() && error == 0) {
    uint64_t pos = offset + done;
    auto run = Find(pos / kPage);  // every page is allocated now
    uint64_t run_end = (run->first + run->second.count) * kPage;
    size_t len = static_cast<size_t>(std::min<uint64_t>(buf.size() - done,
                                                        run_end - pos));
    uint64_t at = (run->second.store * kPage) + (pos - run->first * kPage);
    HostIo io = PWriteFull(store_.fd(), buf.subspan(done, len), at);
    done += io.done;
    error = io.error;
  }
  // A failure part way is a short write, as on Linux: what was written
  // stays and counts; pages this write added past it go back.
  uint64_t reached = done == 0 ? first : PagesUpTo(offset + done);
  for (auto [a, b] : added) FreeRange(std::max(a, reached), b);
  if (done == 0) return Errno(error);
  // shmem_write_end: a fallocated page becomes data once written to.
  MarkWritten(first, reached);
  size_ = std::max<uint64_t>(size_, offset + done);
  return done;
}

Result<void> StorePages::ZeroRange(uint64_t offset, uint64_t end) {
  static constexpr uint8_t kZeros[kPage] = {};
  while (offset < end) {
    uint64_t page = offset / kPage;
    uint64_t page_end = std::min(end, (page + 1) * kPage);
    auto run = Find(page);
    if (run != runs_.end() && run->second.written) {
      uint64_t at = ((run->second.store + (page - run->first)) * kPage) +
                    (offset % kPage);
      VEIL_TRY_VOID(PWriteAll(store_.fd(), kZeros,
                              static_cast<size_t>(page_end - offset), at));
    }
    offset = page_end;
  }
  return Ok();
}

Result<void> StorePages::Truncate(uint64_t size) {
  if (size <= size_) {
    // The tail first: if zeroing fails, nothing has changed yet.
    if (size % kPage != 0)
      VEIL_TRY_VOID(ZeroRange(size, (size / kPage + 1) * kPage));
    FreeRange(PagesUpTo(size), kNoEnd);
  }
  size_ = size;
  return Ok();
}

Result<void> StorePages::Allocate(uint64_t offset, uint64_t length,
                                  bool keep_size) {
  uint64_t end_byte = offset + length;
  uint64_t first = offset / kPage;
  uint64_t end = PagesUpTo(end_byte);
  // shmem_get_folio(SGP_FALLOC) initialises a page an earlier fallocate
  // left !uptodate ("lest undo on failure cancel our earlier guarantee"):
  // pages fallocated twice become data to SEEK_DATA. Only the pages this
  // call adds stay holes.
  MarkWritten(first, end);
  std::vector<std::pair<uint64_t, uint64_t>> added;
  AllocateRange(first, end, /*written=*/false, &added);
  for (auto [a, b] : added) {
    // The run holding `a` may start before it: an added run merges into
    // the one before it when both are contiguous in the store.
    auto run = runs_.upper_bound(a);
    if (run != runs_.begin() &&
        std::prev(run)->first + std::prev(run)->second.count > a)
      --run;
    for (; run != runs_.end() && run->first < b; ++run) {
      uint64_t from = std::max(a, run->first);
      uint64_t to = std::min(b, run->first + run->second.count);
      FileStore::Extent pages{run->second.store + (from - run->first),
                              to - from};
      if (auto reserved = store_.Reserve(pages); !reserved) {
        for (auto [x, y] : added) FreeRange(x, y);
        return reserved.error();
      }
    }
  }
  if (!keep_size) size_ = std::max(size_, end_byte);
  return Ok();
}

Result<void> StorePages::PunchHole(uint64_t offset, uint64_t length) {
  uint64_t end = offset + length;
  uint64_t whole_first = PagesUpTo(offset);
  uint64_t whole_end = end / kPage;
  if (whole_first < whole_end) {
    VEIL_TRY_VOID(ZeroRange(offset, whole_first * kPage));
    VEIL_TRY_VOID(ZeroRange(whole_end * kPage, end));
    FreeRange(whole_first, whole_end);
  } else {
    VEIL_TRY_VOID(ZeroRange(offset, end));  // no whole page inside
  }
  return Ok();
}

Result<uint64_t> StorePages::SeekData(uint64_t offset) const {
  uint64_t page = offset / kPage;
  auto run = Find(page);
  if (run == runs_.end()) run = runs_.upper_bound(page);
  while (run != runs_.end() && !run->second.written) ++run;
  if (run == runs_.end()) return Errno(ENXIO);
  uint64_t pos = std::max(offset, run->first * kPage);
  if (pos >= size_) return Errno(ENXIO);
  return pos;
}

uint64_t StorePages::SeekHole(uint64_t offset) const {
  uint64_t page = offset / kPage;
  for (auto run = Find(page);
       run != runs_.end() && run->first <= page && run->second.written;
       ++run)
    page = run->first + run->second.count;
  return std::min(size_, std::max(offset, page * kPage));
}

Result<void> StorePages::CopyTo(int fd) const {
  if (size_ > 0 && ftruncate(fd, static_cast<off_t>(size_)) != 0)
    return Errno::FromErrno();
  std::vector<uint8_t> buf;
  for (const auto& [first, run] : runs_) {
    uint64_t start = first * kPage;
    if (!run.written) {
      if (fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(start),
                    static_cast<off_t>(run.count * kPage)) != 0)
        return Errno::FromErrno();
      continue;
    }
    // The bytes are copied up to the size (the file's size stays put);
    // written pages past it (fallocated twice past EOF, so zeros) keep
    // their blocks as fallocated ones.
    uint64_t run_end = (first + run.count) * kPage;
    uint64_t end = std::min(size_, run_end);
    uint64_t past = std::max(PagesUpTo(size_) * kPage, start);
    if (past < run_end &&
        fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(past),
                  static_cast<off_t>(run_end - past)) != 0)
      return Errno::FromErrno();
    for (uint64_t pos = start; pos < end;) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(end - pos, 1 << 20));
      buf.resize(len);
      VEIL_TRY_VOID(PReadAll(store_.fd(), buf.data(), len,
                             run.store * kPage + (pos - start)));
      VEIL_TRY_VOID(PWriteAll(fd, buf.data(), len, pos));
      pos += len;
    }
  }
  return Ok();
}

void StorePages::Clear() {
  FreeRange(0, kNoEnd);
  size_ = 0;
}

}  // namespace veil::vfs::tmpfs
