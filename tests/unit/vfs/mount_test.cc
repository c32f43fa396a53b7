// SPDX-License-Identifier: Apache-2.0
//
// Mounts: crossing, "..", st_dev, EXDEV, EBUSY, bind mounts.
#include <linux/openat2.h>

#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

class MountTest : public VfsTest {
 protected:
  void SetUp() override {
    ASSERT_THAT(Mkdir("/mnt"), IsOk());
    WriteFile("/outside", "o");
    ASSERT_THAT(vfs_.MountAt(root_, tmpfs::Tmpfs::Create(), Root(), "/mnt", 0),
                IsOk());
    WriteFile("/mnt/inside", "i");
  }
};

TEST_F(MountTest, CrossingShowsTheMountedFilesystem) {
  auto mnt = Stat("/mnt");
  auto root = Stat("/");
  ASSERT_THAT(mnt, IsOk());
  EXPECT_NE(mnt->dev, root->dev);  // one st_dev per filesystem
  EXPECT_EQ(mnt->mode & 07777, 01777u);
  EXPECT_EQ(ReadFile("/mnt/inside"), "i");
  EXPECT_EQ(ReadFile("/mnt/../outside"), "o");
}

TEST_F(MountTest, CrossFilesystemRenameAndLinkAreEXDEV) {
  EXPECT_THAT(vfs_.RenameAt(root_, Root(), "/outside", Root(), "/mnt/x", 0),
              ErrnoIs(EXDEV));
  EXPECT_THAT(vfs_.LinkAt(root_, Root(), "/outside", Root(), "/mnt/x", 0),
              ErrnoIs(EXDEV));
}

TEST_F(MountTest, ResolveNoXdev) {
  EXPECT_THAT(OpenAs(root_, "/mnt/inside", O_RDONLY, 0, RESOLVE_NO_XDEV),
              ErrnoIs(EXDEV));
  EXPECT_THAT(OpenAs(root_, "/outside", O_RDONLY, 0, RESOLVE_NO_XDEV), IsOk());
}

TEST_F(MountTest, UnmountIsBusyWhileInUse) {
  {
    auto f = Open("/mnt/inside", O_RDONLY);
    ASSERT_THAT(f, IsOk());
    EXPECT_THAT(vfs_.UnmountAt(root_, Root(), "/mnt"), ErrnoIs(EBUSY));
  }
  EXPECT_THAT(vfs_.UnmountAt(root_, Root(), "/mnt"), IsOk());
  EXPECT_THAT(Stat("/mnt/inside"), ErrnoIs(ENOENT));
  EXPECT_THAT(vfs_.UnmountAt(root_, Root(), "/mnt"), ErrnoIs(EINVAL));
}

TEST_F(MountTest, MountPointsCannotBeRemoved) {
  EXPECT_THAT(vfs_.UnlinkAt(root_, Root(), "/mnt", AT_REMOVEDIR),
              ErrnoIs(EBUSY));
  EXPECT_THAT(vfs_.RenameAt(root_, Root(), "/mnt", Root(), "/mnt2", 0),
              ErrnoIs(EBUSY));
}

TEST_F(MountTest, BindMountsShareInodes) {
  ASSERT_THAT(Mkdir("/bind"), IsOk());
  ASSERT_THAT(vfs_.BindMountAt(root_, Root(), "/mnt", Root(), "/bind", 0),
              IsOk());
  EXPECT_EQ(Stat("/bind/inside")->ino, Stat("/mnt/inside")->ino);
  WriteFile("/bind/new", "n");
  EXPECT_EQ(ReadFile("/mnt/new"), "n");
  // Same filesystem, different mounts: still EXDEV.
  EXPECT_THAT(vfs_.RenameAt(root_, Root(), "/bind/new", Root(), "/mnt/new2", 0),
              ErrnoIs(EXDEV));
}

TEST_F(MountTest, ReadOnlyMountsRefuseWrites) {
  ASSERT_THAT(Mkdir("/ro"), IsOk());
  ASSERT_THAT(vfs_.BindMountAt(root_, Root(), "/mnt", Root(), "/ro",
                               kMountReadOnly),
              IsOk());
  EXPECT_THAT(Open("/ro/inside", O_WRONLY), ErrnoIs(EROFS));
  EXPECT_THAT(Mkdir("/ro/d"), ErrnoIs(EROFS));
  EXPECT_THAT(Open("/ro/inside", O_RDONLY), IsOk());
}

TEST_F(MountTest, OnlyCapSysAdminMounts) {
  EXPECT_THAT(vfs_.MountAt(alice_, tmpfs::Tmpfs::Create(), Root(), "/mnt", 0),
              ErrnoIs(EPERM));
}

}  // namespace
}  // namespace veil::vfs::testing
