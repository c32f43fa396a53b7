// SPDX-License-Identifier: Apache-2.0
//
// Timestamps as Linux tmpfs updates them, and utimensat(2).
#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

class TmpfsAttrTest : public VfsTest {
 protected:
  // Sets atime and mtime to long ago, so any update is visible.
  void Age(std::string_view path) {
    timespec old[2] = {{1000, 0}, {1000, 0}};
    ASSERT_THAT(vfs_.UtimensAt(root_, Root(), path, old, AT_SYMLINK_NOFOLLOW),
                IsOk());
  }
  bool Old(const timespec& t) { return t.tv_sec == 1000; }
};

TEST_F(TmpfsAttrTest, CreatingAndRemovingNamesStampsTheParent) {
  ASSERT_THAT(Mkdir("/d"), IsOk());
  Age("/d");
  WriteFile("/d/f", "");
  EXPECT_FALSE(Old(Stat("/d")->mtime));
  Age("/d");
  ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), "/d/f", 0), IsOk());
  EXPECT_FALSE(Old(Stat("/d")->mtime));
  EXPECT_TRUE(Old(Stat("/d")->atime));
}

TEST_F(TmpfsAttrTest, WritesStampMtimeAndReadsAtime) {
  WriteFile("/f", "data");
  Age("/f");
  auto f = Open("/f", O_RDWR);
  ASSERT_THAT(f, IsOk());
  uint8_t buf[4];
  ASSERT_THAT((*f)->PRead(buf, 0), IsOk());
  auto st = Stat("/f");
  EXPECT_FALSE(Old(st->atime));  // relatime: atime was older than mtime
  EXPECT_TRUE(Old(st->mtime));
  ASSERT_THAT((*f)->PWrite(Bytes("x"), 0), IsOk());
  EXPECT_FALSE(Old(Stat("/f")->mtime));
  Age("/f");
  ASSERT_THAT((*f)->PWrite(Bytes(""), 0), IsOk());  // nothing written
  EXPECT_TRUE(Old(Stat("/f")->mtime));
}

TEST_F(TmpfsAttrTest, RelatimeSkipsRecentAtimes) {
  WriteFile("/f", "data");
  // An atime newer than both mtime and ctime, and less than a day old.
  timespec recent[2] = {{Now().tv_sec + 3600, 0}, {1000, 0}};
  ASSERT_THAT(vfs_.UtimensAt(root_, Root(), "/f", recent, 0), IsOk());
  timespec before = Stat("/f")->atime;
  ReadFile("/f");
  EXPECT_TRUE(Stat("/f")->atime == before);
}

TEST_F(TmpfsAttrTest, MetadataChangesStampOnlyCtime) {
  WriteFile("/f", "");
  Age("/f");
  timespec ctime0 = Stat("/f")->ctime;
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/f", 0600, 0), IsOk());
  auto st = Stat("/f");
  EXPECT_TRUE(Old(st->mtime));
  EXPECT_TRUE(Old(st->atime));
  EXPECT_TRUE(ctime0 <= st->ctime);
}

TEST_F(TmpfsAttrTest, UtimensExplicitNowAndOmit) {
  WriteFile("/f", "");
  timespec t[2] = {{11, 5}, {22, 7}};
  ASSERT_THAT(vfs_.UtimensAt(root_, Root(), "/f", t, 0), IsOk());
  auto st = Stat("/f");
  EXPECT_TRUE((st->atime == timespec{11, 5}));
  EXPECT_TRUE((st->mtime == timespec{22, 7}));
  timespec omit[2] = {{0, UTIME_OMIT}, {33, 0}};
  ASSERT_THAT(vfs_.UtimensAt(root_, Root(), "/f", omit, 0), IsOk());
  st = Stat("/f");
  EXPECT_TRUE((st->atime == timespec{11, 5}));
  EXPECT_TRUE((st->mtime == timespec{33, 0}));
  timespec bad[2] = {{0, 1000000000}, {0, 0}};
  EXPECT_THAT(vfs_.UtimensAt(root_, Root(), "/f", bad, 0), ErrnoIs(EINVAL));
}

TEST_F(TmpfsAttrTest, TruncateStampsLikeShmem) {
  // An empty file truncated to its size keeps its times...
  WriteFile("/e", "");
  Age("/e");
  ASSERT_THAT(vfs_.TruncateAt(root_, Root(), "/e", 0), IsOk());
  EXPECT_TRUE(Old(Stat("/e")->mtime));
  // ...but one with data is stamped (shmem_truncate_range runs).
  WriteFile("/f", "abc");
  Age("/f");
  ASSERT_THAT(vfs_.TruncateAt(root_, Root(), "/f", 3), IsOk());
  EXPECT_FALSE(Old(Stat("/f")->mtime));
  Age("/f");
  ASSERT_THAT(vfs_.TruncateAt(root_, Root(), "/f", 2), IsOk());
  EXPECT_FALSE(Old(Stat("/f")->mtime));
  // ftruncate always stamps, even to the same size.
  Age("/f");
  auto f = Open("/f", O_WRONLY);
  ASSERT_THAT(vfs_.Ftruncate(root_, **f, 2), IsOk());
  EXPECT_FALSE(Old(Stat("/f")->mtime));
}

}  // namespace
}  // namespace veil::vfs::testing
