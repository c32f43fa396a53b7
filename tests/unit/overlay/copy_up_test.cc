// SPDX-License-Identifier: Apache-2.0
//
// Copy-up (overlay/copy_up.cc): what triggers it, what it keeps, and what
// open descriptions see across it.
#include <sys/xattr.h>
#include <unistd.h>

#include "tests/unit/overlay/fixture.h"

namespace veil::overlay::testing {
namespace {

using OverlayCopyUpTest = OverlayTest;

constexpr timespec kAtime = {1000000000, 5};
constexpr timespec kMtime = {1000000100, 7};

// A lower /d/f owned by alice with xattrs and old times; /d has old times
// too.
void MakeLowerFile(OverlayTest& t, VfsOps& lower) {
  ASSERT_THAT(lower.Mkdir("/d", 0750), IsOk());
  lower.WriteFile("/d/f", "payload", 04750);
  Vfs& v = lower.vfs();
  ASSERT_THAT(v.ChownAt(lower.ctx(), lower.ctx().cwd, "/d/f", 1000, 1000, 0),
              IsOk());
  ASSERT_THAT(v.ChmodAt(lower.ctx(), lower.ctx().cwd, "/d/f", 04750, 0),
              IsOk());
  ASSERT_THAT(lower.SetXattr("/d/f", "user.k", "v"), IsOk());
  ASSERT_THAT(lower.SetXattr("/d/f", "trusted.t", "tv"), IsOk());
  const timespec times[2] = {kAtime, kMtime};
  for (const char* p : {"/d/f", "/d"})
    ASSERT_THAT(v.UtimensAt(lower.ctx(), lower.ctx().cwd, p, times, 0), IsOk());
  (void)t;
}

TEST_F(OverlayCopyUpTest, OpenForWriteCopiesUpKeepingEverything) {
  MakeLowerFile(*this, lower());
  Mount();
  auto before = ov().Lstat("/d/f");
  ASSERT_THAT(before, IsOk());
  {
    auto f = ov().Open("/d/f", O_WRONLY);
    ASSERT_THAT(f, IsOk());
  }
  auto up = UpperLstat("/d/f");
  ASSERT_THAT(up, IsOk());
  EXPECT_EQ(up->mode, S_IFREG | 04750u);
  EXPECT_EQ(up->uid, 1000u);
  EXPECT_EQ(up->gid, 1000u);
  EXPECT_EQ(up->size, 7u);
  EXPECT_THAT(up->atime, TimeIs(kAtime));
  EXPECT_THAT(up->mtime, TimeIs(kMtime));
  EXPECT_THAT(UpperXattr("/d/f", "user.k"), IsOkAndHolds("v"));
  EXPECT_THAT(UpperXattr("/d/f", "trusted.t"), IsOkAndHolds("tv"));
  // The parent came first, with its mode and times.
  auto dir = UpperLstat("/d");
  ASSERT_THAT(dir, IsOk());
  EXPECT_EQ(dir->mode, S_IFDIR | 0750u);
  EXPECT_THAT(dir->mtime, TimeIs(kMtime));
  EXPECT_THAT(dir->atime, TimeIs(kAtime));
  // Same data, same identity; the lower is untouched.
  EXPECT_EQ(ov().ReadFile("/d/f"), "payload");
  auto after = ov().Lstat("/d/f");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->ino, before->ino);
  EXPECT_EQ(after->dev, before->dev);
  EXPECT_THAT(after->mtime, TimeIs(kMtime));
  EXPECT_THAT(
      ov().ListXattr("/d/f"),
      IsOkAndHolds(::testing::UnorderedElementsAre("user.k", "trusted.t")));
  EXPECT_THAT(LowerLstat("/d/f"),
              IsOkAndHolds(::testing::Field(&Attr::atime, TimeIs(kAtime))));
}

TEST_F(OverlayCopyUpTest, ReadingDoesNotCopyUpOrTouchTheLower) {
  MakeLowerFile(*this, lower());
  Mount();
  EXPECT_EQ(ov().ReadFile("/d/f"), "payload");
  EXPECT_THAT(ov().List("/d"), ElementsAre("f"));
  EXPECT_THAT(UpperLstat("/d"), ErrnoIs(ENOENT));
  // The lower layer is noatime.
  EXPECT_THAT(ov().Lstat("/d/f"),
              IsOkAndHolds(::testing::Field(&Attr::atime, TimeIs(kAtime))));
}

TEST_F(OverlayCopyUpTest, TruncatingOpenCopiesNoData) {
  LowerFile("/big", std::string(100000, 'x'));
  Mount();
  ASSERT_THAT(ov().Open("/big", O_RDONLY | O_TRUNC), IsOk());
  auto up = UpperLstat("/big");
  ASSERT_THAT(up, IsOk());
  EXPECT_EQ(up->size, 0u);
  EXPECT_EQ(up->blocks, 0u);
}

TEST_F(OverlayCopyUpTest, MetadataChangesCopyUp) {
  for (const char* name : {"/m", "/o", "/t", "/x", "/tr"})
    LowerFile(name, "data");
  Mount();
  Vfs& v = vfs();
  Context& c = ov().ctx();
  ASSERT_THAT(v.ChmodAt(c, c.cwd, "/m", 0600, 0), IsOk());
  ASSERT_THAT(v.ChownAt(c, c.cwd, "/o", 1000, -1, 0), IsOk());
  ASSERT_THAT(v.UtimensAt(c, c.cwd, "/t", nullptr, 0), IsOk());
  ASSERT_THAT(ov().SetXattr("/x", "user.new", "1"), IsOk());
  ASSERT_THAT(v.TruncateAt(c, c.cwd, "/tr", 2), IsOk());
  EXPECT_THAT(UpperLstat("/m"),
              IsOkAndHolds(::testing::Field(&Attr::mode, S_IFREG | 0600u)));
  EXPECT_THAT(UpperLstat("/o"),
              IsOkAndHolds(::testing::Field(&Attr::uid, 1000u)));
  EXPECT_THAT(UpperLstat("/t"), IsOk());
  EXPECT_THAT(UpperXattr("/x", "user.new"), IsOkAndHolds("1"));
  EXPECT_EQ(ov().ReadFile("/tr"), "da");
  EXPECT_EQ(ov().ReadFile("/x"), "data");
}

TEST_F(OverlayCopyUpTest, RemovingAMissingXattrDoesNotCopyUp) {
  LowerFile("/a", "data");
  Mount();
  Vfs& v = vfs();
  Context& c = ov().ctx();
  EXPECT_THAT(v.RemoveXattrAt(c, c.cwd, "/a", "user.none", 0),
              ErrnoIs(ENODATA));
  EXPECT_THAT(UpperLstat("/a"), ErrnoIs(ENOENT));
  // An unknown namespace: overlayfs's catch-all handler copies up first.
  EXPECT_THAT(v.SetXattrAt(c, c.cwd, "/a", "system.x", "1", 0, 0),
              ErrnoIs(EOPNOTSUPP));
  EXPECT_THAT(UpperLstat("/a"), IsOk());
}

TEST_F(OverlayCopyUpTest, ReadOnlyDescriptionFollowsTheCopyUp) {
  LowerFile("/a", "lower");
  Mount();
  auto ro = ov().Open("/a", O_RDONLY);
  ASSERT_THAT(ro, IsOk());
  auto before = (*ro)->GetHostMemory();
  ASSERT_THAT(before, IsOk());
  auto rw = ov().Open("/a", O_RDWR);
  ASSERT_THAT(rw, IsOk());
  ASSERT_THAT((*rw)->PWrite(Bytes("UPPER"), 0), IsOkAndHolds(5u));
  EXPECT_EQ(ov().ReadAll(**ro), "UPPER");
  // The host memory is now the upper copy's.
  auto after = (*ro)->GetHostMemory();
  ASSERT_THAT(after, IsOk());
  char buf[8] = {};
  ASSERT_EQ(pread(after->fd, buf, 5, static_cast<off_t>(after->offset)), 5);
  EXPECT_EQ(std::string(buf, 5), "UPPER");
  ASSERT_EQ(pread(before->fd, buf, 5, static_cast<off_t>(before->offset)), 5);
  EXPECT_EQ(std::string(buf, 5), "lower");
}

TEST_F(OverlayCopyUpTest, SparseFilesKeepTheirHoles) {
  {
    auto f = lower().Open("/s", O_CREAT | O_WRONLY, 0644);
    ASSERT_THAT(f, IsOk());
    ASSERT_THAT((*f)->PWrite(Bytes("a"), 0), IsOk());
    ASSERT_THAT((*f)->PWrite(Bytes("b"), 3 << 20), IsOk());
  }
  Mount();
  ASSERT_THAT(vfs().ChmodAt(ov().ctx(), ov().ctx().cwd, "/s", 0600, 0), IsOk());
  auto up = UpperLstat("/s");
  ASSERT_THAT(up, IsOk());
  EXPECT_EQ(up->size, (3u << 20) + 1);
  // Linux's 1 MiB chunks: the first chunk is copied whole, the hole after
  // it skipped, the last page copied.
  EXPECT_EQ(up->blocks, ((1u << 20) + 4096) / 512);
  std::string data = ov().ReadFile("/s");
  ASSERT_EQ(data.size(), (3u << 20) + 1);
  EXPECT_EQ(data[0], 'a');
  EXPECT_EQ(data[3 << 20], 'b');
  EXPECT_EQ(data[1 << 20], '\0');
}

TEST_F(OverlayCopyUpTest, CopyUpOfARemovedNameFails) {
  LowerFile("/a", "data");
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/c", "data");
  Mount();
  auto fa = ov().Open("/a", O_RDONLY);
  auto fc = ov().Open("/d/c", O_RDONLY);
  ASSERT_THAT(fa, IsOk());
  ASSERT_THAT(fc, IsOk());
  ASSERT_THAT(ov().Unlink("/a"), IsOk());
  ASSERT_THAT(ov().Unlink("/d/c"), IsOk());
  ASSERT_THAT(ov().Rmdir("/d"), IsOk());
  Context& c = ov().ctx();
  // Linux: the link of the copy into place finds the whiteout (EEXIST); a
  // removed directory takes no new entries (ENOENT).
  EXPECT_THAT(vfs().ChmodAt(c, (*fa)->location(), "", 0600, AT_EMPTY_PATH),
              ErrnoIs(EEXIST));
  EXPECT_THAT(vfs().ChmodAt(c, (*fc)->location(), "", 0600, AT_EMPTY_PATH),
              ErrnoIs(ENOENT));
  EXPECT_EQ(ov().ReadAll(**fa), "data");
}

TEST_F(OverlayCopyUpTest, SymlinksAndSpecialFilesCopyUp) {
  ASSERT_THAT(
      lower().vfs().SymlinkAt(lower().ctx(), "target", lower().ctx().cwd, "/l"),
      IsOk());
  ASSERT_THAT(lower().vfs().MknodAt(lower().ctx(), lower().ctx().cwd, "/p",
                                    S_IFIFO | 0644, 0),
              IsOk());
  Mount();
  Context& c = ov().ctx();
  ASSERT_THAT(vfs().ChownAt(c, c.cwd, "/l", 1000, 1000, AT_SYMLINK_NOFOLLOW),
              IsOk());
  ASSERT_THAT(vfs().ChmodAt(c, c.cwd, "/p", 0600, 0), IsOk());
  EXPECT_THAT(vfs().ReadlinkAt(c, c.cwd, "/l"), IsOkAndHolds("target"));
  auto l = UpperLstat("/l");
  ASSERT_THAT(l, IsOk());
  EXPECT_TRUE(l->IsSymlink());
  EXPECT_EQ(l->uid, 1000u);
  EXPECT_THAT(UpperLstat("/p"),
              IsOkAndHolds(::testing::Field(&Attr::mode, S_IFIFO | 0600u)));
}

}  // namespace
}  // namespace veil::overlay::testing

namespace veil::overlay::testing {
namespace {

// Linux renames non-regular copies into place: an unlinked FIFO whose open
// description is chmod'ed comes back, where a regular file cannot (EEXIST).
TEST_F(OverlayCopyUpTest, RenamedIntoPlaceCopiesReplaceWhatIsThere) {
  ASSERT_THAT(lower().vfs().MknodAt(lower().ctx(), lower().ctx().cwd, "/p",
                                    S_IFIFO | 0644, 0),
              IsOk());
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  ASSERT_THAT(lower().vfs().MknodAt(lower().ctx(), lower().ctx().cwd, "/d/q",
                                    S_IFIFO | 0644, 0),
              IsOk());
  Mount();
  auto p = ov().Open("/p", O_RDONLY | O_NONBLOCK);
  auto q = ov().Open("/d/q", O_RDONLY | O_NONBLOCK);
  ASSERT_THAT(p, IsOk());
  ASSERT_THAT(q, IsOk());
  ASSERT_THAT(ov().Unlink("/p"), IsOk());
  ASSERT_THAT(ov().Unlink("/d/q"), IsOk());
  ASSERT_THAT(ov().Rmdir("/d"), IsOk());
  Context& c = ov().ctx();
  ASSERT_THAT(vfs().ChmodAt(c, (*p)->location(), "", 0600, AT_EMPTY_PATH),
              IsOk());
  EXPECT_THAT(UpperLstat("/p"),
              IsOkAndHolds(::testing::Field(&Attr::mode, S_IFIFO | 0600u)));
  EXPECT_THAT(vfs().ChmodAt(c, (*q)->location(), "", 0600, AT_EMPTY_PATH),
              ErrnoIs(EIO));
}

// ovl_set_impure comes first: even a copy-up that then fails marks the
// directory, and so changes its ctime.
TEST_F(OverlayCopyUpTest, FailedCopyUpStillMarksTheDirectory) {
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/f", "f");
  Mount();
  auto f = ov().Open("/d/f", O_RDONLY);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT(ov().Unlink("/d/f"), IsOk());
  auto before = UpperLstat("/d");
  ASSERT_THAT(before, IsOk());
  EXPECT_THAT(UpperXattr("/d", "trusted.overlay.impure"), ErrnoIs(ENODATA));
  Context& c = ov().ctx();
  EXPECT_THAT(vfs().ChmodAt(c, (*f)->location(), "", 0600, AT_EMPTY_PATH),
              ErrnoIs(EEXIST));
  EXPECT_THAT(UpperXattr("/d", "trusted.overlay.impure"), IsOkAndHolds("y"));
  auto after = UpperLstat("/d");
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->ctime, ::testing::Not(TimeIs(before->ctime)));
}

}  // namespace
}  // namespace veil::overlay::testing
