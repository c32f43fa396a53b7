// SPDX-License-Identifier: Apache-2.0
//
// PageStore: sparse in-memory file data with shmem's page accounting.
#include "vfs/tmpfs/page_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "base/host_io.h"

namespace veil::vfs::tmpfs {

size_t PageStore::Read(std::span<uint8_t> buf, uint64_t offset) const {
  if (offset >= size_) return 0;
  size_t n =
      static_cast<size_t>(std::min<uint64_t>(buf.size(), size_ - offset));
  size_t done = 0;
  while (done < n) {
    uint64_t pos = offset + done;
    size_t in_page = static_cast<size_t>(pos % kPageSize);
    size_t len = std::min(n - done, static_cast<size_t>(kPageSize) - in_page);
    auto it = pages_.find(pos / kPageSize);
    if (it == pages_.end()) {
      std::memset(buf.data() + done, 0, len);
    } else {
      std::memcpy(buf.data() + done, it->second->data() + in_page, len);
    }
    done += len;
  }
  return n;
}

void PageStore::Write(std::span<const uint8_t> buf, uint64_t offset) {
  size_t done = 0;
  while (done < buf.size()) {
    uint64_t pos = offset + done;
    size_t in_page = static_cast<size_t>(pos % kPageSize);
    size_t len =
        std::min(buf.size() - done, static_cast<size_t>(kPageSize) - in_page);
    std::unique_ptr<Page>& page = pages_[pos / kPageSize];
    if (!page) page = std::make_unique<Page>();  // value-initialised: zeros
    std::memcpy(page->data() + in_page, buf.data() + done, len);
    done += len;
  }
  size_ = std::max<uint64_t>(size_, offset + buf.size());
}

void PageStore::Truncate(uint64_t size) {
  if (size < size_) {
    // Pages starting at or past the new size go; the page the file now
    // ends in keeps its head and has its tail zeroed.
    pages_.erase(pages_.lower_bound((size + kPageSize - 1) / kPageSize),
                 pages_.end());
    if (size_t in_page = static_cast<size_t>(size % kPageSize); in_page) {
      auto it = pages_.find(size / kPageSize);
      if (it != pages_.end())
        std::memset(it->second->data() + in_page, 0, kPageSize - in_page);
    }
  }
  size_ = size;
}

uint64_t PageStore::PagesAdded(uint64_t offset, uint64_t length) const {
  uint64_t first = offset / kPageSize;
  uint64_t last = (offset + length - 1) / kPageSize;
  // Walks only allocated pages, never more than the store holds.
  auto allocated = static_cast<uint64_t>(
      std::distance(pages_.lower_bound(first), pages_.upper_bound(last)));
  return last - first + 1 - allocated;
}

Result<uint64_t> PageStore::SeekData(uint64_t offset) const {
  auto it = pages_.lower_bound(offset / kPageSize);
  if (it == pages_.end()) return Errno(ENXIO);  // only a hole up to EOF
  uint64_t pos = std::max(offset, it->first * kPageSize);
  if (pos >= size_) return Errno(ENXIO);
  return pos;
}

uint64_t PageStore::SeekHole(uint64_t offset) const {
  uint64_t index = offset / kPageSize;
  for (auto it = pages_.lower_bound(index);
       it != pages_.end() && it->first == index; ++it)
    ++index;
  return std::min(size_, std::max(offset, index * kPageSize));
}

Result<void> PageStore::CopyTo(int fd) const {
  if (size_ > 0 && ftruncate(fd, static_cast<off_t>(size_)) != 0)
    return Errno::FromErrno();
  for (const auto& [index, page] : pages_) {
    uint64_t start = index * kPageSize;
    // The last page is written only up to the size, which already covers
    // it: the memfd's size stays put.
    size_t len = static_cast<size_t>(std::min(kPageSize, size_ - start));
    HostIo io = PWriteFull(fd, {page->data(), len}, start);
    if (io.error != 0) return Errno(io.error);
  }
  return Ok();
}

void PageStore::Clear() {
  pages_.clear();
  size_ = 0;
}

}  // namespace veil::vfs::tmpfs
