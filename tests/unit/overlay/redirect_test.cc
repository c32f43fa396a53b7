// SPDX-License-Identifier: Apache-2.0
//
// Renaming directories that exist in a lower layer (DirRename::kRedirect,
// Linux redirect_dir=on): the upper copy records where its lower
// directories are, and lookups follow that record, also on a later mount
// of the same layers (a restored snapshot).
#include "tests/unit/overlay/fixture.h"

namespace veil::overlay::testing {
namespace {

constexpr std::string_view kRedirect = "trusted.overlay.redirect";

class OverlayRedirectTest : public OverlayTest {
 protected:
  // /d holds a file and a subdirectory in the lower layer.
  void SetUp() override {
    ASSERT_THAT(lower().Mkdir("/d"), IsOk());
    ASSERT_THAT(lower().Mkdir("/d/sub"), IsOk());
    LowerFile("/d/x", "x");
    LowerFile("/d/sub/y", "y");
    ASSERT_THAT(lower().Mkdir("/p"), IsOk());
  }

  // An upper directory made before mounting, as a restored snapshot has.
  void UpperDir(std::string_view path) {
    Vfs v(upper_);
    ASSERT_THAT(VfsOps(v).Mkdir(path), IsOk());
  }
  void SetUpperXattr(std::string_view path, std::string_view name,
                     std::string_view value) {
    Vfs v(upper_);
    ASSERT_THAT(VfsOps(v).SetXattr(path, name, value), IsOk());
  }
};

TEST_F(OverlayRedirectTest, RenameInSameDirectoryKeepsContentsAndInode) {
  Mount();
  auto before = ov().Lstat("/d");
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(ov().Rename("/d", "/e"), IsOk());
  EXPECT_THAT(ov().Lstat("/d"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().List("/e"), ElementsAre("sub", "x"));
  EXPECT_EQ(ov().ReadFile("/e/sub/y"), "y");
  EXPECT_THAT(ov().Lstat("/e"),
              IsOkAndHolds(::testing::Field(&Attr::ino, before->ino)));
  // The upper copy names its lower directory; the old name is whited out.
  EXPECT_THAT(UpperXattr("/e", kRedirect), IsOkAndHolds("d"));
  EXPECT_TRUE(UpperIsWhiteout("/d"));
  // The record is private.
  EXPECT_THAT(ov().GetXattr("/e", kRedirect), ErrnoIs(ENODATA));
}

TEST_F(OverlayRedirectTest, MoveToAnotherDirectoryUsesAnAbsolutePath) {
  Mount();
  ASSERT_THAT(ov().Rename("/d", "/p/e"), IsOk());
  EXPECT_THAT(UpperXattr("/p/e", kRedirect), IsOkAndHolds("/d"));
  EXPECT_EQ(ov().ReadFile("/p/e/x"), "x");
  // Moving it on within its directory keeps the absolute record; a child
  // moved out names its path through its parent's record.
  ASSERT_THAT(ov().Rename("/p/e", "/p/f"), IsOk());
  EXPECT_THAT(UpperXattr("/p/f", kRedirect), IsOkAndHolds("/d"));
  ASSERT_THAT(ov().Rename("/p/f/sub", "/s"), IsOk());
  EXPECT_THAT(UpperXattr("/s", kRedirect), IsOkAndHolds("/d/sub"));
  EXPECT_EQ(ov().ReadFile("/s/y"), "y");
  EXPECT_THAT(ov().List("/p/f"), ElementsAre("x"));
}

TEST_F(OverlayRedirectTest, RelativeRecordBecomesAbsoluteWhenMovedAway) {
  Mount();
  ASSERT_THAT(ov().Rename("/d", "/e"), IsOk());
  ASSERT_THAT(ov().Rename("/e", "/p/e"), IsOk());
  EXPECT_THAT(UpperXattr("/p/e", kRedirect), IsOkAndHolds("/d"));
  EXPECT_EQ(ov().ReadFile("/p/e/sub/y"), "y");
}

TEST_F(OverlayRedirectTest, OldNameIsFreeAndNewDirectoryThereIsOpaque) {
  Mount();
  ASSERT_THAT(ov().Rename("/d", "/e"), IsOk());
  ASSERT_THAT(ov().Mkdir("/d"), IsOk());
  EXPECT_THAT(ov().List("/d"), IsEmpty());
  EXPECT_THAT(ov().List("/e"), ElementsAre("sub", "x"));
}

TEST_F(OverlayRedirectTest, MovedDirectoryIsRemovedOnceEmpty) {
  Mount();
  ASSERT_THAT(ov().Rename("/d", "/e"), IsOk());
  EXPECT_THAT(ov().Rmdir("/e"), ErrnoIs(ENOTEMPTY));
  ASSERT_THAT(ov().Unlink("/e/x"), IsOk());
  ASSERT_THAT(ov().Unlink("/e/sub/y"), IsOk());
  ASSERT_THAT(ov().Rmdir("/e/sub"), IsOk());
  ASSERT_THAT(ov().Rmdir("/e"), IsOk());
  EXPECT_THAT(ov().Lstat("/e"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().Lstat("/d"), ErrnoIs(ENOENT));
  EXPECT_THAT(UpperLstat("/e"), ErrnoIs(ENOENT));
}

TEST_F(OverlayRedirectTest, BackToItsOwnName) {
  Mount();
  ASSERT_THAT(ov().Rename("/d", "/e"), IsOk());
  ASSERT_THAT(ov().Rename("/e", "/d"), IsOk());
  EXPECT_THAT(ov().List("/"), ElementsAre("d", "p"));
  EXPECT_THAT(ov().List("/d"), ElementsAre("sub", "x"));
}

TEST_F(OverlayRedirectTest, ExchangeOfTwoLowerDirectories) {
  Mount();
  ASSERT_THAT(ov().Rename("/d", "/p", RENAME_EXCHANGE), IsOk());
  EXPECT_THAT(ov().List("/p"), ElementsAre("sub", "x"));
  EXPECT_THAT(ov().List("/d"), IsEmpty());
  EXPECT_THAT(UpperXattr("/p", kRedirect), IsOkAndHolds("d"));
  EXPECT_THAT(UpperXattr("/d", kRedirect), IsOkAndHolds("p"));
}

TEST_F(OverlayRedirectTest, ALaterMountFollowsTheRecords) {
  Mount();
  ASSERT_THAT(ov().Rename("/d", "/p/e"), IsOk());
  ASSERT_THAT(ov().Rename("/p/e/sub", "/p/e/t"), IsOk());
  // The same layers, mounted afresh: nothing cached.
  Mount();
  EXPECT_THAT(ov().List("/"), ElementsAre("p"));
  EXPECT_THAT(ov().List("/p/e"), ElementsAre("t", "x"));
  EXPECT_EQ(ov().ReadFile("/p/e/t/y"), "y");
}

TEST_F(OverlayRedirectTest, MalformedRecordsFailTheLookup) {
  UpperDir("/a");
  UpperDir("/b");
  UpperDir("/c");
  UpperDir("/e");
  SetUpperXattr("/a", kRedirect, "d/sub");  // relative with a slash
  SetUpperXattr("/b", kRedirect, "/d/");    // trailing slash
  SetUpperXattr("/c", kRedirect, "//d");    // empty name
  SetUpperXattr("/e", kRedirect, "/");
  Mount();
  for (const char* path : {"/a", "/b", "/c", "/e"})
    EXPECT_THAT(ov().Lstat(path), ErrnoIs(EINVAL)) << path;
}

TEST_F(OverlayRedirectTest, RecordsNeverLeaveTheLayer) {
  UpperDir("/a");
  UpperDir("/b");
  UpperDir("/c");
  SetUpperXattr("/a", kRedirect, "..");
  SetUpperXattr("/b", kRedirect, "/d/../p");
  SetUpperXattr("/c", kRedirect, "");
  Mount();
  for (const char* path : {"/a", "/b", "/c"})
    EXPECT_THAT(ov().Lstat(path), ErrnoIs(EACCES)) << path;
}

TEST_F(OverlayRedirectTest, RecordPointingAtNothingOrAFileIsAPureUpper) {
  UpperDir("/a");
  UpperDir("/b");
  SetUpperXattr("/a", kRedirect, "/nowhere");
  SetUpperXattr("/b", kRedirect, "/d/x");
  Mount();
  EXPECT_THAT(ov().List("/a"), IsEmpty());
  EXPECT_THAT(ov().List("/b"), IsEmpty());
}

TEST_F(OverlayRedirectTest, TooLongAPathFallsBackToExdev) {
  std::string path;
  for (int i = 10; i < 30; ++i) {
    path += "/directory_" + std::to_string(i);
    ASSERT_THAT(lower().Mkdir(path), IsOk());
  }
  Mount();
  // 20 names of 12 bytes: 260 bytes as an absolute path, past Linux's
  // redirect_max (256).
  EXPECT_THAT(ov().Rename(path, "/moved"), ErrnoIs(EXDEV));
  EXPECT_THAT(ov().Lstat(path), IsOk());
  // Within its own directory the record is just the name.
  ASSERT_THAT(ov().Rename(path, path + "_moved"), IsOk());
}

}  // namespace
}  // namespace veil::overlay::testing
