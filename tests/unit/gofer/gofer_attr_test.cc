// SPDX-License-Identifier: Apache-2.0
//
// The gofer through a real client: SetStat, xattrs, FSync/FAllocate, and a
// read-only export.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/gofer/gofer_fixture.h"

namespace veil::gofer::testing {
namespace {

using GoferAttrTest = GoferServerTest;
using lisafs::kNoId;

lisafs::SetStatReq SetStat(lisafs::FdId fd, uint32_t mask) {
  lisafs::SetStatReq req;
  req.fd = fd;
  req.mask = mask;
  return req;
}

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST_F(GoferAttrTest, SetStatChangesModeOwnerSizeAndTimes) {
  lisafs::SetStatReq req = SetStat(
      MustWalk({"file"}), lisafs::kSetStatMode | lisafs::kSetStatUid |
                              lisafs::kSetStatGid | lisafs::kSetStatSize |
                              lisafs::kSetStatAtime | lisafs::kSetStatMtime);
  req.mode = 0604;
  req.uid = 77;
  req.gid = 88;
  req.size = 5;
  req.atime = {1000, 5};
  req.mtime = {2000, 7};
  auto resp = ops().Call(req);
  ASSERT_TRUE(resp.has_value()) << ErrnoOf(resp);
  EXPECT_EQ(resp->failure_mask, 0u) << resp->failure_errno;
  struct stat st = HostStat("file");
  EXPECT_EQ(st.st_mode, S_IFREG | 0604);
  EXPECT_EQ(st.st_uid, 77u);
  EXPECT_EQ(st.st_gid, 88u);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_atim.tv_nsec, 5);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(ReadFile(scratch_.InRoot("file")), "hello");
}

TEST_F(GoferAttrTest, SetStatNowUsesTheServersClock) {
  lisafs::SetStatReq req = SetStat(
      MustWalk({"dir"}), lisafs::kSetStatMtime | lisafs::kSetStatMtimeNow);
  const time_t before = ::time(nullptr);
  ASSERT_TRUE(ops().Call(req));
  EXPECT_GE(HostStat("dir").st_mtim.tv_sec, before);
}

TEST_F(GoferAttrTest, SetStatReportsWhatFailedAndDoesTheRest) {
  // chmod of a symlink is EOPNOTSUPP on Linux; its times still change.
  lisafs::SetStatReq req =
      SetStat(MustWalk({"link"}), lisafs::kSetStatMode | lisafs::kSetStatMtime);
  req.mode = 0600;
  req.mtime = {3000, 0};
  auto resp = ops().Call(req);
  ASSERT_TRUE(resp.has_value()) << ErrnoOf(resp);
  EXPECT_EQ(resp->failure_mask, lisafs::kSetStatMode);
  EXPECT_EQ(resp->failure_errno, static_cast<uint32_t>(EOPNOTSUPP));
  EXPECT_EQ(HostStat("link").st_mtim.tv_sec, 3000);

  lisafs::SetStatReq size = SetStat(MustWalk({"dir"}), lisafs::kSetStatSize);
  resp = ops().Call(size);
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->failure_errno, static_cast<uint32_t>(EISDIR));
}

TEST_F(GoferAttrTest, XattrsRoundTripOnFilesAndDirectories) {
  for (const char* name : {"file", "dir"}) {
    lisafs::FdId fd = MustWalk({name});
    ASSERT_TRUE(
        ops().Call(lisafs::FSetXattrReq{fd, "user.color", Bytes("blue"), 0}))
        << name;
    auto got = ops().Call(lisafs::FGetXattrReq{fd, "user.color", 0});
    ASSERT_TRUE(got.has_value()) << ErrnoOf(got);
    EXPECT_EQ(got->value, Bytes("blue"));
    EXPECT_EQ(ErrnoOf(ops().Call(lisafs::FSetXattrReq{
                  fd, "user.color", Bytes("red"), XATTR_CREATE})),
              EEXIST);
    // A buffer too small: ERANGE, as fgetxattr(2).
    EXPECT_EQ(ErrnoOf(ops().Call(lisafs::FGetXattrReq{fd, "user.color", 2})),
              ERANGE);
    auto listed = ops().Call(lisafs::FListXattrReq{fd, 0});
    ASSERT_TRUE(listed.has_value());
    EXPECT_NE(
        std::find(listed->names.begin(), listed->names.end(), "user.color"),
        listed->names.end());
    ASSERT_TRUE(ops().Call(lisafs::FRemoveXattrReq{fd, "user.color"}));
    EXPECT_EQ(ErrnoOf(ops().Call(lisafs::FGetXattrReq{fd, "user.color", 0})),
              ENODATA);
  }
  char value[16] = {};
  EXPECT_EQ(::getxattr(scratch_.InRoot("file").c_str(), "user.color", value,
                       sizeof(value)),
            -1);
}

TEST_F(GoferAttrTest, OverlayXattrsAreServed) {
  lisafs::FdId dir = MustWalk({"dir"});
  ASSERT_TRUE(ops().Call(
      lisafs::FSetXattrReq{dir, "trusted.overlay.opaque", Bytes("y"), 0}));
  char value[4] = {};
  EXPECT_EQ(::getxattr(scratch_.InRoot("dir").c_str(), "trusted.overlay.opaque",
                       value, sizeof(value)),
            1);
  auto got = ops().Call(lisafs::FGetXattrReq{dir, "trusted.overlay.opaque", 0});
  ASSERT_TRUE(got.has_value()) << ErrnoOf(got);
  EXPECT_EQ(got->value, Bytes("y"));
}

TEST_F(GoferAttrTest, OtherXattrNamespacesAreNotServed) {
  lisafs::FdId file = MustWalk({"file"});
  for (const char* name : {"security.capability", "security.selinux",
                           "trusted.other", "system.posix_acl_access"}) {
    EXPECT_EQ(
        ErrnoOf(ops().Call(lisafs::FSetXattrReq{file, name, Bytes("x"), 0})),
        EOPNOTSUPP)
        << name;
    EXPECT_EQ(ErrnoOf(ops().Call(lisafs::FGetXattrReq{file, name, 0})),
              EOPNOTSUPP)
        << name;
  }
  // Host-set names in other namespaces are not listed either.
  ASSERT_EQ(
      ::setxattr(scratch_.InRoot("file").c_str(), "trusted.hidden", "1", 1, 0),
      0);
  auto listed = ops().Call(lisafs::FListXattrReq{file, 0});
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->names.empty());
}

TEST_F(GoferAttrTest, SymlinksCarryNoUserXattrs) {
  lisafs::FdId link = MustWalk({"link"});
  EXPECT_EQ(
      ErrnoOf(ops().Call(lisafs::FSetXattrReq{link, "user.x", Bytes("1"), 0})),
      EPERM);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::FGetXattrReq{link, "user.x", 0})),
            ENODATA);
  auto listed = ops().Call(lisafs::FListXattrReq{link, 0});
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->names.empty());
}

TEST_F(GoferAttrTest, FSyncAndFAllocateOnOpenFiles) {
  lisafs::FdId open_fd = MustOpen(MustWalk({"file"}), O_RDWR);
  EXPECT_TRUE(ops().Call(lisafs::FSyncReq{{open_fd}}));
  EXPECT_TRUE(ops().Call(lisafs::FAllocateReq{open_fd, 0, 0, 8192}));
  EXPECT_EQ(HostStat("file").st_size, 8192);
  EXPECT_TRUE(ops().Call(lisafs::FlushReq{open_fd}));
}

// SeekData answers as the host's lseek(2) on the same file does, on an
// open FDID of either access mode, and refuses other whence values.
TEST_F(GoferAttrTest, SeekDataAnswersAsTheHost) {
  lisafs::FdId open_fd = MustOpen(MustWalk({"file"}), O_WRONLY);
  constexpr uint64_t kFar = 1 << 20;
  auto wrote = ops().Call(lisafs::PWriteReq{open_fd, kFar, Bytes("x")});
  ASSERT_TRUE(wrote.has_value()) << ErrnoOf(wrote);
  UniqueFd host(::open(scratch_.InRoot("file").c_str(), O_RDONLY));
  ASSERT_TRUE(host.valid());
  for (uint64_t at : {uint64_t{0}, uint64_t{8192}, kFar, kFar + 1}) {
    for (uint32_t whence : {uint32_t{SEEK_DATA}, uint32_t{SEEK_HOLE}}) {
      off_t want = ::lseek(host.get(), static_cast<off_t>(at),
                           static_cast<int>(whence));
      auto got = ops().Call(lisafs::SeekDataReq{open_fd, at, whence});
      if (want < 0) {
        EXPECT_EQ(ErrnoOf(got), errno) << at << " " << whence;
      } else {
        ASSERT_TRUE(got.has_value()) << at << " " << whence;
        EXPECT_EQ(got->offset, static_cast<uint64_t>(want))
            << at << " " << whence;
      }
    }
  }
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::SeekDataReq{MustWalk({"file"}), 0,
                                                   SEEK_DATA})),
            EBADF);  // a control FDID is not open
}

class GoferReadOnlyTest : public GoferServerTest {
 protected:
  GoferProcess::Options GoferOptions() override {
    GoferProcess::Options options;
    options.access = Access::kReadOnly;
    return options;
  }
};

TEST_F(GoferReadOnlyTest, ReadsWork) {
  EXPECT_EQ(ops().ReadPath({"dir", "nested"}).value_or(""), "nested");
  auto opened = ops().Open(MustWalk({"file"}), O_RDONLY);
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(opened->fd.valid());  // Donation still works.
  EXPECT_TRUE(ops().ReadDir(Root()).has_value());
}

TEST_F(GoferReadOnlyTest, EveryChangeIsEROFS) {
  const mode_t mode = HostStat("file").st_mode;
  lisafs::FdId file = MustWalk({"file"});
  lisafs::FdId dir = MustWalk({"dir"});
  EXPECT_EQ(ErrnoOf(ops().Open(file, O_RDWR)), EROFS);
  EXPECT_EQ(ErrnoOf(ops().Open(file, O_WRONLY)), EROFS);
  EXPECT_EQ(ErrnoOf(ops().Open(file, O_RDONLY | O_TRUNC)), EROFS);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::OpenCreateAtReq{Root(), "n", 0644, kNoId,
                                                       kNoId, O_RDONLY})),
            EROFS);
  EXPECT_EQ(
      ErrnoOf(ops().Call(lisafs::MkdirAtReq{Root(), "n", 0755, kNoId, kNoId})),
      EROFS);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::MknodAtReq{Root(), "n", S_IFIFO | 0600,
                                                  kNoId, kNoId, 0, 0})),
            EROFS);
  EXPECT_EQ(
      ErrnoOf(ops().Call(lisafs::SymlinkAtReq{Root(), "n", "t", kNoId, kNoId})),
      EROFS);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::LinkAtReq{Root(), "n", file})), EROFS);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::UnlinkAtReq{Root(), "file", 0})), EROFS);
  EXPECT_EQ(
      ErrnoOf(ops().Call(lisafs::RenameAtReq{Root(), "file", dir, "f", 0})),
      EROFS);
  lisafs::SetStatReq chmod = SetStat(file, lisafs::kSetStatMode);
  chmod.mode = 0600;
  EXPECT_EQ(ErrnoOf(ops().Call(chmod)), EROFS);
  EXPECT_EQ(
      ErrnoOf(ops().Call(lisafs::FSetXattrReq{file, "user.x", Bytes("1"), 0})),
      EROFS);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::FRemoveXattrReq{file, "user.x"})),
            EROFS);
  // Nothing changed on the host.
  EXPECT_EQ(HostStat("file").st_mode, mode);
  EXPECT_EQ(ReadFile(scratch_.InRoot("file")), "hello world");
  EXPECT_FALSE(HostExists("n"));
}

}  // namespace
}  // namespace veil::gofer::testing
