// SPDX-License-Identifier: Apache-2.0
//
// Escapes through the namespace: symlinks (absolute, relative, swapped in
// mid-walk, magic), hard links, mounts and device nodes inside the export.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/escape/escape_fixture.h"

namespace veil::gofer::testing {
namespace {

namespace fs = std::filesystem;

TEST_P(GoferEscapeTest, AbsoluteSymlinkToRoot) {
  fs::create_symlink("/", scratch_.InRoot("abs"));
  fs::create_symlink(scratch_.outside(), scratch_.InRoot("abs_outside"));
  StartGofer();
  std::vector<std::string> through_root = {"abs"};
  for (const std::string& name : OutsideComponents()) {
    through_root.push_back(name);
  }
  through_root.push_back("canary");
  ExpectWalkStopsInside(through_root);
  ExpectWalkStopsInside({"abs_outside", "canary"});
  // The link itself can be stat'ed and read as text, never opened.
  lisafs::FdId link =
      VEIL_MUST(ops().Walk(Root(), {"abs"})).inodes[0].control_fd;
  EXPECT_EQ(ops().Stat(link)->mode & S_IFMT, S_IFLNK);
  EXPECT_EQ(ErrnoOf(ops().Open(link, O_RDONLY)), ELOOP);
  EXPECT_EQ(ErrnoOf(ops().Open(link, O_RDONLY | O_DIRECTORY)), ELOOP);
  EXPECT_EQ(ErrnoOf(ops().Walk(link, {"etc"})), ENOTDIR);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::MkdirAtReq{
                link, "x", 0755, lisafs::kNoId, lisafs::kNoId})),
            ENOTDIR);
  // A client that resolves the link itself, as it must, resolves "/" to
  // the export's root, where the outside path does not exist.
  auto resolved = ops().Walk(Root(), OutsideComponents());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->status, lisafs::WalkStatus::kComponentMissing);
  auto stats = ops().Call(
      lisafs::WalkStatReq{Root(), lisafs::WalkStatStart::kSkip, through_root});
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->stats.size(), 1u);  // The symlink, then it stops.
}

TEST_P(GoferEscapeTest, RelativeSymlinkWithDotDots) {
  fs::create_directories(scratch_.InRoot("a/b"));
  fs::create_symlink("../outside", scratch_.InRoot("rel"));
  fs::create_symlink("../../../outside", scratch_.InRoot("a/b/rel"));
  fs::create_symlink("../../../../../../../../../../..",
                     scratch_.InRoot("dotdots"));
  StartGofer();
  ExpectWalkStopsInside({"rel", "canary"});
  ExpectWalkStopsInside({"a", "b", "rel", "canary"});
  std::vector<std::string> via_dotdots = {"dotdots"};
  for (const std::string& name : OutsideComponents()) {
    via_dotdots.push_back(name);
  }
  via_dotdots.push_back("canary");
  ExpectWalkStopsInside(via_dotdots);
  // Creating through the link lands nowhere.
  lisafs::FdId rel =
      VEIL_MUST(ops().Walk(Root(), {"rel"})).inodes[0].control_fd;
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::OpenCreateAtReq{
                rel, "planted", 0644, lisafs::kNoId, lisafs::kNoId, O_RDWR})),
            ENOTDIR);
}

// A host-side attacker (or a second sandbox sharing the directory) flips a
// directory and a symlink to outside/ while the client walks, opens,
// creates and lists through that name. Nothing outside may ever be read,
// listed or created. Same for a regular file flipped with a symlink to the
// outside canary while the client reopens it by its control FDID.
TEST_P(GoferEscapeTest, SymlinkSwappedInDuringWalk) {
  fs::create_directory(scratch_.InRoot("d"));
  WriteFile(scratch_.InRoot("d/canary"), "inside");
  fs::create_symlink(scratch_.outside(), scratch_.InRoot("swap"));
  WriteFile(scratch_.InRoot("f"), "inside-f");
  fs::create_symlink(Outside("canary"), scratch_.InRoot("fswap"));
  StartGofer();
  lisafs::FdId f = VEIL_MUST(ops().WalkTo({"f"}));

  std::atomic<bool> stop{false};
  std::atomic<int> flips{0};
  const std::string root = scratch_.root();
  std::thread flipper([&] {
    const int dir = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    while (!stop.load()) {
      ::renameat2(dir, "d", dir, "swap", RENAME_EXCHANGE);
      ::renameat2(dir, "f", dir, "fswap", RENAME_EXCHANGE);
      flips.fetch_add(1);
    }
    ::close(dir);
  });

  int reads = 0, stale = 0, listed = 0, created = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    std::vector<lisafs::FdId> fdids;  // This round's, closed at its end.
    auto walked = ops().Walk(Root(), {"d", "canary"});
    if (walked) {
      for (const auto& inode : walked->inodes)
        fdids.push_back(inode.control_fd);
    }
    if (walked && walked->status == lisafs::WalkStatus::kSuccess) {
      auto opened = ops().Open(walked->inodes[1].control_fd, O_RDONLY);
      if (opened) {
        fdids.push_back(opened->message.open_fd);
        EXPECT_EQ(ops().Read(opened->message.open_fd).value_or("inside"),
                  "inside");
        if (opened->fd.valid()) {
          char buffer[64] = {};
          ::pread(opened->fd.get(), buffer, sizeof(buffer) - 1, 0);
          EXPECT_STREQ(buffer, "inside");
        }
        ++reads;
      }
    }
    auto dir = ops().Walk(Root(), {"d"});
    if (dir) {
      for (const auto& inode : dir->inodes) fdids.push_back(inode.control_fd);
    }
    if (dir && dir->status == lisafs::WalkStatus::kSuccess) {
      const lisafs::FdId d = dir->inodes[0].control_fd;
      auto entries = ops().ReadDir(d);
      if (entries) {
        ++listed;
        for (const lisafs::Dirent64& e : *entries) {
          EXPECT_NE(e.name, "outside_only_marker");
          EXPECT_NE(e.name, "subdir");
        }
      }
      auto made = ops().Call(lisafs::MkdirAtReq{
          d, "made-" + std::to_string(i), 0755, lisafs::kNoId, lisafs::kNoId});
      if (made) {
        fdids.push_back(made->child.control_fd);
        ++created;
      }
      auto file = ops().Call(
          lisafs::OpenCreateAtReq{d, "new-" + std::to_string(i), 0644,
                                  lisafs::kNoId, lisafs::kNoId, O_RDWR});
      if (file) {
        fdids.push_back(file->child.control_fd);
        fdids.push_back(file->open_fd);
      }
    }
    auto reopened = ops().Open(f, O_RDONLY);
    if (reopened) {
      fdids.push_back(reopened->message.open_fd);
      EXPECT_EQ(ops().Read(reopened->message.open_fd).value_or("inside-f"),
                "inside-f");
    } else {
      EXPECT_EQ(reopened.error().code(), ESTALE);
      ++stale;
    }
    // Release this round's FDIDs (and host descriptors) as a client would.
    if (!fdids.empty()) {
      EXPECT_TRUE(ops().Close(fdids));
    }
  }
  stop.store(true);
  flipper.join();
  RecordProperty("flips", flips.load());
  RecordProperty("reads", reads);
  std::printf("flips=%d reads=%d listed=%d created=%d stale=%d\n", flips.load(),
              reads, listed, created, stale);
  EXPECT_GT(flips.load(), 100);
  EXPECT_GT(reads, 0);  // The race was really run against the real dir.
}

TEST_P(GoferEscapeTest, HardLinkToOutsideFile) {
  // A hard link made on the host before serving is part of the tree:
  // reading it is allowed.
  ASSERT_EQ(::link(Outside("linked").c_str(), scratch_.InRoot("hl").c_str()),
            0);
  fs::create_symlink(Outside("canary"), scratch_.InRoot("to_canary"));
  // Re-snapshot: the link count of "linked" is now 2 by design.
  outside_before_ = Snapshot(scratch_.outside());
  StartGofer();
  EXPECT_EQ(ops().ReadPath({"hl"}).value_or(""), "linked-ok");

  // A new hard link can only name an FDID, i.e. something inside. Linking
  // a symlink that points outside links the symlink, not the canary.
  lisafs::FdId link =
      VEIL_MUST(ops().Walk(Root(), {"to_canary"})).inodes[0].control_fd;
  auto made = ops().Call(lisafs::LinkAtReq{Root(), "stolen", link});
  ASSERT_TRUE(made.has_value()) << ErrnoOf(made);
  EXPECT_EQ(made->child.stat.mode & S_IFMT, S_IFLNK);
  struct stat st = {};
  ASSERT_EQ(::lstat(scratch_.InRoot("stolen").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // Forged, closed and wrong-kind FDIDs are all EBADF.
  const lisafs::FdId open_fd =
      VEIL_MUST(ops().Open(VEIL_MUST(ops().WalkTo({"inside.txt"})), O_RDONLY))
          .message.open_fd;
  for (lisafs::FdId forged :
       {lisafs::FdId{9999}, lisafs::FdId{1} << 40, ~lisafs::FdId{0}, open_fd}) {
    EXPECT_EQ(ErrnoOf(ops().Call(lisafs::LinkAtReq{Root(), "forged", forged})),
              EBADF);
  }
  EXPECT_FALSE(fs::exists(scratch_.InRoot("forged")));
}

TEST_P(GoferEscapeTest, ProcSelfFdMagicLink) {
  for (int n = 0; n < 10; ++n) {
    fs::create_symlink("/proc/self/fd/" + std::to_string(n),
                       scratch_.InRoot("fd" + std::to_string(n)));
  }
  fs::create_symlink("/proc/self/root", scratch_.InRoot("procroot"));
  fs::create_symlink("/proc/self/cwd", scratch_.InRoot("proccwd"));
  fs::create_symlink("/proc/1/root", scratch_.InRoot("initroot"));
  StartGofer();
  for (int n = 0; n < 10; ++n) {
    const std::string name = "fd" + std::to_string(n);
    auto walked = ops().Walk(Root(), {name, "x"});
    ASSERT_TRUE(walked.has_value()) << ErrnoOf(walked);
    ASSERT_EQ(walked->inodes.size(), 1u);
    EXPECT_EQ(walked->inodes[0].stat.mode & S_IFMT, S_IFLNK);
    for (uint32_t flags : {uint32_t{O_RDONLY}, uint32_t{O_RDWR},
                           uint32_t{O_RDONLY | O_DIRECTORY}}) {
      EXPECT_EQ(ErrnoOf(ops().Open(walked->inodes[0].control_fd, flags)),
                ELOOP);
    }
  }
  for (const char* link : {"procroot", "proccwd", "initroot"}) {
    std::vector<std::string> names = {link};
    for (const std::string& name : OutsideComponents()) names.push_back(name);
    names.push_back("canary");
    ExpectWalkStopsInside(names);
  }
}

// /proc mounted inside the export (as in a container rootfs): the gofer
// must not serve it. Confined or not it is a mount in the gofer's
// namespace (the bind is recursive), and the backend refuses to enter a
// mount point: EACCES (escape_mount_test.cc has the rest).
TEST_P(GoferEscapeTest, ProcMountedInsideRoot) {
  fs::create_directory(scratch_.InRoot("proc"));
  const std::string proc = scratch_.InRoot("proc");
  StartGofer([proc] {
    if (::unshare(CLONE_NEWNS) != 0) return 1;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return 2;
    }
    return ::mount("proc", proc.c_str(), "proc", 0, nullptr) == 0 ? 0 : 3;
  });
  for (const char* link : {"self", "1"}) {
    auto walked = ops().Walk(Root(), {"proc", link, "root"});
    ASSERT_FALSE(walked.has_value()) << link;
    EXPECT_EQ(walked.error().code(), EACCES);
  }
  EXPECT_EQ(ErrnoOf(ops().WalkTo({"proc"})), EACCES);
}

TEST_P(GoferEscapeTest, DeviceNodeReadsHostDevice) {
  struct stat disk = {};
  ASSERT_EQ(::stat(scratch_.base().c_str(), &disk), 0);
  ASSERT_EQ(
      ::mknod(scratch_.InRoot("zero").c_str(), S_IFCHR | 0666, makedev(1, 5)),
      0);
  // The block device holding this very directory, if it is one.
  ASSERT_EQ(
      ::mknod(scratch_.InRoot("disk").c_str(), S_IFBLK | 0666, disk.st_dev), 0);
  StartGofer();
  for (const char* name : {"zero", "disk"}) {
    lisafs::FdId fd = VEIL_MUST(ops().WalkTo({name}));
    EXPECT_EQ(ErrnoOf(ops().Open(fd, O_RDONLY)), EACCES) << name;
    EXPECT_EQ(ErrnoOf(ops().Open(fd, O_RDWR)), EACCES) << name;
    lisafs::SetStatReq truncate;
    truncate.fd = fd;
    truncate.mask = lisafs::kSetStatSize;
    auto resp = ops().Call(truncate);
    ASSERT_TRUE(resp.has_value());
    EXPECT_NE(resp->failure_mask, 0u);
  }
  // Nor can the client make its own.
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::MknodAtReq{
                Root(), "mine", S_IFBLK | 0666, lisafs::kNoId, lisafs::kNoId,
                major(disk.st_dev), minor(disk.st_dev)})),
            EPERM);
}

TEST_P(GoferEscapeTest, FileCapabilityViaSecurityXattr) {
  StartGofer();
  lisafs::FdId fd = VEIL_MUST(ops().WalkTo({"inside.txt"}));
  // A file capability or label would change what the file means to the
  // host; those namespaces are not served.
  for (const char* name :
       {"security.capability", "security.selinux", "security.ima"}) {
    auto set = ops().Call(
        lisafs::FSetXattrReq{fd, name, std::vector<uint8_t>{1, 0, 0, 2}, 0});
    EXPECT_EQ(ErrnoOf(set), EOPNOTSUPP) << name;
  }
  char value[64];
  EXPECT_LT(::getxattr(scratch_.InRoot("inside.txt").c_str(),
                       "security.capability", value, sizeof(value)),
            0);
}

INSTANTIATE_TEST_SUITE_P(Modes, GoferEscapeTest,
                         ::testing::Values(Confinement::kFull,
                                           Confinement::kNone),
                         ConfinementName);

}  // namespace
}  // namespace veil::gofer::testing
