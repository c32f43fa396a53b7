// SPDX-License-Identifier: Apache-2.0
//
// File data through Dispatch (--strict: every read and write trapped).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>

#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

class SysReadWriteTest : public testing::KernelTest {};

TEST_F(SysReadWriteTest, WriteSeekRead) {
  int64_t fd = Call(SYS_open, Str("/f"), O_RDWR | O_CREAT, 0644);
  ASSERT_EQ(fd, 0);
  EXPECT_EQ(Call(SYS_write, fd, Str("hello world"), 11), 11);
  EXPECT_EQ(Call(SYS_lseek, fd, 0, SEEK_CUR), 11);
  EXPECT_EQ(Call(SYS_lseek, fd, 6, SEEK_SET), 6);
  uint64_t buf = Alloc(64);
  EXPECT_EQ(Call(SYS_read, fd, buf, 64), 5);
  EXPECT_EQ(GetString(buf, 5), "world");
  EXPECT_EQ(Call(SYS_read, fd, buf, 64), 0);
  EXPECT_EQ(Call(SYS_lseek, fd, -1, SEEK_SET), -EINVAL);
  EXPECT_EQ(Call(SYS_lseek, fd, 0, 42), -EINVAL);
  EXPECT_EQ(Call(SYS_lseek, fd, -3, SEEK_END), 8);
}

TEST_F(SysReadWriteTest, PreadPwriteLeaveTheOffset) {
  int64_t fd = Call(SYS_open, Str("/f"), O_RDWR | O_CREAT, 0644);
  EXPECT_EQ(Call(SYS_pwrite64, fd, Str("abcdef"), 6, 10), 6);
  EXPECT_EQ(Call(SYS_lseek, fd, 0, SEEK_CUR), 0);
  uint64_t buf = Alloc(32);
  EXPECT_EQ(Call(SYS_pread64, fd, buf, 32, 12), 4);
  EXPECT_EQ(GetString(buf, 4), "cdef");
  EXPECT_EQ(Call(SYS_pread64, fd, buf, 32, -1), -EINVAL);
  // A negative position is EINVAL before the fd is looked at.
  EXPECT_EQ(Call(SYS_pread64, 99, buf, 32, -1), -EINVAL);
  EXPECT_EQ(Call(SYS_pread64, 99, buf, 32, 0), -EBADF);
  // rw_verify_area: a range ending past LLONG_MAX.
  EXPECT_EQ(Call(SYS_pread64, fd, buf, 6, INT64_MAX - 5), -EINVAL);
  EXPECT_EQ(Call(SYS_pwrite64, fd, buf, 6, INT64_MAX - 5), -EINVAL);
  EXPECT_EQ(Call(SYS_pread64, fd, buf, 5, INT64_MAX - 5), 0);
  // The whole vector counts, not each segment on its own.
  const struct iovec two[2] = {{reinterpret_cast<void*>(buf), 3},
                               {reinterpret_cast<void*>(buf + 3), 3}};
  EXPECT_EQ(Call(SYS_preadv, fd, Put(two), 2, INT64_MAX - 5, 0), -EINVAL);
  EXPECT_EQ(Call(SYS_pwritev, fd, Put(two), 2, INT64_MAX - 5, 0), -EINVAL);
}

TEST_F(SysReadWriteTest, AccessModeIsChecked) {
  WriteFile("/f", "data");
  int64_t ro = Call(SYS_open, Str("/f"), O_RDONLY);
  int64_t wo = Call(SYS_open, Str("/f"), O_WRONLY);
  int64_t path = Call(SYS_open, Str("/f"), O_PATH);
  uint64_t buf = Alloc(8);
  EXPECT_EQ(Call(SYS_write, ro, buf, 1), -EBADF);
  EXPECT_EQ(Call(SYS_read, wo, buf, 1), -EBADF);
  EXPECT_EQ(Call(SYS_read, path, buf, 1), -EBADF);
  EXPECT_EQ(Call(SYS_read, 99, buf, 1), -EBADF);
  int64_t dir = Call(SYS_open, Str("/"), O_RDONLY);
  EXPECT_EQ(Call(SYS_read, dir, buf, 1), -EISDIR);
  // Even for nothing (generic_read_dir); readv of no bytes is 0 (vfs_readv).
  EXPECT_EQ(Call(SYS_read, dir, buf, 0), -EISDIR);
  EXPECT_EQ(Call(SYS_pread64, dir, buf, 0, 0), -EISDIR);
  EXPECT_EQ(Call(SYS_readv, dir, buf, 0), 0);
}

// A read of nothing still reaches a regular file, which stamps atime
// (shmem_file_read_iter); readv of nothing stops before (vfs_readv).
TEST_F(SysReadWriteTest, ReadOfNothingTouchesAtime) {
  WriteFile("/f", "data");
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  uint64_t buf = Alloc(8), st = Alloc(sizeof(struct stat));
  const struct timespec old[2] = {{1000, 0}, {2000, 0}};  // relatime: due
  auto atime_after = [&](int nr, uint64_t count) {
    EXPECT_EQ(Call(SYS_utimensat, AT_FDCWD, Str("/f"), Put(old), 0), 0);
    EXPECT_EQ(nr == SYS_readv ? Call(nr, fd, buf, count)
                              : Call(nr, fd, buf, count, 0),
              0);
    EXPECT_EQ(Call(SYS_fstat, fd, st), 0);
    return Get<struct stat>(st).st_atim.tv_sec;
  };
  EXPECT_NE(atime_after(SYS_pread64, 0), 1000);
  EXPECT_NE(atime_after(SYS_read, 0), 1000);
  EXPECT_EQ(atime_after(SYS_readv, 0), 1000);
}

TEST_F(SysReadWriteTest, BadBuffers) {
  WriteFile("/f", "0123456789");
  int64_t fd = Call(SYS_open, Str("/f"), O_RDWR);
  EXPECT_EQ(Call(SYS_read, fd, 0, 4), -EFAULT);
  EXPECT_EQ(Call(SYS_write, fd, 0, 4), -EFAULT);
  EXPECT_EQ(Call(SYS_read, fd, kTaskSizeMax - 2, 4), -EFAULT);  // access_ok
  // A buffer that runs into unmapped memory: the bytes that fit.
  uint64_t end = testing::kScratch + testing::kScratchSize;
  EXPECT_EQ(Call(SYS_read, fd, end - 3, 8), 3);
  EXPECT_EQ(GetString(end - 3, 3), "012");
  EXPECT_EQ(Call(SYS_lseek, fd, 0, SEEK_SET), 0);
  EXPECT_EQ(Call(SYS_write, fd, end - 2, 8), 2);  // writes what it could read
  EXPECT_EQ(Call(SYS_read, fd, 0, 0), 0);         // nothing to copy: no fault
}

TEST_F(SysReadWriteTest, Vectored) {
  int64_t fd = Call(SYS_open, Str("/f"), O_RDWR | O_CREAT, 0644);
  uint64_t a = Str("abc"), b = Str("defgh");
  struct iovec out[2] = {{reinterpret_cast<void*>(a), 3},
                         {reinterpret_cast<void*>(b), 5}};
  EXPECT_EQ(Call(SYS_writev, fd, Put(out), 2), 8);
  uint64_t x = Alloc(2), y = Alloc(16);
  struct iovec in[2] = {{reinterpret_cast<void*>(x), 2},
                        {reinterpret_cast<void*>(y), 16}};
  EXPECT_EQ(Call(SYS_preadv, fd, Put(in), 2, 1), 7);
  EXPECT_EQ(GetString(x, 2), "bc");
  EXPECT_EQ(GetString(y, 5), "defgh");
  EXPECT_EQ(Call(SYS_readv, fd, Put(in), 1025), -EINVAL);
  EXPECT_EQ(Call(SYS_readv, fd, 0, 1), -EFAULT);
  EXPECT_EQ(Call(SYS_readv, fd, 0, 0), 0);
  // preadv2 with -1: the current offset (8: at the end).
  EXPECT_EQ(Call(SYS_preadv2, fd, Put(in), 2, -1, 0, 0), 0);
  EXPECT_EQ(Call(SYS_preadv2, fd, Put(in), 2, 0, 0, 0x40), -EOPNOTSUPP);
  EXPECT_EQ(Call(SYS_pwritev2, fd, Put(out), 1, 0, 0, 0), 3);
}

TEST_F(SysReadWriteTest, LargeWritesCrossChunks) {
  int64_t fd = Call(SYS_open, Str("/f"), O_RDWR | O_CREAT, 0644);
  std::string big(200 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = 'a' + (i / 4096) % 26;
  uint64_t src = PutBytes(big.data(), big.size());
  EXPECT_EQ(Call(SYS_write, fd, src, big.size()),
            static_cast<int64_t>(big.size()));
  uint64_t dst = Alloc(big.size());
  EXPECT_EQ(Call(SYS_pread64, fd, dst, big.size(), 0),
            static_cast<int64_t>(big.size()));
  EXPECT_EQ(GetString(dst, big.size()), big);
}

TEST_F(SysReadWriteTest, SyncCalls) {
  WriteFile("/f", "x");
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  EXPECT_EQ(Call(SYS_fsync, fd), 0);
  EXPECT_EQ(Call(SYS_fdatasync, fd), 0);
  EXPECT_EQ(Call(SYS_fsync, 99), -EBADF);
  EXPECT_EQ(Call(SYS_sync), 0);
  EXPECT_EQ(Call(SYS_syncfs, fd), 0);
}

}  // namespace
}  // namespace veil::sentry
