// SPDX-License-Identifier: Apache-2.0
//
// Path resolution: openat2(2) semantics and Linux's errnos.
#include <linux/openat2.h>

#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

class PathResolutionTest : public VfsTest {
 protected:
  void SetUp() override {
    ASSERT_THAT(Mkdir("/a"), IsOk());
    ASSERT_THAT(Mkdir("/a/b"), IsOk());
    WriteFile("/a/b/file", "hello");
  }
};

TEST_F(PathResolutionTest, AbsoluteAndRelativeToADirfd) {
  EXPECT_THAT(Stat("/a/b/file"), IsOk());
  auto dir = Open("/a", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dir, IsOk());
  EXPECT_THAT(vfs_.StatAt(root_, (*dir)->location(), "b/file", 0), IsOk());
  // An absolute path ignores the dirfd.
  EXPECT_THAT(vfs_.StatAt(root_, (*dir)->location(), "/a/b", 0), IsOk());
}

TEST_F(PathResolutionTest, DotAndDotDot) {
  auto a = Stat("/a");
  ASSERT_THAT(a, IsOk());
  EXPECT_THAT(Stat("/a/b/.."), IsOkAndHolds(::testing::Field(&Attr::ino, a->ino)));
  EXPECT_THAT(Stat("/a/./b/./file"), IsOk());
  // ".." at the root stays at the root.
  auto root = Stat("/");
  EXPECT_THAT(Stat("/../../.."),
              IsOkAndHolds(::testing::Field(&Attr::ino, root->ino)));
  EXPECT_THAT(Stat("../a"), IsOkAndHolds(::testing::Field(&Attr::ino, a->ino)));
}

TEST_F(PathResolutionTest, SymlinksRelativeAbsoluteAndChains) {
  ASSERT_THAT(Symlink("b/file", "/a/rel"), IsOk());
  ASSERT_THAT(Symlink("/a/b", "/abs"), IsOk());
  ASSERT_THAT(Symlink("rel", "/a/chain"), IsOk());
  EXPECT_EQ(ReadFile("/a/rel"), "hello");
  EXPECT_EQ(ReadFile("/abs/file"), "hello");
  EXPECT_EQ(ReadFile("/a/chain"), "hello");
  EXPECT_THAT(Lstat("/a/chain"),
              IsOkAndHolds(::testing::Field(&Attr::mode, S_IFLNK | 0777)));
}

TEST_F(PathResolutionTest, SymlinkLoopsAndTheFortyLinkLimit) {
  ASSERT_THAT(Symlink("loop2", "/loop1"), IsOk());
  ASSERT_THAT(Symlink("loop1", "/loop2"), IsOk());
  EXPECT_THAT(Stat("/loop1"), ErrnoIs(ELOOP));
  // A chain of 40 links resolves; 41 is ELOOP.
  ASSERT_THAT(Symlink("/a/b/file", "/l0"), IsOk());
  for (int i = 1; i <= 40; ++i) {
    ASSERT_THAT(Symlink("l" + std::to_string(i - 1), "/l" + std::to_string(i)),
                IsOk());
  }
  EXPECT_THAT(Stat("/l39"), IsOk());
  EXPECT_THAT(Stat("/l40"), ErrnoIs(ELOOP));
}

TEST_F(PathResolutionTest, TrailingSlashes) {
  EXPECT_THAT(Stat("/a/b/file/"), ErrnoIs(ENOTDIR));
  EXPECT_THAT(Stat("/a/b/"), IsOk());
  EXPECT_THAT(Stat("/a//b///"), IsOk());
  ASSERT_THAT(Symlink("/a/b", "/dirlink"), IsOk());
  // A trailing slash follows a final symlink even with NOFOLLOW.
  EXPECT_THAT(Lstat("/dirlink/"),
              IsOkAndHolds(::testing::Field(&Attr::mode, S_IFDIR | 0755)));
  ASSERT_THAT(Symlink("/a/b/file", "/filelink"), IsOk());
  EXPECT_THAT(Stat("/filelink/"), ErrnoIs(ENOTDIR));
  EXPECT_THAT(Open("/a/b/new/", O_CREAT | O_WRONLY), ErrnoIs(EISDIR));
}

TEST_F(PathResolutionTest, EmptyPath) {
  EXPECT_THAT(Stat(""), ErrnoIs(ENOENT));
  EXPECT_THAT(Stat("", AT_EMPTY_PATH), IsOk());
}

TEST_F(PathResolutionTest, NameAndPathLength) {
  std::string name255(255, 'n'), name256(256, 'n');
  EXPECT_THAT(Stat("/" + name255), ErrnoIs(ENOENT));
  EXPECT_THAT(Stat("/" + name256), ErrnoIs(ENAMETOOLONG));
  EXPECT_THAT(Mkdir("/" + name256), ErrnoIs(ENAMETOOLONG));
  std::string long_path;
  while (long_path.size() < 4095) long_path += "/.";
  long_path.resize(4095);  // 4095 bytes + NUL fits PATH_MAX
  EXPECT_THAT(Stat(long_path), IsOk());
  EXPECT_THAT(Stat(long_path + "/"), ErrnoIs(ENAMETOOLONG));
}

TEST_F(PathResolutionTest, WalkingThroughAFileIsENOTDIR) {
  EXPECT_THAT(Stat("/a/b/file/x"), ErrnoIs(ENOTDIR));
  EXPECT_THAT(Stat("/a/b/file/."), ErrnoIs(ENOTDIR));
  auto file = Open("/a/b/file", O_RDONLY);
  ASSERT_THAT(file, IsOk());
  EXPECT_THAT(vfs_.StatAt(root_, (*file)->location(), "x", 0),
              ErrnoIs(ENOTDIR));
  EXPECT_THAT(vfs_.StatAt(root_, (*file)->location(), "", AT_EMPTY_PATH),
              IsOk());
}

TEST_F(PathResolutionTest, OpenFlags) {
  ASSERT_THAT(Symlink("/a/b/file", "/link"), IsOk());
  EXPECT_THAT(Open("/link", O_RDONLY | O_NOFOLLOW), ErrnoIs(ELOOP));
  EXPECT_THAT(Open("/link", O_PATH | O_NOFOLLOW), IsOk());
  EXPECT_THAT(Open("/a/b/file", O_RDONLY | O_DIRECTORY), ErrnoIs(ENOTDIR));
  EXPECT_THAT(Open("/a", O_WRONLY), ErrnoIs(EISDIR));
  EXPECT_THAT(Open("/a/b/file", O_CREAT | O_EXCL | O_WRONLY), ErrnoIs(EEXIST));
  EXPECT_THAT(Open("/a", O_CREAT | O_RDONLY), ErrnoIs(EISDIR));
  EXPECT_THAT(Open("/a/new", O_CREAT | O_DIRECTORY), ErrnoIs(EINVAL));
  EXPECT_THAT(Open("/missing", O_RDONLY), ErrnoIs(ENOENT));
}

TEST_F(PathResolutionTest, CreateThroughADanglingSymlink) {
  ASSERT_THAT(Symlink("/a/target", "/dangling"), IsOk());
  // O_CREAT|O_EXCL does not follow: the link itself exists.
  EXPECT_THAT(Open("/dangling", O_CREAT | O_EXCL | O_WRONLY), ErrnoIs(EEXIST));
  // Plain O_CREAT creates the target.
  EXPECT_THAT(Open("/dangling", O_CREAT | O_WRONLY), IsOk());
  EXPECT_THAT(Stat("/a/target"), IsOk());
}

TEST_F(PathResolutionTest, ResolveBeneath) {
  auto a = Open("/a", O_PATH);
  ASSERT_THAT(a, IsOk());
  Context ctx = root_;
  ctx.cwd = (*a)->location();
  EXPECT_THAT(OpenAs(ctx, "b/file", O_RDONLY, 0, RESOLVE_BENEATH), IsOk());
  EXPECT_THAT(OpenAs(ctx, "../a", O_RDONLY, 0, RESOLVE_BENEATH),
              ErrnoIs(EXDEV));
  EXPECT_THAT(OpenAs(ctx, "/a", O_RDONLY, 0, RESOLVE_BENEATH), ErrnoIs(EXDEV));
  ASSERT_THAT(Symlink("/a/b", "/a/abs"), IsOk());
  EXPECT_THAT(OpenAs(ctx, "abs/file", O_RDONLY, 0, RESOLVE_BENEATH),
              ErrnoIs(EXDEV));
  // ".." that stays beneath is fine.
  EXPECT_THAT(OpenAs(ctx, "b/../b/file", O_RDONLY, 0, RESOLVE_BENEATH), IsOk());
}

TEST_F(PathResolutionTest, ResolveInRoot) {
  auto a = Open("/a", O_PATH);
  ASSERT_THAT(a, IsOk());
  Context ctx = root_;
  ctx.cwd = (*a)->location();
  ASSERT_THAT(Symlink("/b/file", "/a/inroot"), IsOk());
  // "/" means /a: the absolute link resolves inside it.
  EXPECT_THAT(OpenAs(ctx, "inroot", O_RDONLY, 0, RESOLVE_IN_ROOT), IsOk());
  EXPECT_THAT(OpenAs(ctx, "../../b/file", O_RDONLY, 0, RESOLVE_IN_ROOT),
              IsOk());
  EXPECT_THAT(OpenAs(ctx, "inroot", O_RDONLY, 0, RESOLVE_IN_ROOT | RESOLVE_BENEATH),
              ErrnoIs(EINVAL));
}

TEST_F(PathResolutionTest, ResolveNoSymlinks) {
  ASSERT_THAT(Symlink("b", "/a/bl"), IsOk());
  EXPECT_THAT(OpenAs(root_, "/a/bl/file", O_RDONLY, 0, RESOLVE_NO_SYMLINKS),
              ErrnoIs(ELOOP));
  EXPECT_THAT(OpenAs(root_, "/a/b/file", O_RDONLY, 0, RESOLVE_NO_SYMLINKS),
              IsOk());
}

TEST_F(PathResolutionTest, SearchPermissionIsCheckedOnEveryDirectory) {
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/a", 0700, 0), IsOk());
  EXPECT_THAT(vfs_.StatAt(alice_, Root(), "/a/b/file", 0), ErrnoIs(EACCES));
  // The final component needs no permission of its own to be stat'ed.
  EXPECT_THAT(vfs_.StatAt(alice_, Root(), "/a", 0), IsOk());
}

// Vfs::ResolveAt: the object a path names, with openat2(O_PATH)'s errors.
TEST_F(PathResolutionTest, ResolveAtNamesTheObject) {
  ASSERT_THAT(Symlink("b/file", "/a/link"), IsOk());
  auto file = vfs_.ResolveAt(root_, Root(), "/a/link", 0);
  ASSERT_THAT(file, IsOk());
  EXPECT_TRUE(file->dentry->inode().IsRegular());
  auto link = vfs_.ResolveAt(root_, Root(), "/a/link", AT_SYMLINK_NOFOLLOW);
  ASSERT_THAT(link, IsOk());
  EXPECT_TRUE(link->dentry->inode().IsSymlink());
  // An empty path is the start itself only with AT_EMPTY_PATH.
  EXPECT_THAT(vfs_.ResolveAt(root_, *file, "", 0), ErrnoIs(ENOENT));
  auto same = vfs_.ResolveAt(root_, *file, "", AT_EMPTY_PATH);
  ASSERT_THAT(same, IsOk());
  EXPECT_TRUE(*same == *file);
  EXPECT_THAT(vfs_.ResolveAt(root_, Root(), "/a/link/", 0), ErrnoIs(ENOTDIR));
  EXPECT_THAT(vfs_.ResolveAt(root_, Root(), "/a/none", 0), ErrnoIs(ENOENT));
  EXPECT_THAT(vfs_.ResolveAt(root_, Root(), "/a", AT_REMOVEDIR),
              ErrnoIs(EINVAL));
  // RESOLVE_* as openat2.
  auto a = vfs_.ResolveAt(root_, Root(), "/a", 0);
  ASSERT_THAT(a, IsOk());
  EXPECT_THAT(vfs_.ResolveAt(root_, *a, "../a", 0, RESOLVE_BENEATH),
              ErrnoIs(EXDEV));
  EXPECT_THAT(vfs_.ResolveAt(root_, *a, "link", 0, RESOLVE_NO_SYMLINKS),
              ErrnoIs(ELOOP));
  // Search permission on every directory walked.
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/a", 0700, 0), IsOk());
  EXPECT_THAT(vfs_.ResolveAt(alice_, Root(), "/a/b", 0), ErrnoIs(EACCES));
  EXPECT_THAT(vfs_.ResolveAt(alice_, Root(), "/a", 0), IsOk());
}

TEST_F(PathResolutionTest, GetcwdStylePaths) {
  auto b = Open("/a/b", O_PATH);
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(vfs_.PathOf(root_, (*b)->location()), "/a/b");
  EXPECT_EQ(vfs_.PathOf(root_, Root()), "/");
}

}  // namespace
}  // namespace veil::vfs::testing
