// SPDX-License-Identifier: Apache-2.0
//
// Namespace changes (overlay/namespace.cc): whiteouts, opaque directories,
// rmdir of merged directories, rename and link.
#include <linux/fs.h>

#include "tests/unit/overlay/fixture.h"

namespace veil::overlay::testing {
namespace {

using OverlayNamespaceTest = OverlayTest;

TEST_F(OverlayNamespaceTest, UnlinkOfALowerFileLeavesAWhiteout) {
  LowerFile("/a", "data");
  Mount();
  ASSERT_THAT(ov().Unlink("/a"), IsOk());
  EXPECT_THAT(ov().Lstat("/a"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().List("/"), IsEmpty());
  EXPECT_TRUE(UpperIsWhiteout("/a"));
  EXPECT_THAT(LowerLstat("/a"), IsOk());
}

TEST_F(OverlayNamespaceTest, UnlinkOfAnUpperOnlyFileLeavesNothing) {
  Mount();
  ov().WriteFile("/n", "new");
  ASSERT_THAT(ov().Unlink("/n"), IsOk());
  EXPECT_THAT(UpperLstat("/n"), ErrnoIs(ENOENT));
}

TEST_F(OverlayNamespaceTest, UnlinkOfACopiedUpFileLeavesAWhiteout) {
  LowerFile("/a", "data");
  Mount();
  ov().WriteFile("/a", "changed");
  ASSERT_THAT(ov().Unlink("/a"), IsOk());
  EXPECT_TRUE(UpperIsWhiteout("/a"));
  // A new file there replaces the whiteout.
  ov().WriteFile("/a", "again");
  EXPECT_EQ(ov().ReadFile("/a"), "again");
  EXPECT_FALSE(UpperIsWhiteout("/a"));
  ASSERT_THAT(ov().Unlink("/a"), IsOk());
  EXPECT_TRUE(UpperIsWhiteout("/a"));
}

TEST_F(OverlayNamespaceTest, RmdirOfADirectoryEmptiedByWhiteouts) {
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/x", "x");
  LowerFile("/d/y", "y");
  Mount();
  // Not empty: nothing is copied up.
  EXPECT_THAT(ov().Rmdir("/d"), ErrnoIs(ENOTEMPTY));
  EXPECT_THAT(UpperLstat("/d"), ErrnoIs(ENOENT));
  ASSERT_THAT(ov().Unlink("/d/x"), IsOk());
  ASSERT_THAT(ov().Unlink("/d/y"), IsOk());
  EXPECT_THAT(ov().List("/d"), IsEmpty());
  ASSERT_THAT(ov().Rmdir("/d"), IsOk());
  EXPECT_THAT(ov().Lstat("/d"), ErrnoIs(ENOENT));
  EXPECT_TRUE(UpperIsWhiteout("/d"));
}

TEST_F(OverlayNamespaceTest, MkdirOverAWhiteoutIsOpaque) {
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/x", "x");
  Mount();
  ASSERT_THAT(ov().Unlink("/d/x"), IsOk());
  ASSERT_THAT(ov().Rmdir("/d"), IsOk());
  ASSERT_THAT(ov().Mkdir("/d"), IsOk());
  EXPECT_THAT(ov().List("/d"), IsEmpty());
  EXPECT_THAT(ov().Lstat("/d/x"), ErrnoIs(ENOENT));
  EXPECT_THAT(UpperXattr("/d", "trusted.overlay.opaque"), IsOkAndHolds("y"));
  // A plain mkdir in a merged directory is marked too: with redirects the
  // lower layers may not change offline, so it is safe (and saves lookups).
  ASSERT_THAT(ov().Mkdir("/e"), IsOk());
  EXPECT_THAT(UpperXattr("/e", "trusted.overlay.opaque"), IsOkAndHolds("y"));
  // In a directory that exists only in the upper layer it needs no marker.
  ASSERT_THAT(ov().Mkdir("/e/f"), IsOk());
  EXPECT_THAT(UpperXattr("/e/f", "trusted.overlay.opaque"), ErrnoIs(ENODATA));
}

TEST_F(OverlayNamespaceTest, MkdirWithoutRedirectsIsNotOpaque) {
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  OverlayOptions options;
  options.dir_rename = DirRename::kExdev;
  Mount({}, options);
  // Lower layers may change offline (Linux ovl_allow_offline_changes): a
  // directory added below later must show through.
  ASSERT_THAT(ov().Mkdir("/e"), IsOk());
  EXPECT_THAT(UpperXattr("/e", "trusted.overlay.opaque"), ErrnoIs(ENODATA));
}

TEST_F(OverlayNamespaceTest, NoWhiteoutsThroughTheOverlay) {
  LowerFile("/a", "data");
  Mount();
  Context& c = ov().ctx();
  EXPECT_THAT(vfs().MknodAt(c, c.cwd, "/w", S_IFCHR, 0), ErrnoIs(EPERM));
  EXPECT_THAT(ov().Rename("/a", "/b", RENAME_WHITEOUT), ErrnoIs(EINVAL));
  EXPECT_EQ(ov().ReadFile("/a"), "data");
}

TEST_F(OverlayNamespaceTest, RenameOfALowerFileCopiesUpAndWhitesOut) {
  LowerFile("/a", "data");
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  Mount();
  auto before = ov().Lstat("/a");
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(ov().Rename("/a", "/d/b"), IsOk());
  EXPECT_THAT(ov().Lstat("/a"), ErrnoIs(ENOENT));
  EXPECT_EQ(ov().ReadFile("/d/b"), "data");
  EXPECT_THAT(ov().Lstat("/d/b"),
              IsOkAndHolds(::testing::Field(&Attr::ino, before->ino)));
  EXPECT_TRUE(UpperIsWhiteout("/a"));
  EXPECT_THAT(UpperLstat("/d/b"), IsOk());
  // Back over its own whiteout: the whiteout is switched, not duplicated.
  ASSERT_THAT(ov().Rename("/d/b", "/a"), IsOk());
  EXPECT_EQ(ov().ReadFile("/a"), "data");
  EXPECT_TRUE(UpperIsWhiteout("/d/b") ||
              UpperLstat("/d/b").error().code() == ENOENT);
  EXPECT_THAT(ov().List("/d"), IsEmpty());
}

TEST_F(OverlayNamespaceTest, LowerDirectoriesDoNotMoveWithoutRedirects) {
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/x", "x");
  OverlayOptions options;
  options.dir_rename = DirRename::kExdev;
  Mount({}, options);
  EXPECT_THAT(ov().Rename("/d", "/e"), ErrnoIs(EXDEV));
  // Merged (copied up) directories neither.
  ASSERT_THAT(vfs().ChmodAt(ov().ctx(), ov().ctx().cwd, "/d", 0700, 0), IsOk());
  EXPECT_THAT(ov().Rename("/d", "/e"), ErrnoIs(EXDEV));
  EXPECT_THAT(ov().Lstat("/d/x"), IsOk());
}

TEST_F(OverlayNamespaceTest, UpperDirectoriesMoveAndTurnOpaque) {
  ASSERT_THAT(lower().Mkdir("/m"), IsOk());
  ASSERT_THAT(lower().Mkdir("/m/s"), IsOk());
  LowerFile("/m/s/old", "old");
  Mount();
  ASSERT_THAT(ov().Mkdir("/n"), IsOk());
  ov().WriteFile("/n/new", "new");
  ASSERT_THAT(ov().Unlink("/m/s/old"), IsOk());
  ASSERT_THAT(ov().Rmdir("/m/s"), IsOk());
  // Over the whiteout of a lower directory, into a merged directory: the
  // moved directory must hide the lower one.
  ASSERT_THAT(ov().Rename("/n", "/m/s"), IsOk());
  EXPECT_THAT(ov().List("/m/s"), ElementsAre("new"));
  EXPECT_THAT(UpperXattr("/m/s", "trusted.overlay.opaque"), IsOkAndHolds("y"));
  EXPECT_THAT(ov().Lstat("/n"), ErrnoIs(ENOENT));
}

TEST_F(OverlayNamespaceTest, RenameOverAMergedDirectoryNeedsItEmpty) {
  ASSERT_THAT(lower().Mkdir("/t"), IsOk());
  LowerFile("/t/x", "x");
  Mount();
  ASSERT_THAT(ov().Mkdir("/n"), IsOk());
  EXPECT_THAT(ov().Rename("/n", "/t"), ErrnoIs(ENOTEMPTY));
  ASSERT_THAT(ov().Unlink("/t/x"), IsOk());
  ASSERT_THAT(ov().Rename("/n", "/t"), IsOk());
  EXPECT_THAT(ov().List("/t"), IsEmpty());
}

TEST_F(OverlayNamespaceTest, ExchangeOfLowerFiles) {
  LowerFile("/a", "A");
  LowerFile("/b", "B");
  Mount();
  ASSERT_THAT(ov().Rename("/a", "/b", RENAME_EXCHANGE), IsOk());
  EXPECT_EQ(ov().ReadFile("/a"), "B");
  EXPECT_EQ(ov().ReadFile("/b"), "A");
}

TEST_F(OverlayNamespaceTest, LinkCopiesTheTargetUp) {
  LowerFile("/a", "data");
  Mount();
  auto before = ov().Lstat("/a");
  ASSERT_THAT(before, IsOk());
  Context& c = ov().ctx();
  ASSERT_THAT(vfs().LinkAt(c, c.cwd, "/a", c.cwd, "/b", 0), IsOk());
  auto a = ov().Lstat("/a");
  auto b = ov().Lstat("/b");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->nlink, 2u);
  EXPECT_EQ(a->ino, b->ino);
  EXPECT_EQ(a->ino, before->ino);  // the copy keeps the lower's number
  EXPECT_THAT(UpperLstat("/a"),
              IsOkAndHolds(::testing::Field(&Attr::nlink, 2u)));
}

TEST_F(OverlayNamespaceTest, CreateInALowerDirectoryCopiesItUp) {
  ASSERT_THAT(lower().Mkdir("/d", 0700), IsOk());
  Mount();
  ov().WriteFile("/d/new", "n");
  EXPECT_THAT(UpperLstat("/d"),
              IsOkAndHolds(::testing::Field(&Attr::mode, S_IFDIR | 0700u)));
  EXPECT_EQ(ov().ReadFile("/d/new"), "n");
  // A merged directory reports one link, as overlayfs does.
  EXPECT_THAT(ov().Lstat("/d"),
              IsOkAndHolds(::testing::Field(&Attr::nlink, 1u)));
}

}  // namespace
}  // namespace veil::overlay::testing
