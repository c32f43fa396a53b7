// SPDX-License-Identifier: Apache-2.0
//
// Attributes and xattrs (overlay/inode.cc, overlay.cc): st_dev, inode
// numbers across copy-up, link counts, xattr escaping, statfs.
#include <linux/magic.h>

#include "tests/unit/overlay/fixture.h"

namespace veil::overlay::testing {
namespace {

using OverlayInodeTest = OverlayTest;

TEST_F(OverlayInodeTest, OneDeviceForEveryLayer) {
  LowerFile("/low", "l");
  Mount();
  ov().WriteFile("/up", "u");
  for (const char* p : {"/", "/low", "/up"}) {
    EXPECT_THAT(ov().Lstat(p),
                IsOkAndHolds(::testing::Field(&Attr::dev, ofs_->dev())))
        << p;
  }
  EXPECT_NE(ofs_->dev(), upper_->dev());
}

TEST_F(OverlayInodeTest, InodeNumbersAreUniqueAndSurviveCopyUp) {
  LowerFile("/f", "f");
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  Mount();
  ov().WriteFile("/u", "u");
  auto f = ov().Lstat("/f");
  auto d = ov().Lstat("/d");
  auto u = ov().Lstat("/u");
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT(d, IsOk());
  ASSERT_THAT(u, IsOk());
  // Both tmpfs layers number from 1: the layer's fsid keeps them apart.
  EXPECT_NE(f->ino, u->ino);
  EXPECT_NE(d->ino, u->ino);
  ASSERT_THAT(vfs().ChmodAt(ov().ctx(), ov().ctx().cwd, "/f", 0600, 0), IsOk());
  ASSERT_THAT(vfs().ChmodAt(ov().ctx(), ov().ctx().cwd, "/d", 0700, 0), IsOk());
  EXPECT_THAT(ov().Lstat("/f"),
              IsOkAndHolds(::testing::Field(&Attr::ino, f->ino)));
  EXPECT_THAT(ov().Lstat("/d"),
              IsOkAndHolds(::testing::Field(&Attr::ino, d->ino)));
  // A second mount of the same layers finds the copy's origin again.
  auto again = OverlayFs::Create(upper_, {lower_});
  ASSERT_THAT(again, IsOk());
  Vfs v2(*again);
  EXPECT_THAT(VfsOps(v2).Lstat("/f"),
              IsOkAndHolds(::testing::Field(&Attr::ino, f->ino)));
}

TEST_F(OverlayInodeTest, CopyUpBreaksLowerHardLinks) {
  LowerFile("/a", "shared");
  ASSERT_THAT(lower().vfs().LinkAt(lower().ctx(), lower().ctx().cwd, "/a",
                                   lower().ctx().cwd, "/b", 0),
              IsOk());
  Mount();
  auto a = ov().Lstat("/a");
  auto b = ov().Lstat("/b");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->ino, b->ino);
  EXPECT_EQ(a->nlink, 2u);
  ov().WriteFile("/a", "mine");
  auto a2 = ov().Lstat("/a");
  auto b2 = ov().Lstat("/b");
  ASSERT_THAT(a2, IsOk());
  ASSERT_THAT(b2, IsOk());
  // As Linux without index=on: /a is a new file now.
  EXPECT_NE(a2->ino, b2->ino);
  EXPECT_EQ(a2->nlink, 1u);
  EXPECT_EQ(b2->ino, b->ino);
  EXPECT_EQ(b2->nlink, 2u);
  EXPECT_EQ(ov().ReadFile("/b"), "shared");
}

TEST_F(OverlayInodeTest, TrustedOverlayNamesAreEscaped) {
  LowerFile("/a", "a");
  ASSERT_THAT(lower().SetXattr("/a", "trusted.overlay.overlay.mine", "1"),
              IsOk());
  ASSERT_THAT(lower().SetXattr("/a", "trusted.overlay.private", "2"), IsOk());
  Mount();
  EXPECT_THAT(ov().ListXattr("/a"),
              IsOkAndHolds(ElementsAre("trusted.overlay.mine")));
  EXPECT_THAT(ov().GetXattr("/a", "trusted.overlay.mine"), IsOkAndHolds("1"));
  EXPECT_THAT(ov().GetXattr("/a", "trusted.overlay.private"), ErrnoIs(ENODATA));
  ASSERT_THAT(ov().SetXattr("/a", "trusted.overlay.new", "3"), IsOk());
  EXPECT_THAT(UpperXattr("/a", "trusted.overlay.overlay.new"),
              IsOkAndHolds("3"));
  EXPECT_THAT(UpperXattr("/a", "trusted.overlay.overlay.mine"),
              IsOkAndHolds("1"));
  EXPECT_THAT(ov().ListXattr("/a"),
              IsOkAndHolds(::testing::UnorderedElementsAre(
                  "trusted.overlay.mine", "trusted.overlay.new")));
}

TEST_F(OverlayInodeTest, StatfsIsTheUppersAsAnOverlay) {
  Mount();
  auto st = vfs().StatFsAt(ov().ctx(), ov().ctx().cwd, "/", 0);
  ASSERT_THAT(st, IsOk());
  EXPECT_EQ(st->f_type, OVERLAYFS_SUPER_MAGIC);
  EXPECT_EQ(st->f_namelen, NAME_MAX);
}

TEST_F(OverlayInodeTest, PermissionsAreTheVisibleFiles) {
  LowerFile("/secret", "s", 0600);
  Mount();
  auto f =
      vfs().OpenAt(*alice_, alice_->cwd, "/secret", OpenHow{O_RDONLY, 0, 0});
  EXPECT_THAT(f, ErrnoIs(EACCES));
  EXPECT_THAT(
      vfs().OpenAt(*alice_, alice_->cwd, "/secret", OpenHow{O_WRONLY, 0, 0}),
      ErrnoIs(EACCES));
  // A refused open copies nothing up.
  EXPECT_THAT(UpperLstat("/secret"), ErrnoIs(ENOENT));
}

}  // namespace
}  // namespace veil::overlay::testing
