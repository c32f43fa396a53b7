// SPDX-License-Identifier: Apache-2.0
//
// Directory listings (overlay/readdir.cc): merging, hiding, stable
// positions and d_ino == st_ino.
#include "tests/unit/overlay/fixture.h"

namespace veil::overlay::testing {
namespace {

using OverlayReaddirTest = OverlayTest;

// Every entry's d_ino and d_type agree with lstat.
void ExpectConsistent(VfsOps& ov, const std::string& dir) {
  auto f = ov.Open(dir, O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(f, IsOk());
  for (const VfsOps::Entry& e : VfsOps::Entries(**f)) {
    auto st = ov.Lstat(dir == "/" ? "/" + e.name : dir + "/" + e.name);
    ASSERT_THAT(st, IsOk()) << e.name;
    EXPECT_EQ(e.ino, st->ino) << dir << "/" << e.name;
    EXPECT_EQ(e.type, (st->mode & S_IFMT) >> 12) << dir << "/" << e.name;
  }
}

TEST_F(OverlayReaddirTest, MergedListingHasEveryNameOnce) {
  LowerFile("/a", "a");
  LowerFile("/b", "b");
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/x", "x");
  Mount();
  ov().WriteFile("/a", "changed");  // copied up: in both layers
  ASSERT_THAT(ov().Unlink("/b"), IsOk());
  ov().WriteFile("/c", "new");
  EXPECT_THAT(ov().List("/"), ElementsAre("a", "c", "d"));
  ExpectConsistent(ov(), "/");
  ExpectConsistent(ov(), "/d");
}

TEST_F(OverlayReaddirTest, InodeNumbersMatchInEveryKindOfDirectory) {
  ASSERT_THAT(lower().Mkdir("/low"), IsOk());
  LowerFile("/low/f", "f");
  LowerFile("/src", "s");
  Mount();
  ASSERT_THAT(ov().Mkdir("/up"), IsOk());
  ov().WriteFile("/up/plain", "p");
  // A copied-up file with an origin moved into a pure upper directory:
  // that directory's listing must report the origin's number.
  ASSERT_THAT(ov().Rename("/src", "/up/moved"), IsOk());
  ExpectConsistent(ov(), "/");
  ExpectConsistent(ov(), "/low");
  ExpectConsistent(ov(), "/up");
}

TEST_F(OverlayReaddirTest, ListingIsASnapshotUntilRewound) {
  LowerFile("/a", "a");
  Mount();
  auto dir = ov().Open("/", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dir, IsOk());
  EXPECT_EQ(VfsOps::Entries(**dir).size(), 1u);
  ov().WriteFile("/b", "b");
  EXPECT_THAT(VfsOps::Entries(**dir), IsEmpty());
  ASSERT_THAT((*dir)->Seek(0, SEEK_SET), IsOk());
  EXPECT_EQ(VfsOps::Entries(**dir).size(), 2u);
}

TEST_F(OverlayReaddirTest, RemovedDirectoryCannotBeRead) {
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  Mount();
  auto dir = ov().Open("/d", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dir, IsOk());
  ASSERT_THAT(ov().Rmdir("/d"), IsOk());
  std::vector<uint8_t> buf(512);
  EXPECT_THAT((*dir)->Getdents64(buf), ErrnoIs(ENOENT));
}

TEST_F(OverlayReaddirTest, LowerDirectoryOpenedBeforeCopyUpSwitchesOnRewind) {
  ASSERT_THAT(lower().Mkdir("/d"), IsOk());
  LowerFile("/d/x", "x");
  Mount();
  auto dir = ov().Open("/d", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dir, IsOk());
  ov().WriteFile("/d/y", "y");  // copies /d up
  ASSERT_THAT(ov().Unlink("/d/x"), IsOk());
  std::vector<std::string> names;
  for (const auto& e : VfsOps::Entries(**dir)) names.push_back(e.name);
  EXPECT_THAT(names, ElementsAre("y"));
}

}  // namespace
}  // namespace veil::overlay::testing
