// SPDX-License-Identifier: Apache-2.0
//
// The gofer through a real client: Mount, Walk, WalkStat, FStat, FStatFS,
// ReadLinkAt, OpenAt and descriptor donation.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "lisafs/codec.h"
#include "tests/unit/gofer/gofer_fixture.h"

namespace veil::gofer::testing {
namespace {

using GoferLookupTest = GoferServerTest;
using lisafs::WalkStatus;

TEST_F(GoferLookupTest, MountReturnsTheServedDirectory) {
  const lisafs::Statx& root = gofer_->client().root().stat;
  struct stat host = {};
  ASSERT_EQ(::stat(scratch_.root().c_str(), &host), 0);
  EXPECT_EQ(root.mode & S_IFMT, S_IFDIR);
  EXPECT_EQ(root.ino, host.st_ino);
  EXPECT_EQ(root.mask & lisafs::kStatxIno, lisafs::kStatxIno);
}

TEST_F(GoferLookupTest, WalkReturnsEveryComponent) {
  auto walked = ops().Walk(Root(), {"dir", "nested"});
  ASSERT_TRUE(walked.has_value()) << ErrnoOf(walked);
  EXPECT_EQ(walked->status, WalkStatus::kSuccess);
  ASSERT_EQ(walked->inodes.size(), 2u);
  EXPECT_EQ(walked->inodes[0].stat.mode & S_IFMT, S_IFDIR);
  EXPECT_EQ(walked->inodes[1].stat.mode & S_IFMT, S_IFREG);
  EXPECT_EQ(walked->inodes[1].stat.ino, HostStat("dir/nested").st_ino);
  EXPECT_EQ(walked->inodes[1].stat.size, 6u);
}

TEST_F(GoferLookupTest, WalkStopsAtAMissingComponent) {
  auto walked = ops().Walk(Root(), {"dir", "nope", "deeper"});
  ASSERT_TRUE(walked.has_value()) << ErrnoOf(walked);
  EXPECT_EQ(walked->status, WalkStatus::kComponentMissing);
  EXPECT_EQ(walked->inodes.size(), 1u);
}

TEST_F(GoferLookupTest, WalkStopsAtASymlinkWithoutFollowingIt) {
  auto walked = ops().Walk(Root(), {"link", "beyond"});
  ASSERT_TRUE(walked.has_value()) << ErrnoOf(walked);
  EXPECT_EQ(walked->status, WalkStatus::kComponentSymlink);
  ASSERT_EQ(walked->inodes.size(), 1u);
  EXPECT_EQ(walked->inodes[0].stat.mode & S_IFMT, S_IFLNK);
}

TEST_F(GoferLookupTest, WalkThroughARegularFileIsENOTDIR) {
  EXPECT_EQ(ErrnoOf(ops().Walk(Root(), {"file", "x"})), ENOTDIR);
}

TEST_F(GoferLookupTest, RepeatedWalksNameTheSameInode) {
  lisafs::FdId a = MustWalk({"file"});
  lisafs::FdId b = MustWalk({"file"});
  EXPECT_NE(a, b);  // FDIDs are never reused...
  EXPECT_EQ(ops().Stat(a)->ino, ops().Stat(b)->ino);  // ...the file is one.
  EXPECT_TRUE(ops().Close(a).has_value());
  EXPECT_EQ(ops().Stat(b)->size, 11u);  // Closing one leaves the other.
}

TEST_F(GoferLookupTest, WalkStatReturnsStatsWithoutFdids) {
  auto stats = ops().Call(lisafs::WalkStatReq{
      Root(), lisafs::WalkStatStart::kInclude, {"dir", "nested"}});
  ASSERT_TRUE(stats.has_value()) << ErrnoOf(stats);
  ASSERT_EQ(stats->stats.size(), 3u);
  EXPECT_EQ(stats->stats[0].mode & S_IFMT, S_IFDIR);
  EXPECT_EQ(stats->stats[2].ino, HostStat("dir/nested").st_ino);

  auto partial = ops().Call(
      lisafs::WalkStatReq{Root(), lisafs::WalkStatStart::kSkip, {"link", "x"}});
  ASSERT_TRUE(partial.has_value());
  ASSERT_EQ(partial->stats.size(), 1u);  // Stops at the symlink.
  EXPECT_EQ(partial->stats[0].mode & S_IFMT, S_IFLNK);

  auto missing = ops().Call(lisafs::WalkStatReq{
      Root(), lisafs::WalkStatStart::kSkip, {"dir", "nope"}});
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->stats.size(), 1u);
}

TEST_F(GoferLookupTest, FStatWorksOnControlAndOpenFdids) {
  lisafs::FdId fd = MustWalk({"file"});
  lisafs::FdId open_fd = MustOpen(fd, O_RDONLY);
  auto a = ops().Stat(fd);
  auto b = ops().Stat(open_fd);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->ino, b->ino);
  EXPECT_EQ(a->mode, HostStat("file").st_mode);
  EXPECT_EQ(a->nlink, 1u);
}

TEST_F(GoferLookupTest, FStatFSDescribesTheHostFilesystem) {
  auto resp = ops().Call(lisafs::FStatFSReq{Root()});
  ASSERT_TRUE(resp.has_value()) << ErrnoOf(resp);
  struct statfs host = {};
  ASSERT_EQ(::statfs(scratch_.root().c_str(), &host), 0);
  EXPECT_EQ(resp->type, static_cast<uint64_t>(host.f_type));
  EXPECT_EQ(resp->blocks, host.f_blocks);
  EXPECT_EQ(resp->name_length, static_cast<uint64_t>(host.f_namelen));
}

TEST_F(GoferLookupTest, ReadLinkReturnsTheTargetText) {
  auto target = ops().Call(lisafs::ReadLinkAtReq{MustWalk({"link"})});
  ASSERT_TRUE(target.has_value()) << ErrnoOf(target);
  EXPECT_EQ(target->target, "file");
  // readlink(2) of a non-symlink: EINVAL.
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::ReadLinkAtReq{MustWalk({"file"})})),
            EINVAL);
}

TEST_F(GoferLookupTest, OpenReadOnlyDonatesAReadOnlyHostDescriptor) {
  auto opened = ops().Open(MustWalk({"file"}), O_RDONLY);
  ASSERT_TRUE(opened.has_value()) << ErrnoOf(opened);
  ASSERT_TRUE(opened->fd.valid());
  char buffer[32] = {};
  EXPECT_EQ(::pread(opened->fd.get(), buffer, sizeof(buffer), 0), 11);
  EXPECT_STREQ(buffer, "hello world");
  EXPECT_EQ(::fcntl(opened->fd.get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_LT(::write(opened->fd.get(), "x", 1), 0);
  EXPECT_EQ(errno, EBADF);
  EXPECT_NE(::fcntl(opened->fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  // The server side reads the same file.
  EXPECT_EQ(ops().Read(opened->message.open_fd).value_or(""), "hello world");
}

TEST_F(GoferLookupTest, WritableOpensAndDirectoriesAreNotDonated) {
  auto rw = ops().Open(MustWalk({"file"}), O_RDWR);
  ASSERT_TRUE(rw.has_value()) << ErrnoOf(rw);
  EXPECT_FALSE(rw->fd.valid());
  auto dir = ops().Open(MustWalk({"dir"}), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.has_value()) << ErrnoOf(dir);
  EXPECT_FALSE(dir->fd.valid());
}

TEST_F(GoferLookupTest, OpenErrorsAreLinuxs) {
  EXPECT_EQ(ErrnoOf(ops().Open(MustWalk({"file"}), O_RDONLY | O_DIRECTORY)),
            ENOTDIR);
  EXPECT_EQ(ErrnoOf(ops().Open(MustWalk({"dir"}), O_WRONLY)), EISDIR);
  EXPECT_EQ(ErrnoOf(ops().Open(MustWalk({"link"}), O_RDONLY)), ELOOP);
  // An open FDID cannot be used where a control FDID is needed.
  lisafs::FdId open_fd = MustOpen(MustWalk({"dir"}), O_RDONLY);
  EXPECT_EQ(ErrnoOf(ops().Walk(open_fd, {"nested"})), EBADF);
}

TEST_F(GoferLookupTest, OpenTruncates) {
  lisafs::FdId fd = MustOpen(MustWalk({"file"}), O_WRONLY | O_TRUNC);
  EXPECT_NE(fd, lisafs::kNoFdId);
  EXPECT_EQ(HostStat("file").st_size, 0);
}

TEST_F(GoferLookupTest, AControlFdidFollowsItsFileThroughARename) {
  lisafs::FdId file = MustWalk({"file"});
  lisafs::FdId dir = MustWalk({"dir"});
  ASSERT_TRUE(ops().Call(lisafs::RenameAtReq{Root(), "file", dir, "moved", 0}));
  auto opened = ops().Open(file, O_RDONLY);
  ASSERT_TRUE(opened.has_value()) << ErrnoOf(opened);
  EXPECT_EQ(ops().Read(opened->message.open_fd).value_or(""), "hello world");
}

TEST_F(GoferLookupTest, AFileRenamedBehindTheGofersBackIsStale) {
  lisafs::FdId file = MustWalk({"file"});
  // A host process replaces the name with another file: reopening must not
  // silently open that one.
  WriteFile(scratch_.InRoot("other"), "other");
  ASSERT_EQ(std::rename(scratch_.InRoot("other").c_str(),
                        scratch_.InRoot("file").c_str()),
            0);
  EXPECT_EQ(ErrnoOf(ops().Open(file, O_RDONLY)), ESTALE);
  EXPECT_EQ(ErrnoOf(ops().Open(file, O_WRONLY | O_TRUNC)), ESTALE);
  EXPECT_EQ(ReadFile(scratch_.InRoot("file")), "other");  // Not truncated.
  // Its metadata is still reachable: the O_PATH descriptor pins it.
  EXPECT_EQ(ops().Stat(file)->size, 11u);
}

// Channel requests start a serving thread per channel inside the confined
// gofer (thread creation must pass its seccomp filter).
TEST_F(GoferLookupTest, ExtraChannelsAreServed) {
  for (int i = 0; i < 3; ++i) {
    auto reply = gofer_->client().Call(lisafs::ChannelReq{});
    ASSERT_TRUE(reply.has_value()) << ErrnoOf(reply);
    ASSERT_TRUE(reply->fd.valid());
    auto channel = lisafs::Channel::Adopt(std::move(reply->fd));
    ASSERT_TRUE(channel.has_value()) << ErrnoOf(channel);
    // Same connection, same FDIDs: the root FDID works here too.
    ASSERT_TRUE(channel->Send(
        VEIL_MUST(lisafs::Encode(lisafs::FStatReq{Root()}, 7)), {}));
    std::vector<uint8_t> buffer(lisafs::kMaxMessageSize);
    auto got = channel->Recv(buffer);
    ASSERT_TRUE(got.has_value()) << ErrnoOf(got);
    auto decoded = lisafs::DecodeResponse(
        std::span<const uint8_t>(buffer.data(), got->size), 0);
    ASSERT_TRUE(decoded.has_value());
    auto* stat = std::get_if<lisafs::FStatResp>(&decoded->message);
    ASSERT_NE(stat, nullptr);
    EXPECT_EQ(stat->stat.mode & S_IFMT, S_IFDIR);
  }
  EXPECT_EQ(ops().ReadPath({"file"}).value_or(""), "hello world");
}

}  // namespace
}  // namespace veil::gofer::testing
