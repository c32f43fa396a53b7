// SPDX-License-Identifier: Apache-2.0
//
// FileStore: the page allocator of a self-backed tmpfs over one host file.
#include "vfs/tmpfs/file_store.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/host_io.h"

namespace veil::vfs::tmpfs {
namespace {

constexpr off_t PageOffset(uint64_t page) {
  return static_cast<off_t>(page * FileStore::kPageSize);
}

// Writes zeros over `length` bytes at `offset`; false on any error.
bool WriteZeros(int fd, off_t offset, uint64_t length) {
  static const std::vector<uint8_t> zeros(1 << 20);
  while (length > 0) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(length, zeros.size()));
    if (PWriteFull(fd, {zeros.data(), len}, static_cast<uint64_t>(offset))
            .error != 0)
      return false;
    offset += static_cast<off_t>(len);
    length -= len;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<FileStore>> FileStore::Create(const std::string& dir) {
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return Errno::FromErrno();
  UniqueFd dir_fd(d);
  UniqueFd file = VEIL_TRY(CreateUnnamed(dir_fd.get()));
  return std::unique_ptr<FileStore>(
      new FileStore(std::move(dir_fd), std::move(file)));
}

FileStore::FileStore(UniqueFd dir, UniqueFd file)
    : dir_(std::move(dir)), file_(std::move(file)) {}

FileStore::~FileStore() = default;

Result<UniqueFd> FileStore::CreateUnnamed(int dir) {
  int fd = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return UniqueFd(fd);
  // A host filesystem without O_TMPFILE: a random name, unlinked at once.
  // (Only a crash between the two calls can leave it behind.)
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return Errno::FromErrno();
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) return Errno::FromErrno();
    char name[64];
    std::snprintf(name, sizeof name, ".veil-store-%016" PRIx64, r);
    fd = openat(dir, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) return Errno::FromErrno();
    UniqueFd file(fd);
    if (unlinkat(dir, name, 0) != 0) {
      // Not left behind silently: said, with its name, then refused.
      int error = errno;
      std::fprintf(stderr,
                   "veil: cannot remove the store file %s just made in the "
                   "store directory: %s\n",
                   name, std::strerror(error));
      return Errno(error);
    }
    return file;
  }
  return Errno(EEXIST);
}

Result<UniqueFd> FileStore::CreateFile() const {
  return CreateUnnamed(dir_.get());
}

FileStore::Extent FileStore::Allocate(uint64_t count, uint64_t hint) {
  MutexLock lock(mutex_);
  Extent got;
  auto take = [&](std::map<uint64_t, uint64_t>::iterator run, uint64_t at)
                  VEIL_REQUIRES(mutex_) {
    uint64_t run_first = run->first;
    uint64_t run_end = run->first + run->second;
    got = {at, std::min(count, run_end - at)};
    free_.erase(run);
    if (run_first < at) free_.emplace(run_first, at - run_first);
    if (at + got.count < run_end)
      free_.emplace(at + got.count, run_end - at - got.count);
  };
  auto run = free_.upper_bound(hint);
  if (run != free_.begin() && std::prev(run)->first + std::prev(run)->second >
                                  hint) {
    take(std::prev(run), hint);
  } else if (hint == end_ || free_.empty()) {
    got = {end_, count};
    end_ += count;
  } else {
    take(free_.begin(), free_.begin()->first);
  }
  allocated_ += got.count;
  return got;
}

void FileStore::Free(Extent pages) {
  if (pages.count == 0) return;
  MutexLock lock(mutex_);
  allocated_ -= pages.count;
  PunchLocked(pages);
}

void FileStore::PunchLocked(Extent pages) {
  uint64_t first = pages.first;
  uint64_t end = pages.first + pages.count;
  if (end == end_) {
    // The top of the store (with the free run just below it): shrink the
    // host file instead of punching.
    uint64_t new_end = first;
    auto below = free_.empty() ? free_.end() : std::prev(free_.end());
    if (below != free_.end() && below->first + below->second == first)
      new_end = below->first;
    if (ftruncate(file_.get(), PageOffset(new_end)) == 0) {
      if (new_end != first) free_.erase(below);
      end_ = new_end;
      return;
    }
  }
  if (fallocate(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                PageOffset(first), PageOffset(pages.count)) != 0 &&
      !WriteZeros(file_.get(), PageOffset(first), pages.count * kPageSize)) {
    // Neither punched nor zeroed (an I/O error): the pages are never handed
    // out again, since a reused page must read as zeros.
    return;
  }
  auto next = free_.lower_bound(first);
  if (next != free_.end() && next->first == end) {
    end += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == first) {
      first = prev->first;
      free_.erase(prev);
    }
  }
  free_.emplace(first, end - first);
}

Result<void> FileStore::Reserve(Extent pages) {
  if (pages.count == 0) return Ok();
  if (fallocate(file_.get(), 0, PageOffset(pages.first),
                PageOffset(pages.count)) == 0)
    return Ok();
  if (errno == EOPNOTSUPP) return Ok();
  return Errno::FromErrno();
}

uint64_t FileStore::allocated_pages() const {
  MutexLock lock(mutex_);
  return allocated_;
}

uint64_t FileStore::size_pages() const {
  MutexLock lock(mutex_);
  return end_;
}

}  // namespace veil::vfs::tmpfs
