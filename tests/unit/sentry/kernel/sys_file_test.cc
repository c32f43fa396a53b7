// SPDX-License-Identifier: Apache-2.0
//
// Names, the fs context and metadata through Dispatch: exact values and
// errnos, compared with the host kernel where the rule is subtle.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <string>

#include "base/unique_fd.h"
#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

class SysFileTest : public testing::KernelTest {};

TEST_F(SysFileTest, OpenGivesTheLowestFreeFd) {
  EXPECT_EQ(Call(SYS_mkdir, Str("/d"), 0755), 0);
  EXPECT_EQ(Call(SYS_open, Str("/d"), O_RDONLY), 0);
  EXPECT_EQ(Call(SYS_openat, AT_FDCWD, Str("/d"), O_RDONLY), 1);
  EXPECT_EQ(Call(SYS_creat, Str("/d/f"), 0600), 2);
  EXPECT_EQ(Call(SYS_close, 1), 0);
  EXPECT_EQ(Call(SYS_openat, 0, Str("f"), O_RDONLY), 1);  // relative to fd 0
  EXPECT_EQ(Call(SYS_close, 1), 0);
  EXPECT_EQ(Call(SYS_close, 1), -EBADF);
}

TEST_F(SysFileTest, OpenErrors) {
  EXPECT_EQ(Call(SYS_open, Str("/nothere"), O_RDONLY), -ENOENT);
  EXPECT_EQ(Call(SYS_open, Str(""), O_RDONLY), -ENOENT);
  EXPECT_EQ(Call(SYS_open, 0, O_RDONLY), -EFAULT);
  EXPECT_EQ(Call(SYS_open, Str(std::string(PATH_MAX, 'a')), O_RDONLY),
            -ENAMETOOLONG);
  EXPECT_EQ(Call(SYS_openat, 99, Str("x"), O_RDONLY), -EBADF);
  // An absolute path never looks at dirfd.
  EXPECT_EQ(Call(SYS_openat, 99, Str("/"), O_RDONLY), 0);
  WriteFile("/f", "x");
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  EXPECT_EQ(Call(SYS_openat, fd, Str("x"), O_RDONLY), -ENOTDIR);
  EXPECT_EQ(Call(SYS_open, Str("/f/"), O_RDONLY), -ENOTDIR);
  EXPECT_EQ(Call(SYS_open, Str("/"), O_WRONLY), -EISDIR);
  EXPECT_EQ(Call(SYS_open, Str("/f"), O_CREAT | O_EXCL | O_WRONLY, 0644),
            -EEXIST);
}

TEST_F(SysFileTest, EmfileBeforeTheLookup) {
  task_.set_nofile_limit(1);
  EXPECT_EQ(Call(SYS_open, Str("/"), O_RDONLY), 0);
  // get_unused_fd_flags runs before the lookup: EMFILE, not ENOENT.
  EXPECT_EQ(Call(SYS_open, Str("/nothere"), O_RDONLY), -EMFILE);
}

TEST_F(SysFileTest, CreateAppliesTheUmask) {
  EXPECT_EQ(Call(SYS_umask, 027), 022);
  ASSERT_GE(Call(SYS_open, Str("/f"), O_CREAT | O_WRONLY, 0777), 0);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_stat, Str("/f"), st), 0);
  EXPECT_EQ(Get<struct stat>(st).st_mode, S_IFREG | 0750u);
}

TEST_F(SysFileTest, StatusFlagsAsTheHostReportsThem) {
  char tmpl[] = "/tmp/veil_kernel_test_XXXXXX";
  UniqueFd host(::mkostemp(tmpl, O_CLOEXEC));
  ASSERT_TRUE(host.valid());
  ::unlink(tmpl);
  int expect = ::fcntl(host.get(), F_GETFL);  // O_RDWR | O_LARGEFILE
  int64_t fd = Call(SYS_open, Str("/f"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_GETFL), expect);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_GETFD), FD_CLOEXEC);
}

TEST_F(SysFileTest, Openat2ChecksItsStruct) {
  struct open_how how {};
  how.flags = O_RDONLY;
  uint64_t h = Put(how);
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), h, sizeof(how)), 0);
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), h, 23), -EINVAL);
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), h, 4097), -E2BIG);
  uint8_t bigger[40] = {};
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), PutBytes(bigger, 40), 40), 1);
  bigger[39] = 1;
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), PutBytes(bigger, 40), 40),
            -E2BIG);
  how.mode = 0644;  // without O_CREAT
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), Put(how), sizeof(how)),
            -EINVAL);
  how = {};
  how.flags = uint64_t{1} << 40;
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), Put(how), sizeof(how)),
            -EINVAL);
  how = {};
  how.resolve = RESOLVE_BENEATH | RESOLVE_IN_ROOT;
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), Put(how), sizeof(how)),
            -EINVAL);
  how = {};
  how.flags = O_PATH | O_RDWR;
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/"), Put(how), sizeof(how)),
            -EINVAL);
  // open(2) ignores the same junk: O_PATH beats the access mode.
  EXPECT_EQ(Call(SYS_open, Str("/"), O_PATH | O_RDWR), 2);
  how = {};
  how.resolve = RESOLVE_BENEATH;
  EXPECT_EQ(Call(SYS_openat2, AT_FDCWD, Str("/.."), Put(how), sizeof(how)),
            -EXDEV);
}

TEST_F(SysFileTest, NamesComeAndGo) {
  EXPECT_EQ(Call(SYS_mkdir, Str("/a"), 0755), 0);
  EXPECT_EQ(Call(SYS_mkdir, Str("/a"), 0755), -EEXIST);
  EXPECT_EQ(Call(SYS_mkdirat, AT_FDCWD, Str("/a/b"), 0755), 0);
  EXPECT_EQ(Call(SYS_rmdir, Str("/a")), -ENOTEMPTY);
  WriteFile("/a/f", "data");
  EXPECT_EQ(Call(SYS_link, Str("/a/f"), Str("/a/g")), 0);
  EXPECT_EQ(Call(SYS_rename, Str("/a/g"), Str("/h")), 0);
  EXPECT_EQ(Call(SYS_renameat2, AT_FDCWD, Str("/h"), AT_FDCWD, Str("/a/f"),
                 RENAME_NOREPLACE),
            -EEXIST);
  EXPECT_EQ(Call(SYS_unlink, Str("/a/b")), -EISDIR);
  EXPECT_EQ(Call(SYS_unlinkat, AT_FDCWD, Str("/a/b"), AT_REMOVEDIR), 0);
  EXPECT_EQ(Call(SYS_unlinkat, AT_FDCWD, Str("/h"), 0x1), -EINVAL);
  EXPECT_EQ(Call(SYS_unlink, Str("/h")), 0);
  EXPECT_EQ(Call(SYS_rmdir, Str("/a/f")), -ENOTDIR);
  EXPECT_EQ(Call(SYS_mknod, Str("/fifo"), S_IFIFO | 0600, 0), 0);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_lstat, Str("/fifo"), st), 0);
  EXPECT_TRUE(S_ISFIFO(Get<struct stat>(st).st_mode));
  EXPECT_EQ(Call(SYS_linkat, AT_FDCWD, Str("/a/f"), AT_FDCWD, Str("/x"), 0x2),
            -EINVAL);
}

// A bad name surfaces where Linux looks at it: mknod's type first
// (may_mknod), linkat's new name after the old one's lookup.
TEST_F(SysFileTest, BadNamesSurfaceInLinuxsOrder) {
  std::string long_path(5000, '/');
  EXPECT_EQ(Call(SYS_mknod, Str(long_path), S_IFLNK | 0777, 0), -EINVAL);
  EXPECT_EQ(Call(SYS_mknod, Str(""), S_IFDIR | 0777, 0), -EPERM);
  EXPECT_EQ(Call(SYS_mknod, Str(""), S_IFIFO | 0777, 0), -ENOENT);
  WriteFile("/f", "data");
  EXPECT_EQ(Call(SYS_linkat, AT_FDCWD, Str("/f/"), AT_FDCWD, Str(""), 0),
            -ENOTDIR);
  EXPECT_EQ(Call(SYS_linkat, AT_FDCWD, Str("/nope"), AT_FDCWD, Str(""), 0),
            -ENOENT);
  EXPECT_EQ(Call(SYS_linkat, AT_FDCWD, Str("/f"), AT_FDCWD, Str(""), 0),
            -ENOENT);
  EXPECT_EQ(Call(SYS_linkat, AT_FDCWD, Str("/f/"), AT_FDCWD, 0, 0), -ENOTDIR);
  EXPECT_EQ(Call(SYS_linkat, AT_FDCWD, Str("/f"), AT_FDCWD, 0, 0), -EFAULT);
  // rename: the old name's parent walk, then the new name.
  EXPECT_EQ(Call(SYS_rename, Str("/f/x"), Str("")), -ENOTDIR);
  EXPECT_EQ(Call(SYS_rename, Str("f/x"), Str("")), -ENOTDIR);
  EXPECT_EQ(Call(SYS_rename, Str("/nope/x"), Str("")), -ENOENT);
  EXPECT_EQ(Call(SYS_rename, Str("/f/"), Str("")), -ENOENT);
  EXPECT_EQ(Call(SYS_rename, Str("/f"), Str("")), -ENOENT);
  EXPECT_EQ(Call(SYS_rename, Str("/"), Str("")), -ENOENT);
  EXPECT_EQ(Call(SYS_rename, Str("/f/x"), 0), -ENOTDIR);
}

TEST_F(SysFileTest, SymlinksAndReadlink) {
  EXPECT_EQ(Call(SYS_symlink, Str("target/path"), Str("/l")), 0);
  EXPECT_EQ(Call(SYS_symlink, Str(""), Str("/l2")), -ENOENT);
  uint64_t buf = Alloc(64);
  EXPECT_EQ(Call(SYS_readlink, Str("/l"), buf, 64), 11);
  EXPECT_EQ(GetString(buf, 11), "target/path");
  EXPECT_EQ(Call(SYS_readlink, Str("/l"), buf, 6), 6);  // truncated, no NUL
  EXPECT_EQ(Call(SYS_readlink, Str("/l"), buf, 0), -EINVAL);
  EXPECT_EQ(Call(SYS_readlink, Str("/"), buf, 64), -EINVAL);
  EXPECT_EQ(Call(SYS_readlink, Str("/l"), 0, 64), -EFAULT);
  // "" names the dirfd itself (an O_PATH fd of the link).
  int64_t fd = Call(SYS_open, Str("/l"), O_PATH | O_NOFOLLOW);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Call(SYS_readlinkat, fd, Str(""), buf, 64), 11);
}

TEST_F(SysFileTest, ChdirAndGetcwd) {
  ASSERT_EQ(Call(SYS_mkdir, Str("/a"), 0755), 0);
  ASSERT_EQ(Call(SYS_mkdir, Str("/a/b"), 0755), 0);
  EXPECT_EQ(Call(SYS_chdir, Str("/a/b")), 0);
  uint64_t buf = Alloc(64);
  EXPECT_EQ(Call(SYS_getcwd, buf, 64), 5);
  EXPECT_EQ(GetString(buf, 5), std::string("/a/b\0", 5));
  EXPECT_EQ(Call(SYS_getcwd, buf, 4), -ERANGE);
  EXPECT_EQ(Call(SYS_getcwd, buf, 5), 5);
  EXPECT_EQ(Call(SYS_chdir, Str("..")), 0);
  EXPECT_EQ(Call(SYS_getcwd, buf, 64), 3);
  WriteFile("/a/f", "");
  int64_t f = Call(SYS_open, Str("/a/f"), O_RDONLY);
  EXPECT_EQ(Call(SYS_fchdir, f), -ENOTDIR);
  EXPECT_EQ(Call(SYS_chdir, Str("/a/f")), -ENOTDIR);
  int64_t d = Call(SYS_open, Str("/a/b"), O_RDONLY | O_DIRECTORY);
  EXPECT_EQ(Call(SYS_fchdir, d), 0);
  EXPECT_EQ(Call(SYS_getcwd, buf, 64), 5);
  // An unlinked cwd: getcwd is ENOENT.
  EXPECT_EQ(Call(SYS_rmdir, Str("/a/b")), 0);
  EXPECT_EQ(Call(SYS_getcwd, buf, 64), -ENOENT);
}

TEST_F(SysFileTest, ChrootNeedsTheCapability) {
  ASSERT_EQ(Call(SYS_mkdir, Str("/jail"), 0755), 0);
  task_.set_creds(vfs::Credentials::User(1000, 1000, {}));
  EXPECT_EQ(Call(SYS_chroot, Str("/jail")), -EPERM);
  task_.set_creds(vfs::Credentials::Root());
  EXPECT_EQ(Call(SYS_chroot, Str("/jail")), 0);
  ASSERT_EQ(Call(SYS_chdir, Str("/")), 0);
  uint64_t buf = Alloc(64);
  EXPECT_EQ(Call(SYS_getcwd, buf, 64), 2);
}

TEST_F(SysFileTest, GetdentsListsNames) {
  ASSERT_EQ(Call(SYS_mkdir, Str("/d"), 0755), 0);
  WriteFile("/d/one", "");
  WriteFile("/d/two", "");
  int64_t fd = Call(SYS_open, Str("/d"), O_RDONLY | O_DIRECTORY);
  uint64_t buf = Alloc(4096);
  EXPECT_EQ(Call(SYS_getdents64, fd, buf, 10), -EINVAL);
  int64_t n = Call(SYS_getdents64, fd, buf, 4096);
  ASSERT_GT(n, 0);
  std::string bytes = GetString(buf, n);
  std::vector<std::string> names;
  for (size_t off = 0; off < bytes.size();) {
    uint16_t reclen;
    std::memcpy(&reclen, bytes.data() + off + 16, 2);
    names.push_back(std::string(bytes.c_str() + off + 19));
    off += reclen;
  }
  EXPECT_THAT(names, ::testing::ElementsAre(".", "..", "one", "two"));
  EXPECT_EQ(Call(SYS_getdents64, fd, buf, 4096), 0);
  int64_t f = Call(SYS_open, Str("/d/one"), O_RDONLY);
  EXPECT_EQ(Call(SYS_getdents64, f, buf, 4096), -ENOTDIR);
  EXPECT_EQ(Call(SYS_getdents64, fd, kTaskSizeMax, 4096), -EFAULT);
}

}  // namespace
}  // namespace veil::sentry

namespace veil::sentry {
namespace {

class GetdentsTest : public testing::KernelTest {};

// The old getdents against the host's, byte for byte but d_ino/d_off.
TEST_F(GetdentsTest, OldFormatMatchesTheHost) {
  ASSERT_EQ(Call(SYS_mkdir, Str("/d"), 0755), 0);
  WriteFile("/d/a-name", "");
  int64_t fd = Call(SYS_open, Str("/d"), O_RDONLY | O_DIRECTORY);
  uint64_t buf = Alloc(4096);
  int64_t n = Call(SYS_getdents, fd, buf, 4096);
  ASSERT_GT(n, 0);
  std::string ours = GetString(buf, n);

  char tmpl[] = "/dev/shm/veil_getdents_XXXXXX";
  if (!::mkdtemp(tmpl)) GTEST_SKIP() << "no /dev/shm";
  std::string dir = tmpl;
  UniqueFd(
      ::open((dir + "/a-name").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  char host[4096];
  long hn = ::syscall(SYS_getdents, dfd.get(), host, sizeof(host));
  ::unlink((dir + "/a-name").c_str());
  ::rmdir(dir.c_str());
  ASSERT_EQ(hn, n);
  // Records in the same order (".", "..", "a-name") with the same
  // lengths, names and types.
  for (size_t off = 0; off < static_cast<size_t>(n);) {
    uint16_t a, b;
    std::memcpy(&a, ours.data() + off + 16, 2);
    std::memcpy(&b, host + off + 16, 2);
    ASSERT_EQ(a, b);
    EXPECT_STREQ(ours.c_str() + off + 18, host + off + 18);
    EXPECT_EQ(ours[off + a - 1], host[off + b - 1]) << "d_type";
    off += a;
  }
}

}  // namespace
}  // namespace veil::sentry
