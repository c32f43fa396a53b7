// SPDX-License-Identifier: Apache-2.0
//
// A self-backed tmpfs: file data in pages of one host file (FileStore), not
// in process memory. The page semantics themselves (shmem's st_blocks,
// SEEK_DATA/SEEK_HOLE, fallocate, truncate) are checked against the host's
// tmpfs by difftest_tmpfs_test's self-backed suite; here: where the bytes
// go, that freed space returns to the disk, the move to a host file of its
// own, and that a full disk loses nothing.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/unit/vfs/fixture.h"
#include "vfs/tmpfs/file_store.h"

namespace veil::vfs::testing {
namespace {

constexpr int64_t kPage = 4096;
constexpr uint64_t kAnywhere = ~uint64_t{0};

std::string TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp ? tmp : "/tmp";
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Disk blocks (512 bytes) the host gives the file behind `fd`.
uint64_t HostBlocks(int fd) {
  struct stat st {};
  EXPECT_EQ(fstat(fd, &st), 0);
  return static_cast<uint64_t>(st.st_blocks);
}

std::string Pattern(size_t size, char seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i)
    s[i] = static_cast<char>(seed + static_cast<char>(i % 251));
  return s;
}

TEST(FileStoreTest, CreateReportsTheHostErrno) {
  EXPECT_THAT(tmpfs::FileStore::Create("/nonexistent-veil-dir"),
              ErrnoIs(ENOENT));
  EXPECT_THAT(tmpfs::FileStore::Create("/proc/self/status"),
              ErrnoIs(ENOTDIR));
}

TEST(FileStoreTest, AllocatorKeepsRunsAndReusesFreedPagesAsZeros) {
  auto store = tmpfs::FileStore::Create(TempDir());
  ASSERT_THAT(store, IsOk());
  tmpfs::FileStore& s = **store;
  auto a = s.Allocate(4, kAnywhere);
  EXPECT_EQ(a.first, 0u);
  EXPECT_EQ(a.count, 4u);
  // A hint at the end of a run extends it.
  auto b = s.Allocate(2, a.first + a.count);
  EXPECT_EQ(b.first, 4u);
  EXPECT_EQ(b.count, 2u);
  std::string data = Pattern(4 * kPage, 'a');
  ASSERT_EQ(pwrite(s.fd(), data.data(), data.size(), 0),
            static_cast<ssize_t>(data.size()));
  // Freed pages come back (lowest first, at most the free run's length)
  // reading as zeros, and take no disk space meanwhile.
  s.Free(a);
  EXPECT_EQ(s.allocated_pages(), 2u);
  auto c = s.Allocate(8, kAnywhere);
  EXPECT_EQ(c.first, 0u);
  EXPECT_EQ(c.count, 4u);
  std::string back(4 * kPage, 'x');
  ASSERT_EQ(pread(s.fd(), back.data(), back.size(), 0),
            static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, std::string(4 * kPage, '\0'));
  // Freeing the top of the store shrinks the host file.
  s.Free(b);
  s.Free(c);
  EXPECT_EQ(s.allocated_pages(), 0u);
  EXPECT_EQ(s.size_pages(), 0u);
  EXPECT_EQ(HostBlocks(s.fd()), 0u);
}

class SelfBackedTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(TempDir()); }

  void Start(const std::string& dir) {
    auto store = tmpfs::FileStore::Create(dir);
    ASSERT_THAT(store, IsOk());
    store_ = std::move(*store);
    tmpfs::TmpfsOptions options;
    options.store = store_;
    vfs_.emplace(tmpfs::Tmpfs::Create(options));
    ctx_.emplace(vfs_->RootContext());
  }

  Result<Ref<FileDescription>> Create(std::string_view path) {
    return vfs_->OpenAt(*ctx_, ctx_->cwd, path,
                        OpenHow{O_CREAT | O_RDWR, 0644, 0});
  }
  std::string Read(FileDescription& f, int64_t offset, size_t size) {
    std::string out(size, '\0');
    auto n = f.PRead({reinterpret_cast<uint8_t*>(out.data()), size}, offset);
    EXPECT_THAT(n, IsOk());
    out.resize(n ? *n : 0);
    return out;
  }

  std::shared_ptr<tmpfs::FileStore> store_;
  std::optional<Vfs> vfs_;
  std::optional<Context> ctx_;
};

TEST_F(SelfBackedTest, DataLivesInTheStoreAndFreesItsDiskSpace) {
  std::string data = Pattern(8 << 20, 'q');
  {
    auto f = Create("/big");
    ASSERT_THAT(f, IsOk());
    ASSERT_THAT((*f)->PWrite(AsBytes(data), 0), IsOkAndHolds(data.size()));
    // Past the 1 MiB memfd threshold, and still in the store.
    EXPECT_EQ(store_->allocated_pages(), 2048u);
    EXPECT_GE(HostBlocks(store_->fd()), uint64_t{8 << 20} / 512);
    EXPECT_EQ(Read(**f, 4 << 20, 100), data.substr(4 << 20, 100));
    auto st = (*f)->Stat();
    ASSERT_THAT(st, IsOk());
    EXPECT_EQ(st->size, data.size());
    EXPECT_EQ(st->blocks, (8u << 20) / 512);
    ASSERT_THAT(vfs_->UnlinkAt(*ctx_, vfs_->RootLocation(), "/big", 0),
                IsOk());
    EXPECT_EQ(store_->allocated_pages(), 2048u);  // still open
  }
  // The last close frees the pages, and the disk space with them.
  EXPECT_EQ(store_->allocated_pages(), 0u);
  EXPECT_EQ(HostBlocks(store_->fd()), 0u);
}

TEST_F(SelfBackedTest, SparseFileCostsOnlyItsPages) {
  auto f = Create("/sparse");
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT((*f)->PWrite(AsBytes(std::string("head")), 0), IsOk());
  constexpr int64_t kFar = int64_t{100} << 30;  // 100 GiB
  ASSERT_THAT((*f)->PWrite(AsBytes(std::string("tail")), kFar), IsOk());
  EXPECT_EQ(store_->allocated_pages(), 2u);
  EXPECT_EQ((*f)->Stat()->blocks, 16u);
  EXPECT_THAT((*f)->Seek(0, SEEK_HOLE), IsOkAndHolds(kPage));
  EXPECT_THAT((*f)->Seek(kPage, SEEK_DATA), IsOkAndHolds(kFar));
  EXPECT_EQ(Read(**f, kFar - 2, 6), std::string("\0\0tail", 6));
}

TEST_F(SelfBackedTest, FallocatedPagesCountButReadAsHoles) {
  auto f = Create("/falloc");
  ASSERT_THAT(f, IsOk());
  Credentials root = ctx_->creds;
  // Four pages past EOF (KEEP_SIZE): counted, size unchanged.
  ASSERT_THAT((*f)->Allocate(root, FALLOC_FL_KEEP_SIZE, 0, 4 * kPage),
              IsOk());
  EXPECT_EQ((*f)->Stat()->size, 0u);
  EXPECT_EQ((*f)->Stat()->blocks, 32u);
  ASSERT_THAT((*f)->PWrite(AsBytes(std::string("x")), 2 * kPage), IsOk());
  // Pages 0-1 are fallocated, not written: a hole to SEEK_DATA.
  EXPECT_THAT((*f)->Seek(0, SEEK_DATA), IsOkAndHolds(2 * kPage));
  EXPECT_EQ((*f)->Stat()->blocks, 32u);
  // Truncating to the size drops the page past EOF.
  ASSERT_THAT(vfs_->Ftruncate(*ctx_, **f, 2 * kPage + 1), IsOk());
  EXPECT_EQ((*f)->Stat()->blocks, 24u);
  // A punched hole frees whole pages and zeroes partial ones.
  ASSERT_THAT((*f)->PWrite(AsBytes(Pattern(3 * kPage, 'a')), 0), IsOk());
  EXPECT_EQ((*f)->Stat()->blocks, 24u);
  ASSERT_THAT((*f)->Allocate(root, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             10, 2 * kPage),
              IsOk());
  EXPECT_EQ((*f)->Stat()->blocks, 16u);
  EXPECT_EQ(Read(**f, 0, 12), Pattern(10, 'a') + std::string(2, '\0'));
  EXPECT_EQ(Read(**f, kPage, kPage), std::string(kPage, '\0'));
  EXPECT_EQ(Read(**f, 2 * kPage + 8, 4),
            std::string(2, '\0') + Pattern(3 * kPage, 'a').substr(
                                       2 * kPage + 10, 2));
  // Modes shmem does not know are refused as shmem refuses them.
  EXPECT_THAT((*f)->Allocate(root, FALLOC_FL_ZERO_RANGE, 0, kPage),
              ErrnoIs(EOPNOTSUPP));
  EXPECT_EQ(store_->allocated_pages(), 2u);
}

TEST_F(SelfBackedTest, MappedFileMovesBesideTheStoreWithItsHoles) {
  auto f = Create("/mapped");
  ASSERT_THAT(f, IsOk());
  std::string data = Pattern(3 * kPage, 'm');
  ASSERT_THAT((*f)->PWrite(AsBytes(data), 0), IsOk());
  ASSERT_THAT((*f)->PWrite(AsBytes(data), 64 * kPage), IsOk());
  EXPECT_EQ(store_->allocated_pages(), 6u);
  auto mem = (*f)->GetHostMemory();
  ASSERT_THAT(mem, IsOk());
  EXPECT_EQ(store_->allocated_pages(), 0u);  // the store let go of them
  struct stat st {};
  ASSERT_EQ(fstat(mem->fd, &st), 0);
  EXPECT_EQ(st.st_size, 67 * kPage);
  EXPECT_EQ(st.st_nlink, 0u);  // unnamed: nothing is left on the host
  EXPECT_EQ(lseek(mem->fd, 3 * kPage, SEEK_DATA), 64 * kPage);
  std::string back(3 * kPage, '\0');
  ASSERT_EQ(pread(mem->fd, back.data(), back.size(), 64 * kPage),
            static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, data);
  // The VFS reads the same bytes from there on.
  EXPECT_EQ(Read(**f, kPage, 8), data.substr(kPage, 8));
  ASSERT_THAT((*f)->PWrite(AsBytes(std::string("new")), 0), IsOk());
  char head[3];
  ASSERT_EQ(pread(mem->fd, head, 3, 0), 3);
  EXPECT_EQ(std::string(head, 3), "new");
}

TEST_F(SelfBackedTest, StatfsReportsTheStoresDisk) {
  auto st = vfs_->StatFsAt(*ctx_, vfs_->RootLocation(), "/", 0);
  ASSERT_THAT(st, IsOk());
  struct statfs host {};
  ASSERT_EQ(fstatfs(store_->fd(), &host), 0);
  EXPECT_EQ(st->f_type, TMPFS_MAGIC);
  EXPECT_EQ(st->f_bsize, 4096);
  EXPECT_EQ(st->f_blocks * 4096, host.f_blocks * host.f_bsize);
  EXPECT_GT(st->f_bavail, 0u);
}

// A store on a 1 MiB disk (a small host tmpfs), for the tests below.
class SmallDiskTest : public SelfBackedTest {
 protected:
  void SetUp() override {
    ASSERT_NE(mkdtemp(dir_), nullptr);
    if (mount("veil-full", dir_, "tmpfs", 0, "size=1m") != 0) {
      int err = errno;
      rmdir(dir_);
      dir_[0] = '\0';
      GTEST_SKIP() << "cannot mount a 1 MiB tmpfs for a full disk: "
                   << strerror(err);
    }
    Start(dir_);
  }
  void TearDown() override {
    ctx_.reset();
    vfs_.reset();
    store_.reset();
    if (dir_[0] == '\0') return;
    EXPECT_EQ(umount(dir_), 0) << strerror(errno);
    rmdir(dir_);
  }
  char dir_[32] = "/tmp/veil-full-XXXXXX";
};

// A write that does not fit is short, as on Linux: what fitted is there
// and counted, nothing else was allocated; a write with no room at all
// fails with ENOSPC and changes nothing.
TEST_F(SmallDiskTest, FullDiskGivesShortWritesAndKeepsTheFile) {
  auto f = Create("/f");
  ASSERT_THAT(f, IsOk());
  std::string small = Pattern(100, 's');
  ASSERT_THAT((*f)->PWrite(AsBytes(small), 0), IsOk());
  std::string big = Pattern(4 << 20, 'b');
  auto wrote = (*f)->PWrite(AsBytes(big), kPage);
  size_t n = wrote ? *wrote : 0;
  if (!wrote) {
    EXPECT_THAT(wrote, ErrnoIs(ENOSPC));
  }
  ASSERT_LT(n, big.size());
  EXPECT_EQ((*f)->Stat()->size, n ? kPage + n : 100u);
  EXPECT_EQ(Read(**f, 0, 100), small);
  EXPECT_EQ(Read(**f, kPage, n), big.substr(0, n));
  uint64_t pages = 1 + (n + kPage - 1) / kPage;
  EXPECT_EQ(store_->allocated_pages(), pages);
  EXPECT_EQ((*f)->Stat()->blocks, pages * 8);
  // No room at all: ENOSPC, and the file as it was.
  uint64_t size = (*f)->Stat()->size;
  EXPECT_THAT((*f)->PWrite(AsBytes(big), int64_t{64} << 20), ErrnoIs(ENOSPC));
  EXPECT_EQ((*f)->Stat()->size, size);
  EXPECT_EQ(store_->allocated_pages(), pages);
  // fallocate's promise: ENOSPC now, with nothing allocated, never on a
  // later write.
  ASSERT_THAT(vfs_->Ftruncate(*ctx_, **f, 100), IsOk());
  EXPECT_EQ(store_->allocated_pages(), 1u);
  EXPECT_THAT((*f)->Allocate(ctx_->creds, 0, 0, 4 << 20), ErrnoIs(ENOSPC));
  EXPECT_EQ((*f)->Stat()->size, 100u);
  EXPECT_EQ(store_->allocated_pages(), 1u);
  EXPECT_THAT((*f)->PWrite(AsBytes(small), kPage), IsOkAndHolds(100u));
}

// Preallocating page by page (a log, a database file): each fallocate
// reserves its page, including pages that join the run before them, so
// the disk runs out at a fallocate, and every preallocated page can then
// be written in full.
TEST_F(SmallDiskTest, FallocateInStepsReservesEveryPage) {
  auto f = Create("/log");
  ASSERT_THAT(f, IsOk());
  int64_t reserved = 0;
  for (; reserved < 1024; ++reserved) {
    auto r = (*f)->Allocate(ctx_->creds, FALLOC_FL_KEEP_SIZE,
                            reserved * kPage, kPage);
    if (!r) {
      EXPECT_THAT(r, ErrnoIs(ENOSPC));
      break;
    }
  }
  ASSERT_LT(reserved, 1024) << "4 MiB preallocated on a 1 MiB disk";
  ASSERT_GT(reserved, 0);
  std::string page = Pattern(kPage, 'p');
  for (int64_t i = 0; i < reserved; ++i)
    ASSERT_THAT((*f)->PWrite(AsBytes(page), i * kPage), IsOkAndHolds(page.size()))
        << "page " << i << " of " << reserved;
}

}  // namespace
}  // namespace veil::vfs::testing
