// SPDX-License-Identifier: Apache-2.0
//
// One filled-in value of every request and reply type, with every field
// away from its default, for round-trip and malformed-input tests.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <string>
#include <vector>

#include "lisafs/message.h"

namespace veil::lisafs::testing {

inline Statx SampleStat(uint64_t ino) {
  Statx s;
  s.mask = kStatxAll;
  s.blksize = 4096;
  s.attributes = 0x20;
  s.nlink = 2;
  s.uid = 1000;
  s.gid = 1001;
  s.mode = S_IFDIR | 0755;
  s.ino = ino;
  s.size = 1 << 20;
  s.blocks = 2048;
  s.attributes_mask = 0x70;
  s.atime = {1700000000, 1};
  s.btime = {1600000000, 999'999'999};
  s.ctime = {-5, 42};
  s.mtime = {1700000001, 500};
  s.rdev_major = 8;
  s.rdev_minor = 1;
  s.dev_major = 253;
  s.dev_minor = 7;
  return s;
}

inline Inode SampleInode(FdId id) { return Inode{id, SampleStat(id * 10)}; }

inline std::vector<Request> SampleRequests() {
  std::vector<Request> r;
  r.push_back(MountReq{kProtocolVersion, 200'000});
  r.push_back(ChannelReq{});
  r.push_back(FStatReq{7});
  r.push_back(SetStatReq{7,
                         kSetStatMode | kSetStatAtime | kSetStatAtimeNow,
                         0644,
                         5,
                         6,
                         1234,
                         {1, 2},
                         {3, 4}});
  r.push_back(WalkReq{1, {"usr", "lib", "x86_64-linux-gnu"}});
  r.push_back(WalkStatReq{1, WalkStatStart::kInclude, {"etc", "passwd"}});
  r.push_back(OpenAtReq{9, O_RDWR | O_APPEND});
  r.push_back(OpenCreateAtReq{1, "new.txt", 0600, 0, 0, O_WRONLY | O_TRUNC});
  r.push_back(CloseReq{{1, 2, 3}});
  r.push_back(FSyncReq{{4, 5}});
  r.push_back(PWriteReq{4, 8192, {1, 2, 3, 0, 255}});
  r.push_back(PReadReq{4, 1 << 30, 4096});
  r.push_back(MkdirAtReq{1, "dir", 0755, 10, 20});
  r.push_back(MknodAtReq{1, "fifo", S_IFIFO | 0644, kNoId, kNoId, 3, 4});
  r.push_back(SymlinkAtReq{1, "link", "../target/with spaces", 1, 2});
  r.push_back(LinkAtReq{1, "hard", 12});
  r.push_back(FStatFSReq{1});
  r.push_back(FAllocateReq{4, FALLOC_FL_KEEP_SIZE, 100, 200});
  r.push_back(ReadLinkAtReq{13});
  r.push_back(FlushReq{4});
  r.push_back(ConnectReq{14, SOCK_SEQPACKET});
  r.push_back(UnlinkAtReq{1, "gone", AT_REMOVEDIR});
  r.push_back(RenameAtReq{1, "from", 2, "to", RENAME_NOREPLACE});
  r.push_back(Getdents64Req{4, 32768});
  r.push_back(FGetXattrReq{1, "user.mime", 100});
  r.push_back(FSetXattrReq{1, "user.mime", {'t', 0, 'x'}, XATTR_CREATE});
  r.push_back(FListXattrReq{1, 4096});
  r.push_back(FRemoveXattrReq{1, "trusted.overlay.opaque"});
  r.push_back(BindAtReq{1, "sock", SOCK_STREAM, 0700, 3, 4});
  r.push_back(SeekDataReq{4, 8192, SEEK_HOLE});
  return r;
}

inline std::vector<Response> SampleResponses() {
  std::vector<Response> r;
  r.push_back(ErrorResp{ENOENT});
  r.push_back(MountResp{kProtocolVersion,
                        SampleInode(1),
                        300'000,
                        {MessageId::kWalk, MessageId::kBindAt}});
  r.push_back(ChannelResp{});
  r.push_back(FStatResp{SampleStat(3)});
  r.push_back(SetStatResp{kSetStatUid | kSetStatGid, EPERM});
  r.push_back(WalkResp{WalkStatus::kComponentSymlink,
                       {SampleInode(2), SampleInode(3)}});
  r.push_back(WalkStatResp{{SampleStat(1), SampleStat(2), SampleStat(3)}});
  r.push_back(OpenAtResp{17});
  r.push_back(OpenCreateAtResp{SampleInode(18), 19});
  r.push_back(CloseResp{});
  r.push_back(FSyncResp{});
  r.push_back(PWriteResp{5});
  r.push_back(PReadResp{{9, 8, 7, 0, 6}});
  r.push_back(MkdirAtResp{SampleInode(20)});
  r.push_back(MknodAtResp{SampleInode(21)});
  r.push_back(SymlinkAtResp{SampleInode(22)});
  r.push_back(LinkAtResp{SampleInode(23)});
  r.push_back(FStatFSResp{0x01021994, 4096, 100, 50, 40, 1000, 900, 255});
  r.push_back(FAllocateResp{});
  r.push_back(ReadLinkAtResp{"/absolute/target"});
  r.push_back(FlushResp{});
  r.push_back(ConnectResp{});
  r.push_back(UnlinkAtResp{});
  r.push_back(RenameAtResp{});
  r.push_back(Getdents64Resp{
      {Dirent64{5, 1, 2, 100, 4, "a"}, Dirent64{6, 1, 2, -1, 8, "file.txt"}}});
  r.push_back(FGetXattrResp{{'v', 0, 1}});
  r.push_back(FSetXattrResp{});
  r.push_back(FListXattrResp{{"user.a", "security.selinux"}});
  r.push_back(FRemoveXattrResp{});
  r.push_back(BindAtResp{SampleInode(24)});
  r.push_back(SeekDataResp{12288});
  return r;
}

// Host descriptors a message must come with (the Fds(min, ...) of its
// Schema); the samples use exactly this many.
inline size_t RequiredFds(MessageId id) {
  switch (id) {
    case MessageId::kChannel:
    case MessageId::kConnect:
    case MessageId::kBindAt:
      return 1;
    default:
      return 0;
  }
}

}  // namespace veil::lisafs::testing
