// SPDX-License-Identifier: Apache-2.0
//
// Overlay names under a dentry cache of one name (vfs/dentry_cache.h):
// an evicted overlay inode comes back from the layers with what it knew
// (copied up, moved, whited out, opaque), and one held by more than its
// dentry is not evicted (overlay/README.md, "Evicting overlay names").
#include "tests/unit/overlay/fixture.h"
#include "vfs/dentry.h"

namespace veil::overlay::testing {
namespace {

class OverlayEvictTest : public OverlayTest {
 protected:
  void SetUp() override {
    ASSERT_THAT(lower().Mkdir("/d"), IsOk());
    ASSERT_THAT(lower().Mkdir("/d/sub"), IsOk());
    LowerFile("/d/a", "lower a");
    LowerFile("/d/b", "lower b");
    LowerFile("/d/sub/c", "lower c");
    ASSERT_THAT(lower().Mkdir("/churn"), IsOk());
    for (int i = 0; i < 20; ++i) LowerFile("/churn/f" + std::to_string(i), "");
    Mount();
    ofs_->SetDentryCacheBudget(1);
  }
  // Looks up other names until everything unused is evicted: at most
  // `kept` names stay (the last looked up and its directory, and what is
  // in use).
  void Churn(size_t kept = 2) {
    for (int i = 0; i < 20; ++i)
      ASSERT_THAT(ov().Lstat("/churn/f" + std::to_string(i)), IsOk());
    ASSERT_LE(ofs_->CachedDentries(), kept);
  }
};

TEST_F(OverlayEvictTest, CopiedUpFileKeepsItsInodeNumberAndData) {
  const uint64_t ino = ov().Lstat("/d/a")->ino;
  ov().WriteFile("/d/a", "upper a");
  Churn();
  EXPECT_EQ(ov().Lstat("/d/a")->ino, ino);  // the origin, from the upper
  EXPECT_EQ(ov().ReadFile("/d/a"), "upper a");
  EXPECT_EQ(ov().ReadFile("/d/b"), "lower b");
}

TEST_F(OverlayEvictTest, MovedDirectoryAndWhiteoutsComeBack) {
  const uint64_t sub_ino = ov().Lstat("/d/sub")->ino;
  ASSERT_THAT(ov().Rename("/d/sub", "/d/moved"), IsOk());
  ASSERT_THAT(ov().Unlink("/d/b"), IsOk());
  Churn();
  EXPECT_EQ(ov().Lstat("/d/moved")->ino, sub_ino);
  EXPECT_EQ(ov().ReadFile("/d/moved/c"), "lower c");
  EXPECT_THAT(ov().Lstat("/d/sub"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().Lstat("/d/b"), ErrnoIs(ENOENT));
  EXPECT_THAT(ov().List("/d"), ElementsAre("a", "moved"));
}

TEST_F(OverlayEvictTest, OpaqueDirectoryStaysOpaque) {
  ASSERT_THAT(ov().Rmdir("/d/sub"), ErrnoIs(ENOTEMPTY));
  ASSERT_THAT(ov().Unlink("/d/sub/c"), IsOk());
  ASSERT_THAT(ov().Rmdir("/d/sub"), IsOk());
  ASSERT_THAT(ov().Mkdir("/d/sub"), IsOk());  // over a whiteout: opaque
  Churn();
  EXPECT_THAT(ov().List("/d/sub"), IsEmpty());
  EXPECT_THAT(ov().Lstat("/d/sub/c"), ErrnoIs(ENOENT));
}

TEST_F(OverlayEvictTest, InodeHeldByASecondNameIsNotEvicted) {
  // link(2) gives the new name the same overlay inode: neither dentry is
  // all that holds it, so both stay (a lookup would make a twin).
  ov().WriteFile("/d/new", "n");
  ASSERT_THAT(vfs().LinkAt(ov().ctx(), ov().ctx().cwd, "/d/new", ov().ctx().cwd,
                           "/d/link", 0),
              IsOk());
  Churn(5);  // and /d/new, /d/link, /d
  auto a = vfs().ResolveAt(ov().ctx(), ov().ctx().cwd, "/d/new", 0);
  auto b = vfs().ResolveAt(ov().ctx(), ov().ctx().cwd, "/d/link", 0);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(&a->dentry->inode(), &b->dentry->inode());
  EXPECT_EQ(ov().Lstat("/d/link")->nlink, 2u);
}

}  // namespace
}  // namespace veil::overlay::testing
