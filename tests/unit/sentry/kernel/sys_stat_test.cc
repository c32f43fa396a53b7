// SPDX-License-Identifier: Apache-2.0
//
// Metadata calls through Dispatch.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

class SysStatTest : public testing::KernelTest {};

TEST_F(SysStatTest, FstatAndTheGlibcForm) {
  WriteFile("/f", "hello");
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  uint64_t a = Alloc(sizeof(struct stat)), b = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_fstat, fd, a), 0);
  EXPECT_EQ(Get<struct stat>(a).st_size, 5);
  EXPECT_EQ(Get<struct stat>(a).st_mode, S_IFREG | 0644u);
  // glibc's fstat: newfstatat(fd, "", buf, AT_EMPTY_PATH).
  ASSERT_EQ(Call(SYS_newfstatat, fd, Str(""), b, AT_EMPTY_PATH), 0);
  EXPECT_EQ(Get<struct stat>(b).st_ino, Get<struct stat>(a).st_ino);
  // Linux 6.11+: a NULL path with AT_EMPTY_PATH is the same.
  ASSERT_EQ(Call(SYS_newfstatat, fd, 0, b, AT_EMPTY_PATH), 0);
  EXPECT_EQ(Call(SYS_newfstatat, fd, Str(""), b, 0), -ENOENT);
  EXPECT_EQ(Call(SYS_newfstatat, 77, Str(""), b, AT_EMPTY_PATH), -EBADF);
  EXPECT_EQ(Call(SYS_newfstatat, AT_FDCWD, Str("/f"), b, 0x8000000), -EINVAL);
  EXPECT_EQ(Call(SYS_fstat, fd, 0), -EFAULT);
  EXPECT_EQ(Call(SYS_fstat, 77, a), -EBADF);
  // fstat takes O_PATH fds.
  int64_t p = Call(SYS_open, Str("/f"), O_PATH);
  EXPECT_EQ(Call(SYS_fstat, p, a), 0);
}

TEST_F(SysStatTest, StatFollowsLstatDoesNot) {
  WriteFile("/f", "abc");
  ASSERT_EQ(Call(SYS_symlink, Str("/f"), Str("/l")), 0);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_stat, Str("/l"), st), 0);
  EXPECT_TRUE(S_ISREG(Get<struct stat>(st).st_mode));
  ASSERT_EQ(Call(SYS_lstat, Str("/l"), st), 0);
  EXPECT_TRUE(S_ISLNK(Get<struct stat>(st).st_mode));
  EXPECT_EQ(Get<struct stat>(st).st_size, 2);
  EXPECT_EQ(Call(SYS_stat, Str("/nothere"), st), -ENOENT);
}

TEST_F(SysStatTest, Statx) {
  WriteFile("/f", "12345678");
  uint64_t sx = Alloc(sizeof(struct statx));
  ASSERT_EQ(Call(SYS_statx, AT_FDCWD, Str("/f"), 0, STATX_BASIC_STATS, sx), 0);
  struct statx s = Get<struct statx>(sx);
  EXPECT_EQ(s.stx_size, 8u);
  EXPECT_EQ(s.stx_mode, S_IFREG | 0644);
  EXPECT_EQ(s.stx_mask & STATX_BASIC_STATS, unsigned{STATX_BASIC_STATS});
  EXPECT_EQ(Call(SYS_statx, AT_FDCWD, Str("/f"), 0, 0x80000000u, sx), -EINVAL);
  EXPECT_EQ(Call(SYS_statx, AT_FDCWD, Str("/f"), 0x6000, 0, sx), -EINVAL);
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  ASSERT_EQ(Call(SYS_statx, fd, Str(""), AT_EMPTY_PATH, STATX_SIZE, sx), 0);
  EXPECT_EQ(Get<struct statx>(sx).stx_ino, s.stx_ino);
}

TEST_F(SysStatTest, AccessChmodChown) {
  WriteFile("/f", "");
  EXPECT_EQ(Call(SYS_access, Str("/f"), R_OK | W_OK), 0);
  EXPECT_EQ(Call(SYS_access, Str("/f"), 8), -EINVAL);
  EXPECT_EQ(Call(SYS_faccessat2, AT_FDCWD, Str("/f"), R_OK, 0x1), -EINVAL);
  EXPECT_EQ(Call(SYS_chmod, Str("/f"), 0600), 0);
  EXPECT_EQ(Call(SYS_chown, Str("/f"), 1000, 1000), 0);
  task_.set_creds(vfs::Credentials::User(1001, 1001, {}));
  EXPECT_EQ(Call(SYS_access, Str("/f"), R_OK), -EACCES);
  EXPECT_EQ(Call(SYS_chmod, Str("/f"), 0666), -EPERM);
  task_.set_creds(vfs::Credentials::User(1000, 1000, {}));
  EXPECT_EQ(Call(SYS_access, Str("/f"), R_OK), 0);
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  EXPECT_EQ(Call(SYS_fchmod, fd, 0640), 0);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_fstat, fd, st), 0);
  EXPECT_EQ(Get<struct stat>(st).st_mode & 07777, 0640u);
  EXPECT_EQ(Get<struct stat>(st).st_uid, 1000u);
  int64_t p = Call(SYS_open, Str("/f"), O_PATH);
  EXPECT_EQ(Call(SYS_fchmod, p, 0600), -EBADF);  // fdget skips O_PATH
  EXPECT_EQ(Call(452 /* fchmodat2 */, AT_FDCWD, Str("/f"), 0600, 0x4), -EINVAL);
}

TEST_F(SysStatTest, TruncateAndUtimens) {
  WriteFile("/f", "0123456789");
  EXPECT_EQ(Call(SYS_truncate, Str("/f"), -1), -EINVAL);
  EXPECT_EQ(Call(SYS_truncate, Str("/f"), 4), 0);
  int64_t ro = Call(SYS_open, Str("/f"), O_RDONLY);
  EXPECT_EQ(Call(SYS_ftruncate, ro, 2), -EINVAL);  // not open for writing
  EXPECT_EQ(Call(SYS_ftruncate, 77, 2), -EBADF);
  EXPECT_EQ(Call(SYS_ftruncate, 77, -2), -EINVAL);  // length first
  timespec times[2] = {{100, 5}, {200, 7}};
  ASSERT_EQ(Call(SYS_utimensat, AT_FDCWD, Str("/f"), Put(times), 0), 0);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_stat, Str("/f"), st), 0);
  EXPECT_EQ(Get<struct stat>(st).st_size, 4);
  EXPECT_EQ(Get<struct stat>(st).st_mtim.tv_sec, 200);
  EXPECT_EQ(Get<struct stat>(st).st_atim.tv_nsec, 5);
  // The fd form (a NULL path), and its flags rule.
  EXPECT_EQ(Call(SYS_utimensat, ro, 0, Put(times), AT_SYMLINK_NOFOLLOW),
            -EINVAL);
  EXPECT_EQ(Call(SYS_utimensat, ro, 0, 0, 0), 0);
  EXPECT_EQ(Call(SYS_utimensat, AT_FDCWD, Str("/f"), 1, 0), -EFAULT);
}

TEST_F(SysStatTest, Statfs) {
  uint64_t buf = Alloc(sizeof(struct statfs));
  EXPECT_EQ(Call(SYS_statfs, Str("/"), buf), 0);
  int64_t fd = Call(SYS_open, Str("/"), O_PATH);
  EXPECT_EQ(Call(SYS_fstatfs, fd, buf), 0);
  EXPECT_EQ(Call(SYS_statfs, Str("/nothere"), buf), -ENOENT);
}

}  // namespace
}  // namespace veil::sentry
