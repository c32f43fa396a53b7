// SPDX-License-Identifier: Apache-2.0
//
// Open files (overlay/file.cc): FIFOs, devices, atime.
#include <linux/falloc.h>

#include <array>

#include "tests/unit/overlay/fixture.h"

namespace veil::overlay::testing {
namespace {

using OverlayFileTest = OverlayTest;

constexpr timespec kOld = {1000000000, 0};

TEST_F(OverlayFileTest, FifosWorkWithoutCopyUp) {
  ASSERT_THAT(lower().vfs().MknodAt(lower().ctx(), lower().ctx().cwd, "/p",
                                    S_IFIFO | 0666, 0),
              IsOk());
  Mount();
  auto f = ov().Open("/p", O_RDWR | O_NONBLOCK);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT((*f)->Write(Bytes("hi")), IsOkAndHolds(2u));
  uint8_t buf[4];
  EXPECT_THAT((*f)->Read(buf), IsOkAndHolds(2u));
  EXPECT_THAT(UpperLstat("/p"), ErrnoIs(ENOENT));
}

TEST_F(OverlayFileTest, DevicesWithoutDriverAreEnxio) {
  ASSERT_THAT(lower().vfs().MknodAt(lower().ctx(), lower().ctx().cwd, "/c",
                                    S_IFCHR | 0666, makedev(60, 1)),
              IsOk());
  Mount();
  EXPECT_THAT(ov().Open("/c", O_RDONLY), ErrnoIs(ENXIO));
  EXPECT_THAT(ov().Open("/c", O_RDWR), ErrnoIs(ENXIO));
}

TEST_F(OverlayFileTest, OnlyUpperFilesRecordAccess) {
  LowerFile("/low", "l");
  LowerFile("/up", "u");
  const timespec times[2] = {kOld, {kOld.tv_sec + 100, 0}};
  for (const char* p : {"/low", "/up"}) {
    ASSERT_THAT(
        lower().vfs().UtimensAt(lower().ctx(), lower().ctx().cwd, p, times, 0),
        IsOk());
  }
  Mount();
  ASSERT_THAT(vfs().UtimensAt(ov().ctx(), ov().ctx().cwd, "/up", times, 0),
              IsOk());  // copies it up
  EXPECT_EQ(ov().ReadFile("/low"), "l");
  EXPECT_EQ(ov().ReadFile("/up"), "u");
  EXPECT_THAT(ov().Lstat("/low"),
              IsOkAndHolds(::testing::Field(&Attr::atime, TimeIs(kOld))));
  auto up = ov().Lstat("/up");
  ASSERT_THAT(up, IsOk());
  EXPECT_THAT(
      up->atime,
      ::testing::Not(TimeIs(kOld)));  // relatime: atime <= mtime, so updated
}

TEST_F(OverlayFileTest, EmptyReadsAndWritesDoNothing) {
  LowerFile("/a", "a");
  Mount();
  ASSERT_THAT(vfs().UtimensAt(ov().ctx(), ov().ctx().cwd, "/a",
                              std::array<timespec, 2>{kOld, kOld}.data(), 0),
              IsOk());
  auto f = ov().Open("/a", O_RDWR);
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT((*f)->PRead({}, 0), IsOkAndHolds(0u));
  EXPECT_THAT((*f)->PWrite(Bytes(""), 0), IsOkAndHolds(0u));
  auto st = ov().Lstat("/a");
  ASSERT_THAT(st, IsOk());
  EXPECT_THAT(st->atime, TimeIs(kOld));
  EXPECT_THAT(st->mtime, TimeIs(kOld));
}

}  // namespace
}  // namespace veil::overlay::testing

namespace veil::overlay::testing {
namespace {

// ovl_fallocate removes setuid/setgid before asking the layer, so even a
// refused mode takes them away.
TEST_F(OverlayFileTest, FallocateDropsSetIdFirst) {
  LowerFile("/s", "data", 06777);
  Mount();
  auto f = vfs().OpenAt(*alice_, alice_->cwd, "/s", OpenHow{O_RDWR, 0, 0});
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT((*f)->Allocate(alice_->creds, FALLOC_FL_ZERO_RANGE, 0, 10),
              ErrnoIs(EOPNOTSUPP));
  EXPECT_THAT(ov().Lstat("/s"),
              IsOkAndHolds(::testing::Field(&Attr::mode, S_IFREG | 0777u)));
}

}  // namespace
}  // namespace veil::overlay::testing
