// SPDX-License-Identifier: Apache-2.0
//
// Where tmpfs file data lives: small files in process memory (no host
// descriptor each), moved to a memfd on GetHostMemory, fallocate or growth
// past the threshold, with bytes, holes and st_blocks unchanged by the move.
#include <dirent.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

constexpr int64_t kPage = 4096;

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Host descriptors this process holds: a memfd per file would show here.
int OpenFdCount() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

using TmpfsPageStoreTest = VfsTest;

TEST_F(TmpfsPageStoreTest, ManySmallFilesNeedNoHostDescriptors) {
  // More non-empty files than RLIMIT_NOFILE allows descriptors (20,000 on
  // the CI machine, and not raisable there).
  constexpr int kFiles = 30000;
  rlimit nofile{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &nofile), 0);
  int fds_before = OpenFdCount();
  ASSERT_THAT(Mkdir("/d"), IsOk());
  for (int i = 0; i < kFiles; ++i) {
    std::string path = "/d/f" + std::to_string(i);
    auto f = Open(path, O_CREAT | O_WRONLY);
    ASSERT_THAT(f, IsOk()) << path;
    ASSERT_THAT((*f)->Write(Bytes("data " + std::to_string(i))), IsOk())
        << path << " (RLIMIT_NOFILE " << nofile.rlim_cur << ")";
  }
  EXPECT_EQ(OpenFdCount(), fds_before);
  EXPECT_EQ(ReadFile("/d/f0"), "data 0");
  EXPECT_EQ(ReadFile("/d/f29999"), "data 29999");
  auto st = Stat("/d/f12345");
  ASSERT_THAT(st, IsOk());
  EXPECT_EQ(st->size, 10u);
  EXPECT_EQ(st->blocks, 8u);
}

TEST_F(TmpfsPageStoreTest, GetHostMemoryKeepsBytesAndHoles) {
  auto f = Open("/m", O_CREAT | O_RDWR);
  ASSERT_THAT(f, IsOk());
  // Pages 0 and 3 hold data, 1-2 and 4-5 are holes; the file ends mid-page 5.
  ASSERT_THAT((*f)->PWrite(Bytes(std::string(100, 'a')), 10), IsOk());
  ASSERT_THAT((*f)->PWrite(Bytes("bbb"), 3 * kPage + 4000), IsOk());
  ASSERT_THAT(vfs_.Ftruncate(root_, **f, 5 * kPage + 7), IsOk());
  std::string before = ReadAll(**f);
  ASSERT_EQ(before.size(), static_cast<size_t>(5 * kPage + 7));
  auto st_before = (*f)->Stat();
  ASSERT_THAT(st_before, IsOk());
  EXPECT_EQ(st_before->blocks, 16u);
  int fds_before = OpenFdCount();

  auto mem = (*f)->GetHostMemory();
  ASSERT_THAT(mem, IsOk());
  EXPECT_EQ(OpenFdCount(), fds_before + 1);
  EXPECT_EQ(mem->offset, 0u);
  struct stat host;
  ASSERT_EQ(fstat(mem->fd, &host), 0);
  EXPECT_EQ(host.st_size, 5 * kPage + 7);
  EXPECT_EQ(host.st_blocks, 16);  // holes stayed holes
  EXPECT_EQ(lseek(mem->fd, 0, SEEK_DATA), 0);
  EXPECT_EQ(lseek(mem->fd, 0, SEEK_HOLE), kPage);
  EXPECT_EQ(lseek(mem->fd, kPage, SEEK_DATA), 3 * kPage);
  EXPECT_EQ(lseek(mem->fd, 3 * kPage, SEEK_HOLE), 4 * kPage);
  auto st_after = (*f)->Stat();
  EXPECT_EQ(st_after->size, st_before->size);
  EXPECT_EQ(st_after->blocks, st_before->blocks);
  EXPECT_EQ(st_after->mtime.tv_sec, st_before->mtime.tv_sec);    // moving is
  EXPECT_EQ(st_after->mtime.tv_nsec, st_before->mtime.tv_nsec);  // no change

  size_t len = static_cast<size_t>(host.st_size);
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  // (Reading a hole through a shared mapping allocates it, as on Linux.)
  EXPECT_EQ(std::string(static_cast<char*>(p), len), before);
  // From now on the memfd is the file: stores through the mapping are
  // what read(2) returns, and the VFS sees the same size and blocks.
  static_cast<char*>(p)[3 * kPage + 4001] = 'M';
  EXPECT_EQ(ReadAll(**f)[3 * kPage + 4001], 'M');
  munmap(p, len);
  auto again = (*f)->GetHostMemory();
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->fd, mem->fd);
}

// A tmpfs of its own, with a chosen memfd threshold.
struct SmallTmpfs {
  explicit SmallTmpfs(uint64_t threshold)
      : vfs(tmpfs::Tmpfs::Create(Options(threshold))), ctx(vfs.RootContext()) {}
  static tmpfs::TmpfsOptions Options(uint64_t threshold) {
    tmpfs::TmpfsOptions o;
    o.memfd_threshold = threshold;
    return o;
  }
  Result<Ref<FileDescription>> Create(std::string_view path) {
    return vfs.OpenAt(ctx, ctx.cwd, path, OpenHow{O_CREAT | O_RDWR, 0644, 0});
  }
  Vfs vfs;
  Context ctx;
};

TEST(TmpfsPageStoreGrowthTest, GrowthPastThresholdKeepsHolesAndBlocks) {
  SmallTmpfs fs(4 * kPage);
  auto f = fs.Create("/g");
  ASSERT_THAT(f, IsOk());
  // Pages 0, 2 and 4: three pages, under the threshold.
  for (int64_t page : {0, 2, 4})
    ASSERT_THAT(
        (*f)->PWrite(AsBytes(std::string(10, 'a' + page)), page * kPage),
        IsOk());
  int fds_before = OpenFdCount();
  EXPECT_EQ((*f)->Stat()->blocks, 24u);
  EXPECT_THAT((*f)->Seek(1, SEEK_HOLE), IsOkAndHolds(kPage));
  EXPECT_THAT((*f)->Seek(kPage, SEEK_DATA), IsOkAndHolds(2 * kPage));
  // Truncating down frees whole pages and zeroes the tail it keeps.
  ASSERT_THAT(fs.vfs.Ftruncate(fs.ctx, **f, 4 * kPage + 5), IsOk());
  ASSERT_THAT(fs.vfs.Ftruncate(fs.ctx, **f, 4 * kPage + 10), IsOk());
  uint8_t tail[10];
  ASSERT_THAT((*f)->PRead(tail, 4 * kPage), IsOkAndHolds(10u));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(tail), 10),
            std::string("eeeee\0\0\0\0\0", 10));
  // Pages 6 and 7 would make five: the data moves to a memfd first.
  ASSERT_THAT((*f)->PWrite(AsBytes(std::string(kPage, 'z')), 6 * kPage + 1),
              IsOk());
  EXPECT_EQ(OpenFdCount(), fds_before + 1);
  auto st = (*f)->Stat();
  EXPECT_EQ(st->size, static_cast<uint64_t>(7 * kPage + 1));
  EXPECT_EQ(st->blocks, 40u);
  EXPECT_THAT((*f)->Seek(0, SEEK_HOLE), IsOkAndHolds(kPage));
  EXPECT_THAT((*f)->Seek(kPage, SEEK_DATA), IsOkAndHolds(2 * kPage));
  EXPECT_THAT((*f)->Seek(2 * kPage, SEEK_HOLE), IsOkAndHolds(3 * kPage));
  EXPECT_THAT((*f)->Seek(5 * kPage, SEEK_DATA), IsOkAndHolds(6 * kPage));
  uint8_t b[3];
  ASSERT_THAT((*f)->PRead(b, 2 * kPage + 9), IsOkAndHolds(3u));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 3),
            std::string("c\0\0", 3));
  ASSERT_THAT((*f)->PRead(b, 6 * kPage), IsOkAndHolds(3u));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 3), std::string("\0zz", 3));
}

TEST(TmpfsPageStoreGrowthTest, RewritingAllocatedPagesIsNotGrowth) {
  SmallTmpfs fs(4 * kPage);
  auto f = fs.Create("/r");
  ASSERT_THAT(f, IsOk());
  std::string four_pages(4 * kPage, 'r');
  ASSERT_THAT((*f)->PWrite(AsBytes(four_pages), 0), IsOk());
  int fds_before = OpenFdCount();
  ASSERT_THAT((*f)->PWrite(AsBytes(four_pages), 0), IsOk());
  EXPECT_EQ(OpenFdCount(), fds_before);  // still exactly at the threshold
  ASSERT_THAT((*f)->PWrite(AsBytes("x"), 4 * kPage), IsOk());
  EXPECT_EQ(OpenFdCount(), fds_before + 1);  // a fifth page: past it
  EXPECT_EQ((*f)->Stat()->blocks, 40u);
}

TEST(TmpfsPageStoreGrowthTest, ZeroThresholdUsesAMemfdAtOnce) {
  SmallTmpfs fs(0);
  auto f = fs.Create("/z");
  ASSERT_THAT(f, IsOk());
  int fds_before = OpenFdCount();
  ASSERT_THAT(fs.vfs.Ftruncate(fs.ctx, **f, 3), IsOk());
  EXPECT_EQ(OpenFdCount(), fds_before + 1);
  EXPECT_EQ((*f)->Stat()->blocks, 0u);
}

TEST(TmpfsPageStoreGrowthTest, FarWritesAndFallocateUseAMemfd) {
  SmallTmpfs fs(uint64_t{1} << 20);
  auto far = fs.Create("/far");
  auto fal = fs.Create("/fal");
  ASSERT_THAT(far, IsOk());
  ASSERT_THAT(fal, IsOk());
  ASSERT_THAT((*fal)->PWrite(AsBytes("x"), 0), IsOk());
  int fds_before = OpenFdCount();
  // As on Linux: a write may end exactly at the largest file offset.
  ASSERT_THAT((*far)->PWrite(AsBytes("end"), INT64_MAX - 3), IsOkAndHolds(3u));
  EXPECT_EQ((*far)->Stat()->size, static_cast<uint64_t>(INT64_MAX));
  EXPECT_EQ((*far)->Stat()->blocks, 8u);
  ASSERT_THAT((*fal)->Allocate(FALLOC_FL_KEEP_SIZE, 0, 2 * kPage), IsOk());
  EXPECT_EQ(OpenFdCount(), fds_before + 2);
  EXPECT_EQ((*fal)->Stat()->size, 1u);
  EXPECT_EQ((*fal)->Stat()->blocks, 16u);
}

}  // namespace
}  // namespace veil::vfs::testing
