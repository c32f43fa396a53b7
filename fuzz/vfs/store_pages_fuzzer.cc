// SPDX-License-Identifier: Apache-2.0
//
// StorePages (a self-backed tmpfs file's data as runs of FileStore pages)
// against the host's shmem: the same writes, truncates, fallocates and
// hole punches on a StorePages and on a memfd, then the same answers from
// both: sizes, st_blocks, bytes, SEEK_DATA/SEEK_HOLE. After each input the
// file is cleared and the store must be empty again, its free runs
// coalesced into nothing (the allocator's bookkeeping).
//
// Input (FuzzedDataProvider): up to kMaxSteps operations, each a kind and
// its offsets and lengths. Offsets stay within a few pages of each other
// most of the time, so that runs split and merge; now and then one lands
// far out (sparse files). Seeds: fuzz/corpus/tmpfs_store_pages/ (random
// bytes; every byte string is a valid input).
#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "vfs/tmpfs/file_store.h"
#include "vfs/tmpfs/store_pages.h"

namespace {

using veil::vfs::tmpfs::FileStore;
using veil::vfs::tmpfs::StorePages;

constexpr uint64_t kPage = 4096;
constexpr int kMaxSteps = 64;

[[noreturn]] void Die(const char* what, uint64_t a = 0, uint64_t b = 0) {
  std::fprintf(stderr, "store_pages_fuzzer: %s (%llu vs %llu)\n", what,
               static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  std::abort();
}

void Same(const char* what, uint64_t veil, uint64_t host) {
  if (veil != host) Die(what, veil, host);
}

FileStore* Store() {
  static FileStore* store = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto created = FileStore::Create(tmp ? tmp : "/tmp");
    if (!created) Die("cannot create the store", created.error().code());
    return created->release();
  }();
  return store;
}

uint64_t Offset(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 9)) {
    case 0:  // far out: a sparse file
      return in.ConsumeIntegralInRange<uint64_t>(0, uint64_t{1} << 30);
    case 1:  // on a page boundary
      return in.ConsumeIntegralInRange<uint64_t>(0, 24) * kPage;
    default:  // near the first pages
      return in.ConsumeIntegralInRange<uint64_t>(0, 24 * kPage);
  }
}

uint64_t Length(FuzzedDataProvider& in) {
  return in.ConsumeBool()
             ? in.ConsumeIntegralInRange<uint64_t>(1, 3 * kPage)
             : in.ConsumeIntegralInRange<uint64_t>(1, 12) * kPage;
}

uint64_t HostSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) Die("fstat");
  return static_cast<uint64_t>(st.st_size);
}

uint64_t HostBlocks(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) Die("fstat");
  return static_cast<uint64_t>(st.st_blocks);
}

void Compare(const StorePages& veil, int host) {
  const uint64_t size = HostSize(host);
  Same("size", veil.size(), size);
  Same("st_blocks", veil.pages() * (kPage / 512), HostBlocks(host));
  // Every page's bytes, and the SEEK_DATA / SEEK_HOLE answer at each page
  // start and in the middle of it, up to a bound (sparse files are big).
  const uint64_t limit = std::min<uint64_t>(size, 40 * kPage);
  std::vector<uint8_t> a(kPage), b(kPage);
  for (uint64_t pos = 0; pos < limit; pos += kPage) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kPage, size - pos));
    auto got = veil.Read({a.data(), len}, pos);
    if (!got || *got != len) Die("read", pos, got ? *got : 0);
    if (pread(host, b.data(), len, static_cast<off_t>(pos)) !=
        static_cast<ssize_t>(len))
      Die("host pread", pos);
    if (std::memcmp(a.data(), b.data(), len) != 0) Die("bytes differ at", pos);
  }
  for (uint64_t pos = 0; pos < limit; pos += kPage / 2) {
    off_t data = lseek(host, static_cast<off_t>(pos), SEEK_DATA);
    auto veil_data = veil.SeekData(pos);
    if (data < 0) {
      if (veil_data) Die("SEEK_DATA: veil found data, host ENXIO", pos,
                         *veil_data);
    } else {
      if (!veil_data) Die("SEEK_DATA: host found data, veil ENXIO", pos,
                          static_cast<uint64_t>(data));
      Same("SEEK_DATA", *veil_data, static_cast<uint64_t>(data));
    }
    Same("SEEK_HOLE", veil.SeekHole(pos),
         static_cast<uint64_t>(lseek(host, static_cast<off_t>(pos), SEEK_HOLE)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  FileStore& store = *Store();
  int host = memfd_create("store-pages-fuzzer", MFD_CLOEXEC);
  if (host < 0) Die("memfd_create", errno);
  {
    StorePages veil(store);
    std::vector<uint8_t> buf;
    for (int step = 0; step < kMaxSteps && in.remaining_bytes() > 0; ++step) {
      switch (in.ConsumeIntegralInRange<int>(0, 4)) {
        case 0: {  // write
          uint64_t off = Offset(in);
          buf.resize(static_cast<size_t>(Length(in)));
          std::memset(buf.data(), in.ConsumeIntegral<uint8_t>() | 1,
                      buf.size());
          auto wrote = veil.Write(buf, off);
          if (!wrote || *wrote != buf.size()) Die("write failed", off);
          if (pwrite(host, buf.data(), buf.size(), static_cast<off_t>(off)) !=
              static_cast<ssize_t>(buf.size()))
            Die("host pwrite", off);
          break;
        }
        case 1: {  // truncate (shmem_setattr)
          uint64_t to = in.ConsumeBool() ? Offset(in) : veil.size();
          if (!veil.Truncate(to)) Die("truncate failed", to);
          if (ftruncate(host, static_cast<off_t>(to)) != 0)
            Die("host ftruncate", to);
          break;
        }
        case 2: {  // fallocate, keeping the size or not
          uint64_t off = Offset(in), len = Length(in);
          bool keep = in.ConsumeBool();
          if (!veil.Allocate(off, len, keep)) Die("allocate failed", off);
          if (fallocate(host, keep ? FALLOC_FL_KEEP_SIZE : 0,
                        static_cast<off_t>(off), static_cast<off_t>(len)) != 0)
            Die("host fallocate", off, static_cast<uint64_t>(errno));
          break;
        }
        case 3: {  // punch a hole
          uint64_t off = Offset(in), len = Length(in);
          if (!veil.PunchHole(off, len)) Die("punch failed", off);
          if (fallocate(host, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(off), static_cast<off_t>(len)) != 0)
            Die("host punch", off);
          break;
        }
        default:
          Compare(veil, host);
          break;
      }
    }
    Compare(veil, host);
    Same("store pages in use", store.allocated_pages(), veil.pages());
  }
  close(host);
  Same("store pages after the file went", store.allocated_pages(), 0);
  Same("store size after the file went", store.size_pages(), 0);
  return 0;
}
