// SPDX-License-Identifier: Apache-2.0
//
// Host mounts below the export (issue #10, item 10). With the gofer's
// bind of DIR not recursive, mount points below DIR were plain directories
// in its namespace, and Linux lets a rename or rmdir there move or detach
// another namespace's mounts: a client moved a host /proc and detached a
// bind. Now they are mounts in the gofer's namespace too (recursive slave
// bind), so the kernel answers EBUSY, and the gofer serves none of them
// (EACCES).
//
// The "host" here is a private mount namespace the test process makes for
// itself (unshare(CLONE_NEWNS), everything private), so the real host's
// mounts are never touched; the scratch directory is made a shared mount
// in it, so that mounts the test adds later reach the gofer as a host's
// would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <stdio.h>  // RENAME_EXCHANGE
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lisafs/message.h"
#include "tests/escape/escape_fixture.h"

namespace veil::gofer::testing {
namespace {

// True if `path` is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT).
bool IsMountRoot(const std::string& path) {
  struct statx st = {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
              &st) != 0) {
    return false;
  }
  return (st.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

bool Exists(const std::string& path) {
  struct stat st = {};
  return ::lstat(path.c_str(), &st) == 0;
}

class GoferMountEscapeTest : public GoferEscapeTest {
 protected:
  void SetUp() override {
    GoferEscapeTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    const std::string base = scratch_.base();
    ASSERT_EQ(::mount(base.c_str(), base.c_str(), nullptr, MS_BIND, nullptr),
              0);
    ASSERT_EQ(::mount(nullptr, base.c_str(), nullptr, MS_SHARED, nullptr), 0);
    mounted_ = true;
    for (const char* dir : {"procmnt", "bindmnt", "a", "a/deep", "later",
                            "empty"}) {
      ASSERT_EQ(::mkdir(scratch_.InRoot(dir).c_str(), 0755), 0) << dir;
    }
    ASSERT_EQ(::mount("proc", scratch_.InRoot("procmnt").c_str(), "proc",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
              0);
    // A read-only bind of another directory (outside/subdir, canary and
    // all).
    ASSERT_EQ(::mount(Outside("subdir").c_str(),
                      scratch_.InRoot("bindmnt").c_str(), nullptr, MS_BIND,
                      nullptr),
              0);
    ASSERT_EQ(::mount(nullptr, scratch_.InRoot("bindmnt").c_str(), nullptr,
                      MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr),
              0);
    ASSERT_EQ(::mount("tmpfs", scratch_.InRoot("a/deep").c_str(), "tmpfs", 0,
                      "size=1m"),
              0);
  }

  void TearDown() override {
    GoferEscapeTest::TearDown();  // stops the gofer, checks outside/
    // Detaching the base bind takes every mount below it along, wherever a
    // failed test let them be moved, before Scratch removes the tree.
    if (mounted_) {
      EXPECT_EQ(::umount2(scratch_.base().c_str(), MNT_DETACH), 0);
    }
  }

  void ExpectMountsInPlace() {
    EXPECT_TRUE(IsMountRoot(scratch_.InRoot("procmnt")));
    EXPECT_TRUE(Exists(scratch_.InRoot("procmnt/self")));
    EXPECT_TRUE(IsMountRoot(scratch_.InRoot("bindmnt")));
    EXPECT_EQ(ReadFile(scratch_.InRoot("bindmnt/canary")), canary_);
    EXPECT_TRUE(IsMountRoot(scratch_.InRoot("a/deep")));
  }

  lisafs::FdId MustWalk(std::vector<std::string> names) {
    auto fd = ops().WalkTo(names);
    EXPECT_TRUE(fd.has_value()) << ErrnoOf(fd);
    return fd.value_or(lisafs::kNoFdId);
  }

  bool mounted_ = false;
};

// The attack as reported: RenameAt procmnt, rmdir a bind, rename a bind
// away and put the client's own directory in its place.
TEST_P(GoferMountEscapeTest, MountPointsCannotBeMovedOrRemoved) {
  StartGofer();
  const lisafs::FdId a = MustWalk({"a"});
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{Root(), "procmnt", Root(),
                                                    "moved_proc", 0})),
            EBUSY);
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::UnlinkAtReq{Root(), "bindmnt", AT_REMOVEDIR})),
            EBUSY);
  EXPECT_NE(ErrnoOf(ops().Call(lisafs::UnlinkAtReq{Root(), "bindmnt", 0})), 0);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{Root(), "bindmnt", Root(),
                                                    "bind_old", 0})),
            EBUSY);
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::RenameAtReq{a, "deep", Root(), "deep_moved", 0})),
            EBUSY);
  // Over a mount point, and exchanged with one.
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{Root(), "empty", Root(),
                                                    "bindmnt", 0})),
            EBUSY);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{
                Root(), "empty", Root(), "procmnt", RENAME_EXCHANGE})),
            EBUSY);
  EXPECT_FALSE(Exists(scratch_.InRoot("moved_proc")));
  EXPECT_FALSE(Exists(scratch_.InRoot("bind_old")));
  EXPECT_FALSE(Exists(scratch_.InRoot("deep_moved")));
  ExpectMountsInPlace();
}

// Renaming a directory that has a mount point below it would move the
// mount along (Linux allows that from any namespace): refused, EBUSY.
TEST_P(GoferMountEscapeTest, AncestorsOfMountPointsCannotBeMoved) {
  if (GetParam() == Confinement::kNone) {
    GTEST_SKIP() << "the check reads mount points relative to the process "
                    "root, which only the confined gofer has at the export";
  }
  StartGofer();
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::RenameAtReq{Root(), "a", Root(), "a_moved", 0})),
            EBUSY);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{
                Root(), "empty", Root(), "a", RENAME_EXCHANGE})),
            EBUSY);
  EXPECT_FALSE(Exists(scratch_.InRoot("a_moved")));
  // A directory without mounts below it still moves.
  EXPECT_TRUE(ops().Call(
      lisafs::RenameAtReq{Root(), "empty", Root(), "empty2", 0}));
  EXPECT_TRUE(Exists(scratch_.InRoot("empty2")));
  ExpectMountsInPlace();
}

// Nothing on a mount below DIR is served, not even the mount point: Walk
// and WalkStat refuse it with EACCES, a directory one may not search.
TEST_P(GoferMountEscapeTest, MountPointsAreNotServed) {
  StartGofer();
  EXPECT_EQ(ErrnoOf(ops().Walk(Root(), {"procmnt"})), EACCES);
  EXPECT_EQ(ErrnoOf(ops().Walk(Root(), {"procmnt", "self"})), EACCES);
  EXPECT_EQ(ErrnoOf(ops().Walk(Root(), {"bindmnt", "canary"})), EACCES);
  EXPECT_EQ(ErrnoOf(ops().Walk(Root(), {"a", "deep"})), EACCES);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::WalkStatReq{
                Root(), lisafs::WalkStatStart::kSkip, {"procmnt"}})),
            EACCES);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::WalkStatReq{
                Root(), lisafs::WalkStatStart::kSkip, {"a", "deep", "x"}})),
            EACCES);
  // The rest of the export is served as before.
  EXPECT_EQ(ops().ReadPath({"inside.txt"}).value_or(""), "inside");
  ExpectMountsInPlace();
}

// A mount the host adds while the gofer runs is protected the same way
// (it propagates into the gofer's slave copy of the tree).
TEST_P(GoferMountEscapeTest, LaterMountsAreProtectedToo) {
  StartGofer();
  const std::string later = scratch_.InRoot("later");
  ASSERT_EQ(::mount("tmpfs", later.c_str(), "tmpfs", 0, "size=1m"), 0);
  WriteFile(later + "/secret", canary_);
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::UnlinkAtReq{Root(), "later", AT_REMOVEDIR})),
            EBUSY);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{Root(), "later", Root(),
                                                    "later_old", 0})),
            EBUSY);
  EXPECT_EQ(ErrnoOf(ops().Walk(Root(), {"later", "secret"})), EACCES);
  EXPECT_TRUE(IsMountRoot(later));
  EXPECT_EQ(ReadFile(later + "/secret"), canary_);
}

// In the gofer's own namespace every mount of the tree it serves is
// nosuid,nodev, and read-only for --ro, submounts included (a remount of
// the top alone leaves them as the host made them).
TEST_P(GoferMountEscapeTest, ReadOnlyExportIsReadOnlyThroughout) {
  if (GetParam() == Confinement::kNone) {
    GTEST_SKIP() << "the mount flags are the confined gofer's own namespace";
  }
  GoferProcess::Options options;
  options.confinement = GetParam();
  options.access = Access::kReadOnly;
  gofer_ = std::make_unique<GoferProcess>(scratch_.root(), options);
  ASSERT_TRUE(gofer_->Start());
  ops_.emplace(gofer_->client());
  std::ifstream in("/proc/" + std::to_string(gofer_->pid()) + "/mountinfo");
  std::string line;
  int mounts = 0;
  while (std::getline(in, line)) {
    // Fields: id parent major:minor root mount-point options ...
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, opts;
    fields >> id >> parent >> dev >> root >> point >> opts;
    const std::string flags = "," + opts + ",";
    EXPECT_NE(flags.find(",ro,"), std::string::npos) << line;
    EXPECT_NE(flags.find(",nosuid,"), std::string::npos) << line;
    EXPECT_NE(flags.find(",nodev,"), std::string::npos) << line;
    ++mounts;
  }
  // The export and its three submounts.
  EXPECT_EQ(mounts, 4);
}

INSTANTIATE_TEST_SUITE_P(Confinement, GoferMountEscapeTest,
                         ::testing::Values(Confinement::kFull,
                                           Confinement::kNone),
                         ConfinementName);

}  // namespace
}  // namespace veil::gofer::testing
