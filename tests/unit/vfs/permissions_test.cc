// SPDX-License-Identifier: Apache-2.0
//
// Linux's DAC: mode classes, groups, capabilities, sticky and setgid
// directories, chmod/chown rules, protected hardlinks.
#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

class PermissionsTest : public VfsTest {
 protected:
  void SetUp() override {
    ASSERT_THAT(Mkdir("/shared", 0777), IsOk());
    ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/shared", 0777, 0), IsOk());
  }
  Result<void> MkdirAs(const Context& ctx, std::string_view path,
                       mode_t mode = 0755) {
    return vfs_.MkdirAt(ctx, Root(), path, mode);
  }
  void CreateAs(const Context& ctx, std::string_view path, mode_t mode) {
    auto f = OpenAs(ctx, path, O_CREAT | O_WRONLY, mode);
    ASSERT_THAT(f, IsOk());
    ASSERT_THAT(vfs_.ChmodAt(ctx, Root(), path, mode, 0), IsOk());
  }
};

TEST_F(PermissionsTest, OnlyTheMatchingClassCounts) {
  CreateAs(alice_, "/shared/f", 0077);  // owner: nothing; group/other: all
  // The owner class applies to the owner even though others may read.
  EXPECT_THAT(OpenAs(alice_, "/shared/f", O_RDONLY), ErrnoIs(EACCES));
  EXPECT_THAT(OpenAs(bob_, "/shared/f", O_RDWR), IsOk());
}

TEST_F(PermissionsTest, SupplementaryGroupsGrantTheGroupClass) {
  CreateAs(alice_, "/shared/g", 0640);  // group 1000
  Context carol = UserContext(1002, 1002, {1002});
  EXPECT_THAT(OpenAs(bob_, "/shared/g", O_RDONLY), IsOk());  // 1000 in groups
  EXPECT_THAT(OpenAs(bob_, "/shared/g", O_WRONLY), ErrnoIs(EACCES));
  EXPECT_THAT(OpenAs(carol, "/shared/g", O_RDONLY), ErrnoIs(EACCES));
}

TEST_F(PermissionsTest, RootOverridesReadWriteButNeedsAnExecuteBit) {
  CreateAs(alice_, "/shared/x", 0000);
  EXPECT_THAT(OpenAs(root_, "/shared/x", O_RDWR), IsOk());
  EXPECT_THAT(vfs_.AccessAt(root_, Root(), "/shared/x", X_OK, 0),
              ErrnoIs(EACCES));
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/shared/x", 0010, 0), IsOk());
  EXPECT_THAT(vfs_.AccessAt(root_, Root(), "/shared/x", X_OK, 0), IsOk());
}

TEST_F(PermissionsTest, CapabilityFlagsAreHonouredSeparately) {
  CreateAs(alice_, "/shared/secret", 0600);
  Context reader = UserContext(1002, 1002, {1002});
  reader.creds.caps = Credentials::Bit(Capability::kDacReadSearch);
  EXPECT_THAT(OpenAs(reader, "/shared/secret", O_RDONLY), IsOk());
  EXPECT_THAT(OpenAs(reader, "/shared/secret", O_WRONLY), ErrnoIs(EACCES));
  Context fowner = UserContext(1002, 1002, {1002});
  fowner.creds.caps = Credentials::Bit(Capability::kFowner);
  EXPECT_THAT(vfs_.ChmodAt(fowner, Root(), "/shared/secret", 0644, 0), IsOk());
}

TEST_F(PermissionsTest, StickyDirectoriesProtectOthersEntries) {
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/shared", 01777, 0), IsOk());
  CreateAs(alice_, "/shared/mine", 0666);
  EXPECT_THAT(vfs_.UnlinkAt(bob_, Root(), "/shared/mine", 0), ErrnoIs(EPERM));
  EXPECT_THAT(vfs_.RenameAt(bob_, Root(), "/shared/mine", Root(),
                            "/shared/theirs", 0),
              ErrnoIs(EPERM));
  EXPECT_THAT(vfs_.UnlinkAt(alice_, Root(), "/shared/mine", 0), IsOk());
}

TEST_F(PermissionsTest, WriteAndSearchOnTheParentToCreateOrRemove) {
  ASSERT_THAT(Mkdir("/ro", 0555), IsOk());
  EXPECT_THAT(MkdirAs(alice_, "/ro/x"), ErrnoIs(EACCES));
  EXPECT_THAT(OpenAs(alice_, "/ro/f", O_CREAT | O_WRONLY), ErrnoIs(EACCES));
  // EEXIST wins over EACCES.
  EXPECT_THAT(MkdirAs(alice_, "/ro"), ErrnoIs(EEXIST));
}

TEST_F(PermissionsTest, SetgidDirectoriesPassTheirGroupOn) {
  ASSERT_THAT(Mkdir("/sg", 0777), IsOk());
  ASSERT_THAT(vfs_.ChownAt(root_, Root(), "/sg", 0, 4242, 0), IsOk());
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/sg", 02777, 0), IsOk());
  ASSERT_THAT(MkdirAs(alice_, "/sg/sub"), IsOk());
  auto f = OpenAs(alice_, "/sg/file", O_CREAT | O_WRONLY, 0644);
  ASSERT_THAT(f, IsOk());
  auto sub = Stat("/sg/sub");
  EXPECT_EQ(sub->gid, 4242u);
  EXPECT_TRUE(sub->mode & S_ISGID);  // directories inherit S_ISGID too
  auto file = Stat("/sg/file");
  EXPECT_EQ(file->gid, 4242u);
  EXPECT_FALSE(file->mode & S_ISGID);
}

TEST_F(PermissionsTest, ChmodAndChownRules) {
  CreateAs(alice_, "/shared/f", 0644);
  EXPECT_THAT(vfs_.ChmodAt(bob_, Root(), "/shared/f", 0777, 0), ErrnoIs(EPERM));
  EXPECT_THAT(vfs_.ChownAt(alice_, Root(), "/shared/f", 1001, -1, 0),
              ErrnoIs(EPERM));
  // The owner may change the group to one of its groups only.
  EXPECT_THAT(vfs_.ChownAt(alice_, Root(), "/shared/f", -1, 1000, 0), IsOk());
  EXPECT_THAT(vfs_.ChownAt(alice_, Root(), "/shared/f", -1, 1001, 0),
              ErrnoIs(EPERM));
  // S_ISGID is dropped silently for an owner outside the file's group.
  ASSERT_THAT(vfs_.ChownAt(root_, Root(), "/shared/f", -1, 5555, 0), IsOk());
  ASSERT_THAT(vfs_.ChmodAt(alice_, Root(), "/shared/f", 02755, 0), IsOk());
  EXPECT_EQ(Stat("/shared/f")->mode & 07777, 0755u);
  // chown drops S_ISUID, even for root.
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/shared/f", 04755, 0), IsOk());
  ASSERT_THAT(vfs_.ChownAt(root_, Root(), "/shared/f", 1001, -1, 0), IsOk());
  EXPECT_EQ(Stat("/shared/f")->mode & 07777, 0755u);
}

TEST_F(PermissionsTest, WritesDropSetuidForUnprivilegedWriters) {
  CreateAs(alice_, "/shared/suid", 04777);
  auto f = OpenAs(bob_, "/shared/suid", O_WRONLY);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT((*f)->Write(Bytes("x")), IsOkAndHolds(1u));
  EXPECT_EQ(Stat("/shared/suid")->mode & 07777, 0777u);
}

TEST_F(PermissionsTest, ProtectedHardlinks) {
  CreateAs(alice_, "/shared/private", 0600);
  EXPECT_THAT(vfs_.LinkAt(bob_, Root(), "/shared/private", Root(),
                          "/shared/stolen", 0),
              ErrnoIs(EPERM));
  EXPECT_THAT(vfs_.LinkAt(alice_, Root(), "/shared/private", Root(),
                          "/shared/mine", 0),
              IsOk());
}

TEST_F(PermissionsTest, UtimensNeedsOwnershipForExplicitTimes) {
  CreateAs(alice_, "/shared/t", 0666);
  timespec times[2] = {{1, 0}, {2, 0}};
  EXPECT_THAT(vfs_.UtimensAt(bob_, Root(), "/shared/t", times, 0),
              ErrnoIs(EPERM));
  // "now" needs only write permission.
  EXPECT_THAT(vfs_.UtimensAt(bob_, Root(), "/shared/t", nullptr, 0), IsOk());
  ASSERT_THAT(vfs_.ChmodAt(alice_, Root(), "/shared/t", 0644, 0), IsOk());
  EXPECT_THAT(vfs_.UtimensAt(bob_, Root(), "/shared/t", nullptr, 0),
              ErrnoIs(EACCES));
}

TEST_F(PermissionsTest, DeviceNodesNeedCapMknod) {
  EXPECT_THAT(vfs_.MknodAt(alice_, Root(), "/shared/dev", S_IFCHR | 0600,
                           makedev(1, 3)),
              ErrnoIs(EPERM));
  EXPECT_THAT(vfs_.MknodAt(alice_, Root(), "/shared/fifo", S_IFIFO | 0600, 0),
              IsOk());
  EXPECT_THAT(vfs_.MknodAt(root_, Root(), "/shared/dev", S_IFCHR | 0600,
                           makedev(1, 3)),
              IsOk());
  EXPECT_THAT(Stat("/shared/dev"),
              IsOkAndHolds(::testing::Field(&Attr::rdev, makedev(1, 3))));
}

TEST_F(PermissionsTest, TrustedXattrsNeedCapSysAdmin) {
  CreateAs(alice_, "/shared/x", 0666);
  EXPECT_THAT(vfs_.SetXattrAt(alice_, Root(), "/shared/x", "trusted.a", "1", 0, 0),
              ErrnoIs(EPERM));
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/shared/x", "trusted.a", "1", 0, 0),
              IsOk());
  EXPECT_THAT(vfs_.GetXattrAt(alice_, Root(), "/shared/x", "trusted.a", 0),
              ErrnoIs(ENODATA));
  EXPECT_THAT(vfs_.ListXattrAt(alice_, Root(), "/shared/x", 0),
              IsOkAndHolds(::testing::IsEmpty()));
}

}  // namespace
}  // namespace veil::vfs::testing
