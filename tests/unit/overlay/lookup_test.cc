// SPDX-License-Identifier: Apache-2.0
//
// Name lookup across layers: upper over lower, whiteouts, opaque
// directories, several lowers (overlay/lookup.cc).
#include "tests/unit/overlay/fixture.h"

namespace veil::overlay::testing {
namespace {

using OverlayLookupTest = OverlayTest;

TEST_F(OverlayLookupTest, ShowsBothLayers) {
  LowerFile("/a", "lower a");
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/x", "x");
  Mount();
  ov().WriteFile("/b", "upper b");
  EXPECT_THAT(ov().List("/"), ElementsAre("a", "b", "d"));
  EXPECT_EQ(ov().ReadFile("/a"), "lower a");
  EXPECT_EQ(ov().ReadFile("/d/x"), "x");
  EXPECT_EQ(ov().ReadFile("/b"), "upper b");
  // Only the new file reached the upper layer.
  EXPECT_THAT(UpperList("/"), ElementsAre("b"));
}

TEST_F(OverlayLookupTest, UpperLayerWinsAndHides) {
  LowerFile("/a", "lower");
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/x", "x");
  LowerFile("/w", "hidden");
  ASSERT_THAT(lower().Mkdir("/o"), IsOk());
  LowerFile("/o/y", "y");
  {
    // A prepared upper layer: a file over /a, a whiteout over /w, an opaque
    // directory over /o.
    Vfs up(upper_);
    VfsOps u(up);
    u.WriteFile("/a", "upper");
    ASSERT_THAT(up.MknodAt(u.ctx(), u.ctx().cwd, "/w", S_IFCHR, 0), IsOk());
    ASSERT_THAT(u.Mkdir("/o"), IsOk());
    ASSERT_THAT(u.SetXattr("/o", "trusted.overlay.opaque", "y"), IsOk());
  }
  Mount();
  EXPECT_EQ(ov().ReadFile("/a"), "upper");
  EXPECT_THAT(ov().Lstat("/w"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().List("/"), ElementsAre("a", "d", "o"));
  EXPECT_THAT(ov().List("/o"), IsEmpty());
  EXPECT_THAT(ov().Lstat("/o/y"), ErrnoIs(ENOENT));
  // The opaque marker is the overlay's own: not shown.
  EXPECT_THAT(ov().ListXattr("/o"), IsOkAndHolds(IsEmpty()));
}

TEST_F(OverlayLookupTest, SeveralLowers) {
  Ref<vfs::tmpfs::Tmpfs> bottom = vfs::tmpfs::Tmpfs::Create({0755, 0, 0});
  {
    Vfs v(bottom);
    VfsOps b(v);
    b.WriteFile("/a", "bottom a");
    b.WriteFile("/gone", "bottom");
    ASSERT_THAT(b.Mkdir("/m"), IsOk());
    b.WriteFile("/m/from_bottom", "1");
    ASSERT_THAT(b.Mkdir("/o"), IsOk());
    b.WriteFile("/o/hidden", "1");
  }
  LowerFile("/a", "top a");
  ASSERT_THAT(lower().vfs().MknodAt(lower().ctx(), lower().ctx().cwd, "/gone",
                                    S_IFCHR, 0),
              IsOk());
  ASSERT_THAT(lower().Mkdir("/m"), IsOk());
  LowerFile("/m/from_top", "2");
  ASSERT_THAT(lower().Mkdir("/o"), IsOk());
  ASSERT_THAT(lower().SetXattr("/o", "trusted.overlay.opaque", "y"), IsOk());
  Mount({bottom});
  EXPECT_EQ(ov().ReadFile("/a"), "top a");
  EXPECT_THAT(ov().Lstat("/gone"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().List("/m"), ElementsAre("from_bottom", "from_top"));
  EXPECT_THAT(ov().List("/o"), IsEmpty());
  EXPECT_THAT(ov().List("/"), ElementsAre("a", "m", "o"));
  // A directory merged from two lowers is a merged directory.
  EXPECT_THAT(ov().Lstat("/m"),
              IsOkAndHolds(::testing::Field(&Attr::nlink, 1u)));
}

TEST_F(OverlayLookupTest, LowestLayerWhiteoutIsHidden) {
  ASSERT_THAT(
      lower().vfs().MknodAt(lower().ctx(), lower().ctx().cwd, "/w", S_IFCHR, 0),
      IsOk());
  Mount();
  EXPECT_THAT(ov().Lstat("/w"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().List("/"), IsEmpty());
}

TEST_F(OverlayLookupTest, LowerFileUnderUpperDirectoryIsNotMerged) {
  LowerFile("/d", "a file");
  {
    Vfs up(upper_);
    VfsOps u(up);
    ASSERT_THAT(u.Mkdir("/d"), IsOk());
  }
  Mount();
  auto st = ov().Lstat("/d");
  ASSERT_THAT(st, IsOk());
  EXPECT_TRUE(st->IsDir());
  EXPECT_EQ(st->nlink, 2u);  // a pure upper directory keeps its link count
}

TEST_F(OverlayLookupTest, CreateRejectsBadLayers) {
  EXPECT_THAT(OverlayFs::Create(upper_, {}), ErrnoIs(EINVAL));
  EXPECT_THAT(OverlayFs::Create(upper_, {upper_}), ErrnoIs(EINVAL));
  EXPECT_THAT(OverlayFs::Create(upper_, {lower_, lower_}), ErrnoIs(EINVAL));
}

}  // namespace
}  // namespace veil::overlay::testing
