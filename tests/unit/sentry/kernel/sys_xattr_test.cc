// SPDX-License-Identifier: Apache-2.0
//
// Extended attributes and the utime family through Dispatch.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>

#include <string>

#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

class SysXattrTest : public testing::KernelTest {};

TEST_F(SysXattrTest, SetGetListRemove) {
  WriteFile("/f", "");
  EXPECT_EQ(Call(SYS_setxattr, Str("/f"), Str("user.a"), Str("12345"), 5, 0),
            0);
  EXPECT_EQ(
      Call(SYS_setxattr, Str("/f"), Str("user.a"), Str("x"), 1, XATTR_CREATE),
      -EEXIST);
  EXPECT_EQ(
      Call(SYS_setxattr, Str("/f"), Str("user.b"), Str("x"), 1, XATTR_REPLACE),
      -ENODATA);
  EXPECT_EQ(Call(SYS_setxattr, Str("/f"), Str("user.a"), Str("x"), 1, 4),
            -EINVAL);
  uint64_t buf = Alloc(64);
  EXPECT_EQ(Call(SYS_getxattr, Str("/f"), Str("user.a"), buf, 0), 5);
  EXPECT_EQ(Call(SYS_getxattr, Str("/f"), Str("user.a"), buf, 4), -ERANGE);
  EXPECT_EQ(Call(SYS_getxattr, Str("/f"), Str("user.a"), buf, 64), 5);
  EXPECT_EQ(GetString(buf, 5), "12345");
  EXPECT_EQ(Call(SYS_getxattr, Str("/f"), Str("user.none"), buf, 64), -ENODATA);
  EXPECT_EQ(Call(SYS_setxattr, Str("/f"), Str("user.c"), Str(""), 0, 0), 0);
  EXPECT_EQ(Call(SYS_listxattr, Str("/f"), buf, 0), 14);
  EXPECT_EQ(Call(SYS_listxattr, Str("/f"), buf, 13), -ERANGE);
  EXPECT_EQ(Call(SYS_listxattr, Str("/f"), buf, 64), 14);
  EXPECT_EQ(GetString(buf, 14), std::string("user.a\0user.c\0", 14));
  EXPECT_EQ(Call(SYS_removexattr, Str("/f"), Str("user.a")), 0);
  EXPECT_EQ(Call(SYS_removexattr, Str("/f"), Str("user.a")), -ENODATA);
}

TEST_F(SysXattrTest, NamesAndSizes) {
  WriteFile("/f", "");
  uint64_t buf = Alloc(64);
  EXPECT_EQ(Call(SYS_getxattr, Str("/f"), Str(""), buf, 64), -ERANGE);
  EXPECT_EQ(Call(SYS_getxattr, Str("/f"), Str("user." + std::string(251, 'n')),
                 buf, 64),
            -ERANGE);  // 256 bytes: past XATTR_NAME_MAX
  EXPECT_EQ(Call(SYS_getxattr, Str("/f"), 0, buf, 64), -EFAULT);
  EXPECT_EQ(Call(SYS_setxattr, Str("/f"), Str("user.a"), buf, 65537, 0),
            -E2BIG);
  EXPECT_EQ(Call(SYS_setxattr, Str("/f"), Str("user.a"), 0, 4, 0), -EFAULT);
  EXPECT_EQ(Call(SYS_setxattr, Str("/f"), Str("bogus.a"), buf, 1, 0),
            -EOPNOTSUPP);
  // The name is checked before the path.
  EXPECT_EQ(Call(SYS_getxattr, Str("/nothere"), Str(""), buf, 64), -ERANGE);
  EXPECT_EQ(Call(SYS_getxattr, Str("/nothere"), Str("user.a"), buf, 64),
            -ENOENT);
}

TEST_F(SysXattrTest, FdAndLinkForms) {
  WriteFile("/f", "");
  ASSERT_EQ(Call(SYS_symlink, Str("/f"), Str("/l")), 0);
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  EXPECT_EQ(Call(SYS_fsetxattr, fd, Str("user.k"), Str("v"), 1, 0), 0);
  uint64_t buf = Alloc(16);
  EXPECT_EQ(Call(SYS_getxattr, Str("/l"), Str("user.k"), buf, 16), 1);
  // user.* on a symlink: not permitted to set, nothing to get.
  EXPECT_EQ(Call(SYS_lsetxattr, Str("/l"), Str("user.k"), Str("v"), 1, 0),
            -EPERM);
  EXPECT_EQ(Call(SYS_lgetxattr, Str("/l"), Str("user.k"), buf, 16), -ENODATA);
  EXPECT_EQ(Call(SYS_fgetxattr, fd, Str("user.k"), buf, 16), 1);
  EXPECT_EQ(Call(SYS_flistxattr, fd, buf, 16), 7);
  EXPECT_EQ(Call(SYS_fremovexattr, fd, Str("user.k")), 0);
  int64_t path = Call(SYS_open, Str("/f"), O_PATH);
  EXPECT_EQ(Call(SYS_fgetxattr, path, Str("user.k"), buf, 16), -EBADF);
  EXPECT_EQ(Call(SYS_fgetxattr, 99, Str(""), buf, 16), -EBADF);  // fd first
}

TEST_F(SysXattrTest, UtimeFamily) {
  WriteFile("/f", "");
  struct timeval tv[2] = {{10, 1}, {20, 2}};
  EXPECT_EQ(Call(SYS_utimes, Str("/f"), Put(tv)), 0);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_stat, Str("/f"), st), 0);
  EXPECT_EQ(Get<struct stat>(st).st_mtim.tv_sec, 20);
  EXPECT_EQ(Get<struct stat>(st).st_mtim.tv_nsec, 2000);
  tv[0].tv_usec = 1000000;
  EXPECT_EQ(Call(SYS_utimes, Str("/f"), Put(tv)), -EINVAL);
  int64_t times[2] = {30, 40};
  EXPECT_EQ(Call(SYS_utime, Str("/f"), Put(times)), 0);
  ASSERT_EQ(Call(SYS_stat, Str("/f"), st), 0);
  EXPECT_EQ(Get<struct stat>(st).st_atim.tv_sec, 30);
  EXPECT_EQ(Get<struct stat>(st).st_mtim.tv_nsec, 0);
  EXPECT_EQ(Call(SYS_utime, Str("/f"), 0), 0);  // now
  ASSERT_EQ(Call(SYS_stat, Str("/f"), st), 0);
  EXPECT_GT(Get<struct stat>(st).st_mtim.tv_sec, 40);
  EXPECT_EQ(Call(SYS_futimesat, AT_FDCWD, Str("/f"), 1), -EFAULT);
}

}  // namespace
}  // namespace veil::sentry
