// SPDX-License-Identifier: Apache-2.0
//
// tmpfs names: create, remove, links, node types, readdir, statfs, inodes.
#include <linux/magic.h>
#include <sys/sysmacros.h>

#include <set>

#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

using TmpfsNamespaceTest = VfsTest;

TEST_F(TmpfsNamespaceTest, MkdirAndRmdirErrnos) {
  ASSERT_THAT(Mkdir("/d"), IsOk());
  EXPECT_THAT(Mkdir("/d"), ErrnoIs(EEXIST));
  EXPECT_THAT(Mkdir("/d/"), ErrnoIs(EEXIST));
  EXPECT_THAT(Mkdir("/missing/d"), ErrnoIs(ENOENT));
  EXPECT_THAT(Mkdir("/new/"), IsOk());  // mkdir accepts a trailing slash
  WriteFile("/d/f", "x");
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/d", AT_REMOVEDIR),
              ErrnoIs(ENOTEMPTY));
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/d", 0), ErrnoIs(EISDIR));
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/f", AT_REMOVEDIR),
              ErrnoIs(ENOTDIR));
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/.", AT_REMOVEDIR),
              ErrnoIs(EINVAL));
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/..", AT_REMOVEDIR),
              ErrnoIs(ENOTEMPTY));
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/f/", 0), ErrnoIs(ENOTDIR));
  ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/f", 0), IsOk());
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/d", AT_REMOVEDIR), IsOk());
  EXPECT_THAT(Stat("/d"), ErrnoIs(ENOENT));
}

TEST_F(TmpfsNamespaceTest, LinkCounts) {
  ASSERT_THAT(Mkdir("/d"), IsOk());
  EXPECT_EQ(Stat("/d")->nlink, 2u);
  ASSERT_THAT(Mkdir("/d/s1"), IsOk());
  ASSERT_THAT(Mkdir("/d/s2"), IsOk());
  EXPECT_EQ(Stat("/d")->nlink, 4u);  // ".", the entry, two ".."
  WriteFile("/d/f", "x");
  ASSERT_THAT(vfs_.LinkAt(root_, Root(), "/d/f", Root(), "/d/g", 0), IsOk());
  EXPECT_EQ(Stat("/d/f")->nlink, 2u);
  EXPECT_EQ(Stat("/d/f")->ino, Stat("/d/g")->ino);
  EXPECT_EQ(Stat("/d")->nlink, 4u);  // files do not count
  ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/f", 0), IsOk());
  EXPECT_EQ(Stat("/d/g")->nlink, 1u);
  ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/s1", AT_REMOVEDIR), IsOk());
  EXPECT_EQ(Stat("/d")->nlink, 3u);
  EXPECT_THAT(vfs_.LinkAt(root_, Root(), "/d/s2", Root(), "/d/s3", 0),
              ErrnoIs(EPERM));
}

TEST_F(TmpfsNamespaceTest, NodeTypes) {
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/fifo", S_IFIFO | 0644, 0), IsOk());
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/sock", S_IFSOCK | 0644, 0), IsOk());
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/chr", S_IFCHR | 0644,
                           makedev(60, 1)),
              IsOk());
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/blk", S_IFBLK | 0644,
                           makedev(61, 2)),
              IsOk());
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/reg", 0644, 0), IsOk());
  EXPECT_EQ(Stat("/fifo")->mode, S_IFIFO | 0644u);
  EXPECT_EQ(Stat("/sock")->mode, S_IFSOCK | 0644u);
  EXPECT_EQ(Stat("/chr")->rdev, makedev(60, 1));
  EXPECT_EQ(Stat("/blk")->mode, S_IFBLK | 0644u);
  EXPECT_EQ(Stat("/reg")->mode, S_IFREG | 0644u);
  EXPECT_THAT(vfs_.MknodAt(root_, Root(), "/dir", S_IFDIR | 0755, 0),
              ErrnoIs(EPERM));
  EXPECT_THAT(vfs_.MknodAt(root_, Root(), "/bad", 0170000 | 0755, 0),
              ErrnoIs(EINVAL));
  EXPECT_THAT(Open("/sock", O_RDONLY), ErrnoIs(ENXIO));
}

TEST_F(TmpfsNamespaceTest, Symlinks) {
  ASSERT_THAT(Symlink("target/with/../parts", "/l"), IsOk());
  EXPECT_THAT(vfs_.ReadlinkAt(root_, Root(), "/l"),
              IsOkAndHolds(std::string("target/with/../parts")));
  EXPECT_EQ(Lstat("/l")->size, 20u);
  EXPECT_THAT(Symlink("", "/empty"), ErrnoIs(ENOENT));
  EXPECT_THAT(Symlink("x", "/l"), ErrnoIs(EEXIST));
  EXPECT_THAT(vfs_.ReadlinkAt(root_, Root(), "/"), ErrnoIs(EINVAL));
  EXPECT_THAT(Symlink(std::string(4096, 'x'), "/long"), ErrnoIs(ENAMETOOLONG));
}

TEST_F(TmpfsNamespaceTest, AnUnlinkedOpenFileStaysReadable) {
  WriteFile("/f", "still here");
  auto f = Open("/f", O_RDWR);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), "/f", 0), IsOk());
  EXPECT_THAT(Stat("/f"), ErrnoIs(ENOENT));
  EXPECT_EQ(ReadAll(**f), "still here");
  EXPECT_THAT((*f)->Stat(), IsOkAndHolds(::testing::Field(&Attr::nlink, 0u)));
}

TEST_F(TmpfsNamespaceTest, ReaddirSurvivesConcurrentCreateAndUnlink) {
  ASSERT_THAT(Mkdir("/d"), IsOk());
  for (int i = 0; i < 100; ++i) WriteFile("/d/f" + std::to_string(i), "");
  auto dir = Open("/d", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dir, IsOk());
  // Read a little, then churn the directory, then read the rest.
  std::vector<uint8_t> small(64);
  std::set<std::string> seen;
  auto take = [&](std::span<uint8_t> buf) {
    auto n = (*dir)->Getdents64(buf);
    EXPECT_THAT(n, IsOk());
    for (size_t pos = 0; n && pos < *n;) {
      uint16_t reclen;
      std::memcpy(&reclen, buf.data() + pos + 16, 2);
      EXPECT_TRUE(seen.insert(reinterpret_cast<char*>(buf.data() + pos + 19))
                      .second);  // no name twice
      pos += reclen;
    }
    return n ? *n : 0;
  };
  take(small);
  for (int i = 50; i < 100; i += 2)
    ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/f" + std::to_string(i), 0),
                IsOk());
  WriteFile("/d/late", "");
  std::vector<uint8_t> big(65536);
  while (take(big) > 0) {
  }
  // Every entry that existed throughout was returned exactly once.
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(seen.count("f" + std::to_string(i)));
  for (int i = 51; i < 100; i += 2)
    EXPECT_TRUE(seen.count("f" + std::to_string(i)));
  EXPECT_TRUE(seen.count("late"));
  EXPECT_FALSE(seen.count("f98"));
}

TEST_F(TmpfsNamespaceTest, GetdentsNeedsRoomForOneEntry) {
  auto dir = Open("/", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dir, IsOk());
  std::vector<uint8_t> tiny(8);
  EXPECT_THAT((*dir)->Getdents64(tiny), ErrnoIs(EINVAL));
}

TEST_F(TmpfsNamespaceTest, InodeNumbersAreStableAndUnique) {
  WriteFile("/a", "");
  WriteFile("/b", "");
  uint64_t a = Stat("/a")->ino;
  EXPECT_NE(a, Stat("/b")->ino);
  ASSERT_THAT(vfs_.RenameAt(root_, Root(), "/a", Root(), "/c", 0), IsOk());
  EXPECT_EQ(Stat("/c")->ino, a);
  EXPECT_EQ(Stat("/c")->dev, Stat("/")->dev);
}

TEST_F(TmpfsNamespaceTest, Statfs) {
  auto st = vfs_.StatFsAt(root_, Root(), "/", 0);
  ASSERT_THAT(st, IsOk());
  EXPECT_EQ(st->f_type, TMPFS_MAGIC);
  EXPECT_EQ(st->f_namelen, 255);
}

TEST_F(TmpfsNamespaceTest, DirectorySizesCountEntriesLikeLinux) {
  ASSERT_THAT(Mkdir("/d"), IsOk());
  EXPECT_EQ(Stat("/d")->size, 40u);
  WriteFile("/d/a", "");
  ASSERT_THAT(Mkdir("/d/b"), IsOk());
  EXPECT_EQ(Stat("/d")->size, 80u);
}

}  // namespace
}  // namespace veil::vfs::testing

namespace veil::vfs::testing {
namespace {

TEST_F(TmpfsNamespaceTest, FifosAreHostPipes) {
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/p", S_IFIFO | 0666, 0), IsOk());
  // A non-blocking writer without a reader: ENXIO (fifo_open).
  EXPECT_THAT(Open("/p", O_WRONLY | O_NONBLOCK), ErrnoIs(ENXIO));
  auto r = Open("/p", O_RDONLY | O_NONBLOCK);
  ASSERT_THAT(r, IsOk());
  uint8_t buf[8];
  EXPECT_THAT((*r)->Read(buf), IsOkAndHolds(0u));  // no writer: EOF
  auto w = Open("/p", O_WRONLY | O_NONBLOCK);
  ASSERT_THAT(w, IsOk());
  EXPECT_THAT((*r)->Read(buf), ErrnoIs(EAGAIN));  // a writer, no data
  ASSERT_THAT((*w)->Write(Bytes("ping")), IsOkAndHolds(4u));
  EXPECT_THAT((*r)->Read(buf), IsOkAndHolds(4u));
  EXPECT_THAT((*r)->PRead(buf, 0), ErrnoIs(ESPIPE));
  EXPECT_THAT((*r)->Seek(0, SEEK_SET), ErrnoIs(ESPIPE));
  EXPECT_THAT(Open("/p", O_ACCMODE | O_NONBLOCK), ErrnoIs(EINVAL));
  EXPECT_THAT(Open("/p", O_PATH), IsOk());
}

TEST_F(TmpfsNamespaceTest, OPathOpensNodesWithoutDrivers) {
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/dev", S_IFCHR | 0666,
                           makedev(60, 0)),
              IsOk());
  EXPECT_THAT(Open("/dev", O_RDONLY), ErrnoIs(ENXIO));
  EXPECT_THAT(Open("/dev", O_PATH), IsOk());
}

TEST_F(TmpfsNamespaceTest, WhiteoutNodesNeedNoCapMknod) {
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/", 01777, 0), IsOk());
  EXPECT_THAT(vfs_.MknodAt(alice_, Root(), "/wh", S_IFCHR | 0600, 0), IsOk());
  EXPECT_THAT(vfs_.MknodAt(alice_, Root(), "/dev", S_IFCHR | 0600,
                           makedev(60, 1)),
              ErrnoIs(EPERM));
}

TEST_F(TmpfsNamespaceTest, OCreatOnOthersNodesInStickyDirectories) {
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/", 01777, 0), IsOk());
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/dev", S_IFCHR | 0666,
                           makedev(60, 2)),
              IsOk());
  WriteFile("/file", "", 0666);
  // Owned by neither the directory's owner (root) nor the opener.
  ASSERT_THAT(vfs_.ChownAt(root_, Root(), "/dev", 1001, 1001, 0), IsOk());
  ASSERT_THAT(vfs_.ChownAt(root_, Root(), "/file", 1001, 1001, 0), IsOk());
  // may_create_in_sticky: someone else's device in a sticky world-writable
  // directory is refused to O_CREAT; regular files only with
  // fs.protected_regular (off by default).
  EXPECT_THAT(OpenAs(alice_, "/dev", O_CREAT | O_RDONLY), ErrnoIs(EACCES));
  EXPECT_THAT(OpenAs(alice_, "/file", O_CREAT | O_RDONLY), IsOk());
}

}  // namespace
}  // namespace veil::vfs::testing
