// SPDX-License-Identifier: Apache-2.0
//
// The gofer through a real client: creating, linking, removing, renaming
// and listing, checked against the host directory.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "tests/unit/gofer/gofer_fixture.h"

namespace veil::gofer::testing {
namespace {

using GoferDirTest = GoferServerTest;
using lisafs::kNoId;

TEST_F(GoferDirTest, CreateWriteAndReadBack) {
  auto created = ops().Call(
      lisafs::OpenCreateAtReq{Root(), "new", 0640, kNoId, kNoId, O_RDWR});
  ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
  EXPECT_EQ(created->child.stat.mode, S_IFREG | 0640);
  EXPECT_EQ(ops().Write(created->open_fd, "abcdef").value_or(0), 6u);
  EXPECT_EQ(ops().Write(created->open_fd, "XY", 2).value_or(0), 2u);
  EXPECT_EQ(ops().Read(created->open_fd).value_or(""), "abXYef");
  EXPECT_EQ(ops().Read(created->open_fd, 4).value_or(""), "ef");
  EXPECT_EQ(ReadFile(scratch_.InRoot("new")), "abXYef");
  // The gofer runs with umask 0: the mode is exactly the client's.
  EXPECT_EQ(HostStat("new").st_mode, S_IFREG | 0640);
  EXPECT_EQ(ops().Stat(created->child.control_fd)->size, 6u);
}

// Megabyte-sized messages exercise the confined gofer's large allocations
// (mmap under seccomp) and the negotiated I/O size.
TEST_F(GoferDirTest, LargeWritesAndReads) {
  auto created = ops().Call(
      lisafs::OpenCreateAtReq{Root(), "big", 0644, kNoId, kNoId, O_RDWR});
  ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
  const size_t chunk = gofer_->client().max_io_size();
  std::string data(3 * chunk + 12345, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>('a' + (i * 7) % 26);
  }
  for (size_t done = 0; done < data.size();) {
    const size_t n = std::min(chunk, data.size() - done);
    auto wrote = ops().Write(created->open_fd, data.substr(done, n), done);
    ASSERT_TRUE(wrote.has_value()) << ErrnoOf(wrote);
    ASSERT_GT(*wrote, 0u);
    done += *wrote;
  }
  std::string back;
  while (back.size() < data.size()) {
    auto got =
        ops().Read(created->open_fd, back.size(), static_cast<uint32_t>(chunk));
    ASSERT_TRUE(got.has_value()) << ErrnoOf(got);
    ASSERT_FALSE(got->empty());
    back += *got;
  }
  EXPECT_TRUE(back == data);
  EXPECT_TRUE(ReadFile(scratch_.InRoot("big")) == data);
}

TEST_F(GoferDirTest, CreateNeverReusesAnExistingName) {
  for (const char* name : {"file", "dir", "link"}) {
    EXPECT_EQ(ErrnoOf(ops().Call(lisafs::OpenCreateAtReq{
                  Root(), name, 0644, kNoId, kNoId, O_RDWR})),
              EEXIST)
        << name;
  }
  // Not even through a dangling symlink (O_EXCL, nothing followed).
  std::filesystem::create_symlink("nowhere", scratch_.InRoot("dangling"));
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::OpenCreateAtReq{Root(), "dangling", 0644,
                                                       kNoId, kNoId, O_RDWR})),
            EEXIST);
  EXPECT_FALSE(HostExists("nowhere"));
}

TEST_F(GoferDirTest, CreatedFilesGetTheOwnerAsked) {
  auto created = ops().Call(
      lisafs::OpenCreateAtReq{Root(), "owned", 0600, 1234, 5678, O_RDONLY});
  ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
  EXPECT_EQ(HostStat("owned").st_uid, 1234u);
  EXPECT_EQ(HostStat("owned").st_gid, 5678u);
  EXPECT_EQ(created->child.stat.uid, 1234u);
  auto dir = ops().Call(lisafs::MkdirAtReq{Root(), "odir", 0700, 42, kNoId});
  ASSERT_TRUE(dir.has_value()) << ErrnoOf(dir);
  EXPECT_EQ(HostStat("odir").st_uid, 42u);
  EXPECT_EQ(HostStat("odir").st_gid, 0u);
}

TEST_F(GoferDirTest, MkdirCreatesADirectory) {
  auto made = ops().Call(lisafs::MkdirAtReq{Root(), "sub", 0750, kNoId, kNoId});
  ASSERT_TRUE(made.has_value()) << ErrnoOf(made);
  EXPECT_EQ(HostStat("sub").st_mode, S_IFDIR | 0750);
  // The new FDID is usable at once.
  EXPECT_TRUE(ops().Call(lisafs::MkdirAtReq{made->child.control_fd, "deeper",
                                            0700, kNoId, kNoId}));
  EXPECT_TRUE(HostExists("sub/deeper"));
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::MkdirAtReq{Root(), "sub", 0750, kNoId, kNoId})),
            EEXIST);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::MkdirAtReq{MustWalk({"file"}), "x", 0750,
                                                  kNoId, kNoId})),
            ENOTDIR);
}

TEST_F(GoferDirTest, MknodMakesFifosAndWhiteoutsButNoDevices) {
  auto fifo = ops().Call(
      lisafs::MknodAtReq{Root(), "fifo", S_IFIFO | 0600, kNoId, kNoId, 0, 0});
  ASSERT_TRUE(fifo.has_value()) << ErrnoOf(fifo);
  EXPECT_TRUE(S_ISFIFO(HostStat("fifo").st_mode));
  // Opening a FIFO never blocks the gofer.
  EXPECT_TRUE(ops().Open(fifo->child.control_fd, O_RDONLY));

  auto whiteout = ops().Call(
      lisafs::MknodAtReq{Root(), "wh", S_IFCHR | 0, kNoId, kNoId, 0, 0});
  ASSERT_TRUE(whiteout.has_value()) << ErrnoOf(whiteout);
  EXPECT_TRUE(S_ISCHR(HostStat("wh").st_mode));
  EXPECT_EQ(HostStat("wh").st_rdev, makedev(0, 0));

  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::MknodAtReq{
                Root(), "null", S_IFCHR | 0666, kNoId, kNoId, 1, 3})),
            EPERM);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::MknodAtReq{
                Root(), "disk", S_IFBLK | 0666, kNoId, kNoId, 8, 0})),
            EPERM);
  EXPECT_FALSE(HostExists("null"));
  EXPECT_FALSE(HostExists("disk"));
}

TEST_F(GoferDirTest, SymlinkStoresTheTargetVerbatim) {
  auto made = ops().Call(
      lisafs::SymlinkAtReq{Root(), "sl", "../../some/where", kNoId, kNoId});
  ASSERT_TRUE(made.has_value()) << ErrnoOf(made);
  EXPECT_EQ(made->child.stat.mode & S_IFMT, S_IFLNK);
  EXPECT_EQ(std::filesystem::read_symlink(scratch_.InRoot("sl")),
            "../../some/where");
  auto target = ops().Call(lisafs::ReadLinkAtReq{made->child.control_fd});
  EXPECT_EQ(target.has_value() ? target->target : "", "../../some/where");
}

TEST_F(GoferDirTest, LinkAddsANameForTheSameInode) {
  lisafs::FdId file = MustWalk({"file"});
  auto linked = ops().Call(lisafs::LinkAtReq{MustWalk({"dir"}), "hard", file});
  ASSERT_TRUE(linked.has_value()) << ErrnoOf(linked);
  EXPECT_EQ(HostStat("dir/hard").st_ino, HostStat("file").st_ino);
  EXPECT_EQ(HostStat("file").st_nlink, 2u);
  EXPECT_EQ(linked->child.stat.nlink, 2u);
  // link(2) of a directory: EPERM.
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::LinkAtReq{Root(), "dirlink", MustWalk({"dir"})})),
            EPERM);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::LinkAtReq{Root(), "dir", file})),
            EEXIST);
}

TEST_F(GoferDirTest, UnlinkRemovesFilesAndEmptyDirectories) {
  EXPECT_TRUE(ops().Call(lisafs::UnlinkAtReq{Root(), "file", 0}));
  EXPECT_FALSE(HostExists("file"));
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::UnlinkAtReq{Root(), "file", 0})),
            ENOENT);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::UnlinkAtReq{Root(), "dir", 0})), EISDIR);
  EXPECT_EQ(
      ErrnoOf(ops().Call(lisafs::UnlinkAtReq{Root(), "dir", AT_REMOVEDIR})),
      ENOTEMPTY);
  EXPECT_TRUE(ops().Call(lisafs::UnlinkAtReq{MustWalk({"dir"}), "nested", 0}));
  EXPECT_TRUE(ops().Call(lisafs::UnlinkAtReq{Root(), "dir", AT_REMOVEDIR}));
  EXPECT_FALSE(HostExists("dir"));
  // A symlink is removed, not its target.
  EXPECT_TRUE(ops().Call(lisafs::UnlinkAtReq{Root(), "link", 0}));
  EXPECT_FALSE(HostExists("link"));
}

TEST_F(GoferDirTest, RenameMovesReplacesAndExchanges) {
  lisafs::FdId dir = MustWalk({"dir"});
  ASSERT_TRUE(ops().Call(lisafs::RenameAtReq{Root(), "file", dir, "f2", 0}));
  EXPECT_FALSE(HostExists("file"));
  EXPECT_EQ(ReadFile(scratch_.InRoot("dir/f2")), "hello world");

  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{dir, "f2", dir, "nested",
                                                   RENAME_NOREPLACE})),
            EEXIST);
  ASSERT_TRUE(ops().Call(
      lisafs::RenameAtReq{dir, "f2", dir, "nested", RENAME_EXCHANGE}));
  EXPECT_EQ(ReadFile(scratch_.InRoot("dir/f2")), "nested");
  EXPECT_EQ(ReadFile(scratch_.InRoot("dir/nested")), "hello world");

  ASSERT_TRUE(ops().Call(lisafs::RenameAtReq{dir, "f2", dir, "nested", 0}));
  EXPECT_FALSE(HostExists("dir/f2"));
  EXPECT_EQ(ReadFile(scratch_.InRoot("dir/nested")), "nested");
  // rename(2) of a directory into itself: EINVAL.
  EXPECT_EQ(
      ErrnoOf(ops().Call(lisafs::RenameAtReq{Root(), "dir", dir, "x", 0})),
      EINVAL);
}

TEST_F(GoferDirTest, GetdentsListsEveryEntryOnceWithoutDots) {
  std::map<std::string, uint8_t> expected = {
      {"file", DT_REG}, {"dir", DT_DIR}, {"link", DT_LNK}};
  for (int i = 0; i < 300; ++i) {
    const std::string name = "entry-with-a-longish-name-" + std::to_string(i);
    WriteFile(scratch_.InRoot(name), "");
    expected[name] = DT_REG;
  }
  auto entries = ops().ReadDir(Root());
  ASSERT_TRUE(entries.has_value()) << ErrnoOf(entries);
  std::map<std::string, uint8_t> seen;
  std::set<int64_t> offsets;
  for (const lisafs::Dirent64& d : *entries) {
    EXPECT_TRUE(seen.emplace(d.name, d.type).second) << "twice: " << d.name;
    EXPECT_EQ(d.ino, HostStat(d.name).st_ino) << d.name;
    offsets.insert(d.off);
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(offsets.size(), entries->size());
  // Getdents needs an open directory FDID.
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::Getdents64Req{Root(), 4096})), EBADF);
  lisafs::FdId file = MustOpen(MustWalk({"file"}), O_RDONLY);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::Getdents64Req{file, 4096})), ENOTDIR);
}

TEST_F(GoferDirTest, GetdentsOfAnEmptyDirectoryIsEmpty) {
  std::filesystem::create_directory(scratch_.InRoot("empty"));
  auto entries = ops().ReadDir(MustWalk({"empty"}));
  ASSERT_TRUE(entries.has_value()) << ErrnoOf(entries);
  EXPECT_TRUE(entries->empty());
}

}  // namespace
}  // namespace veil::gofer::testing
