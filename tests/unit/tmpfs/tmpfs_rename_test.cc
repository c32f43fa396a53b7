// SPDX-License-Identifier: Apache-2.0
//
// rename(2)/renameat2(2) on tmpfs.
#include <linux/fs.h>
#include <sys/sysmacros.h>

#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

class TmpfsRenameTest : public VfsTest {
 protected:
  void SetUp() override {
    ASSERT_THAT(Mkdir("/d"), IsOk());
    ASSERT_THAT(Mkdir("/d/sub"), IsOk());
    ASSERT_THAT(Mkdir("/e"), IsOk());
    WriteFile("/e/x", "x");
    WriteFile("/f", "f");
    WriteFile("/g", "g");
  }
  Result<void> Rename(std::string_view from, std::string_view to,
                      unsigned flags = 0) {
    return vfs_.RenameAt(root_, Root(), from, Root(), to, flags);
  }
};

TEST_F(TmpfsRenameTest, ReplacesAFile) {
  uint64_t ino = Stat("/f")->ino;
  ASSERT_THAT(Rename("/f", "/g"), IsOk());
  EXPECT_THAT(Stat("/f"), ErrnoIs(ENOENT));
  EXPECT_EQ(Stat("/g")->ino, ino);
  EXPECT_EQ(ReadFile("/g"), "f");
}

TEST_F(TmpfsRenameTest, NoReplace) {
  EXPECT_THAT(Rename("/f", "/g", RENAME_NOREPLACE), ErrnoIs(EEXIST));
  EXPECT_THAT(Rename("/f", "/h", RENAME_NOREPLACE), IsOk());
  EXPECT_THAT(Rename("/h", "/f", RENAME_NOREPLACE | RENAME_EXCHANGE),
              ErrnoIs(EINVAL));
}

TEST_F(TmpfsRenameTest, ExchangeSwapsEvenAFileAndADirectory) {
  uint64_t f = Stat("/f")->ino, d = Stat("/d")->ino;
  ASSERT_THAT(Rename("/f", "/d", RENAME_EXCHANGE), IsOk());
  EXPECT_EQ(Stat("/d")->ino, f);
  EXPECT_EQ(Stat("/f")->ino, d);
  EXPECT_THAT(Stat("/f/sub"), IsOk());
  EXPECT_THAT(Rename("/f", "/missing", RENAME_EXCHANGE), ErrnoIs(ENOENT));
  // Exchanging across directories moves ".." link counts too.
  uint32_t root_links = Stat("/")->nlink;
  ASSERT_THAT(Rename("/f/sub", "/g", RENAME_EXCHANGE), IsOk());
  EXPECT_EQ(Stat("/")->nlink, root_links + 1);
  EXPECT_EQ(Stat("/f")->nlink, 2u);
}

TEST_F(TmpfsRenameTest, WhiteoutLeavesACharDevice00) {
  ASSERT_THAT(Rename("/f", "/h", RENAME_WHITEOUT), IsOk());
  auto wh = Lstat("/f");
  ASSERT_THAT(wh, IsOk());
  EXPECT_EQ(wh->mode, S_IFCHR | 0u);
  EXPECT_EQ(wh->rdev, makedev(0, 0));
  EXPECT_THAT(Rename("/g", "/f", RENAME_WHITEOUT | RENAME_EXCHANGE),
              ErrnoIs(EINVAL));
  // Since Linux 5.8 whiteouts need no CAP_MKNOD, only the usual rights.
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/", 0777, 0), IsOk());
  EXPECT_THAT(vfs_.RenameAt(alice_, Root(), "/g", Root(), "/k", RENAME_WHITEOUT),
              IsOk());
  EXPECT_EQ(Lstat("/g")->uid, 1000u);
}

TEST_F(TmpfsRenameTest, DirectoryIntoItsOwnSubtreeIsEINVAL) {
  EXPECT_THAT(Rename("/d", "/d/sub/inner"), ErrnoIs(EINVAL));
  EXPECT_THAT(Rename("/d", "/d/sub"), ErrnoIs(EINVAL));
  // The target an ancestor of the source: ENOTEMPTY.
  EXPECT_THAT(Rename("/d/sub", "/d"), ErrnoIs(ENOTEMPTY));
}

TEST_F(TmpfsRenameTest, OntoANonEmptyDirectoryIsENOTEMPTY) {
  EXPECT_THAT(Rename("/d", "/e"), ErrnoIs(ENOTEMPTY));
  ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), "/e/x", 0), IsOk());
  uint64_t d = Stat("/d")->ino;
  uint32_t links = Stat("/")->nlink;
  ASSERT_THAT(Rename("/d", "/e"), IsOk());
  EXPECT_EQ(Stat("/e")->ino, d);
  EXPECT_EQ(Stat("/")->nlink, links - 1);
}

TEST_F(TmpfsRenameTest, TypeMismatches) {
  EXPECT_THAT(Rename("/f", "/d"), ErrnoIs(EISDIR));
  EXPECT_THAT(Rename("/d", "/f"), ErrnoIs(ENOTDIR));
  EXPECT_THAT(Rename("/f/", "/h"), ErrnoIs(ENOTDIR));
  EXPECT_THAT(Rename("/f", "/h/"), ErrnoIs(ENOTDIR));
  EXPECT_THAT(Rename("/d/", "/h/"), IsOk());
}

TEST_F(TmpfsRenameTest, DotsAndMissing) {
  EXPECT_THAT(Rename("/d/.", "/h"), ErrnoIs(EBUSY));
  EXPECT_THAT(Rename("/f", "/d/.."), ErrnoIs(EBUSY));
  EXPECT_THAT(Rename("/f", "/d/..", RENAME_NOREPLACE), ErrnoIs(EEXIST));
  EXPECT_THAT(Rename("/missing", "/h"), ErrnoIs(ENOENT));
}

TEST_F(TmpfsRenameTest, HardLinksToTheSameInodeAreANoOp) {
  ASSERT_THAT(vfs_.LinkAt(root_, Root(), "/f", Root(), "/f2", 0), IsOk());
  ASSERT_THAT(Rename("/f", "/f2"), IsOk());
  EXPECT_THAT(Stat("/f"), IsOk());
  EXPECT_EQ(Stat("/f")->nlink, 2u);
}

TEST_F(TmpfsRenameTest, MovingADirectoryUpdatesDotDot) {
  ASSERT_THAT(Rename("/d/sub", "/e/sub"), IsOk());
  EXPECT_EQ(Stat("/e/sub/..")->ino, Stat("/e")->ino);
  EXPECT_EQ(Stat("/d")->nlink, 2u);
  EXPECT_EQ(Stat("/e")->nlink, 3u);
}

}  // namespace
}  // namespace veil::vfs::testing
