// SPDX-License-Identifier: Apache-2.0
#include "lisafs/codec.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/unit/lisafs/lisafs_test_util.h"
#include "tests/unit/lisafs/sample_messages.h"

namespace veil::lisafs {
namespace {

using testing::ErrnoOf;
using testing::RawFrame;
using testing::RequiredFds;
using testing::SampleRequests;
using testing::SampleResponses;

constexpr uint64_t kTag = 0x0102030405060708;

TEST(LisafsCodecTest, EveryRequestRoundTrips) {
  std::set<MessageId> seen;
  for (const Request& request : SampleRequests()) {
    SCOPED_TRACE(MessageName(IdOf(request)));
    auto bytes = EncodeRequest(request, kTag);
    ASSERT_TRUE(bytes.has_value());
    auto decoded = DecodeRequest(*bytes, 0);
    ASSERT_TRUE(decoded.has_value()) << ErrnoOf(decoded);
    EXPECT_EQ(decoded->header.tag, kTag);
    EXPECT_EQ(decoded->header.id, IdOf(request));
    EXPECT_TRUE(decoded->message == request);
    // The encoding is canonical: re-encoding gives the same bytes.
    EXPECT_EQ(*EncodeRequest(decoded->message, kTag), *bytes);
    seen.insert(IdOf(request));
  }
  EXPECT_EQ(seen.size(), size_t{kMaxMessageIdValue});  // Every id but Error.
}

TEST(LisafsCodecTest, EveryResponseRoundTrips) {
  std::set<MessageId> seen;
  for (const Response& response : SampleResponses()) {
    SCOPED_TRACE(MessageName(IdOf(response)));
    auto bytes = EncodeResponse(response, kTag);
    ASSERT_TRUE(bytes.has_value());
    auto decoded = DecodeResponse(*bytes, RequiredFds(IdOf(response)));
    ASSERT_TRUE(decoded.has_value()) << ErrnoOf(decoded);
    EXPECT_EQ(decoded->header.tag, kTag);
    EXPECT_TRUE(decoded->message == response);
    EXPECT_EQ(*EncodeResponse(decoded->message, kTag), *bytes);
    seen.insert(IdOf(response));
  }
  EXPECT_EQ(seen.size(), size_t{kMaxMessageIdValue} + 1);
}

// Every strict prefix of a valid message is invalid, both as is (the header
// disagrees with the datagram) and with the header patched to match (the
// payload runs out).
TEST(LisafsCodecTest, TruncationAtEveryOffsetFails) {
  auto check = [](const std::vector<uint8_t>& bytes, auto decode) {
    for (size_t len = 0; len < bytes.size(); ++len) {
      std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + len);
      EXPECT_FALSE(decode(prefix).has_value()) << "raw prefix " << len;
      if (len < kHeaderSize) continue;
      testing::PatchPayloadSize(prefix);
      EXPECT_FALSE(decode(prefix).has_value()) << "patched prefix " << len;
    }
  };
  for (const Request& request : SampleRequests()) {
    SCOPED_TRACE(MessageName(IdOf(request)));
    check(*EncodeRequest(request, 1),
          [](std::span<const uint8_t> b) { return DecodeRequest(b, 0); });
  }
  for (const Response& response : SampleResponses()) {
    SCOPED_TRACE(MessageName(IdOf(response)));
    const size_t fds = RequiredFds(IdOf(response));
    check(*EncodeResponse(response, 1),
          [fds](std::span<const uint8_t> b) { return DecodeResponse(b, fds); });
  }
}

TEST(LisafsCodecTest, TrailingBytesFail) {
  for (const Request& request : SampleRequests()) {
    auto bytes = *EncodeRequest(request, 1);
    bytes.push_back(0);
    testing::PatchPayloadSize(bytes);
    EXPECT_EQ(ErrnoOf(DecodeRequest(bytes, 0)), EINVAL)
        << MessageName(IdOf(request));
  }
}

TEST(LisafsCodecTest, HeaderChecks) {
  auto bytes = *Encode(FStatReq{5}, 1);
  EXPECT_TRUE(DecodeHeader(bytes).has_value());
  auto reserved = bytes;
  reserved[3] = 1;
  EXPECT_EQ(ErrnoOf(DecodeRequest(reserved, 0)), EINVAL);
  auto wrong_size = bytes;
  wrong_size[4] ^= 1;
  EXPECT_EQ(ErrnoOf(DecodeRequest(wrong_size, 0)), EINVAL);
  std::vector<uint8_t> huge(kMaxMessageSize + 1);
  EXPECT_EQ(ErrnoOf(DecodeHeader(huge)), EMSGSIZE);
  EXPECT_EQ(ErrnoOf(DecodeHeader({})), EINVAL);
}

TEST(LisafsCodecTest, UnknownIdsFail) {
  for (uint16_t id :
       {uint16_t{30}, uint16_t{31}, uint16_t{0x7fff}, uint16_t{0xffff}}) {
    auto bytes = RawFrame(static_cast<MessageId>(id), [](Writer&) {});
    EXPECT_EQ(ErrnoOf(DecodeRequest(bytes, 0)), EINVAL) << id;
    EXPECT_EQ(ErrnoOf(DecodeResponse(bytes, 0)), EINVAL) << id;
  }
  // Error is a reply only.
  auto error = *Encode(ErrorResp{EIO}, 1);
  EXPECT_EQ(ErrnoOf(DecodeRequest(error, 0)), EINVAL);
  EXPECT_TRUE(DecodeResponse(error, 0).has_value());
}

TEST(LisafsCodecTest, OversizedCountsAndLengthsFail) {
  // A count far beyond the buffer must fail before anything is allocated.
  auto walk = RawFrame(MessageId::kWalk, [](Writer& w) {
    w.Num(uint64_t{1});
    w.Num(uint32_t{0xffffffff});
  });
  EXPECT_EQ(ErrnoOf(DecodeRequest(walk, 0)), EINVAL);
  // One more component than allowed, each present.
  auto too_many = RawFrame(MessageId::kWalk, [](Writer& w) {
    w.Num(uint64_t{1});
    w.Num(uint32_t{kMaxWalkComponents + 1});
    for (size_t i = 0; i <= kMaxWalkComponents; ++i) w.Name("x");
  });
  EXPECT_EQ(ErrnoOf(DecodeRequest(too_many, 0)), EINVAL);
  // A string length past the end of the buffer.
  auto past_end = RawFrame(MessageId::kReadLinkAt, [](Writer& w) {
    w.Num(uint32_t{100});
    w.Num(uint8_t{'a'});
  });
  EXPECT_EQ(ErrnoOf(DecodeResponse(past_end, 0)), EINVAL);
  // I/O sizes above kMaxIoSize.
  PReadReq big_read{1, 0, uint32_t{kMaxIoSize} + 1};
  EXPECT_EQ(ErrnoOf(Encode(big_read, 1)), EINVAL);
  auto big_count = RawFrame(MessageId::kPRead, [](Writer& w) {
    w.Num(uint64_t{1});
    w.Num(uint64_t{0});
    w.Num(uint32_t{kMaxIoSize + 1});
  });
  EXPECT_EQ(ErrnoOf(DecodeRequest(big_count, 0)), EINVAL);
  auto big_blob = RawFrame(MessageId::kPWrite, [](Writer& w) {
    w.Num(uint64_t{1});
    w.Num(uint64_t{0});
    w.Num(uint32_t{kMaxIoSize + 1});
  });
  EXPECT_EQ(ErrnoOf(DecodeRequest(big_blob, 0)), EINVAL);
  // Negative offsets (as loff_t) are refused.
  auto negative = RawFrame(MessageId::kPRead, [](Writer& w) {
    w.Num(uint64_t{1});
    w.Num(uint64_t{1} << 63);
    w.Num(uint32_t{1});
  });
  EXPECT_EQ(ErrnoOf(DecodeRequest(negative, 0)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(Getdents64Req{1, kMaxGetdentsBytes + 1}, 1)),
            EINVAL);
}

TEST(LisafsCodecTest, BadFdIdsFail) {
  EXPECT_EQ(ErrnoOf(Encode(FStatReq{kNoFdId}, 1)), EBADF);
  auto zero =
      RawFrame(MessageId::kFStat, [](Writer& w) { w.Num(uint64_t{0}); });
  EXPECT_EQ(ErrnoOf(DecodeRequest(zero, 0)), EBADF);
  auto zero_in_batch = RawFrame(MessageId::kClose, [](Writer& w) {
    w.Num(uint32_t{2});
    w.Num(uint64_t{4});
    w.Num(uint64_t{0});
  });
  EXPECT_EQ(ErrnoOf(DecodeRequest(zero_in_batch, 0)), EBADF);
}

TEST(LisafsCodecTest, UnexpectedOrMissingFdsFail) {
  auto fstat = *Encode(FStatReq{1}, 1);
  EXPECT_EQ(ErrnoOf(DecodeRequest(fstat, 1)), EINVAL);
  auto channel = *Encode(ChannelResp{}, 1);
  EXPECT_EQ(ErrnoOf(DecodeResponse(channel, 0)), EINVAL);
  EXPECT_EQ(ErrnoOf(DecodeResponse(channel, 2)), EINVAL);
  EXPECT_TRUE(DecodeResponse(channel, 1).has_value());
  auto open = *Encode(OpenAtResp{3}, 1);
  EXPECT_TRUE(DecodeResponse(open, 0).has_value());
  EXPECT_TRUE(DecodeResponse(open, 1).has_value());
  EXPECT_EQ(ErrnoOf(DecodeResponse(open, 2)), EINVAL);
  auto error = *Encode(ErrorResp{EPERM}, 1);
  EXPECT_EQ(ErrnoOf(DecodeResponse(error, 1)), EINVAL);
}

TEST(LisafsCodecTest, IsSafeName) {
  EXPECT_TRUE(IsSafeName("a"));
  EXPECT_TRUE(IsSafeName("..."));
  EXPECT_TRUE(IsSafeName(".hidden"));
  EXPECT_TRUE(IsSafeName(std::string(255, 'n')));
  EXPECT_FALSE(IsSafeName(""));
  EXPECT_FALSE(IsSafeName("."));
  EXPECT_FALSE(IsSafeName(".."));
  EXPECT_FALSE(IsSafeName("a/b"));
  EXPECT_FALSE(IsSafeName("/"));
  EXPECT_FALSE(IsSafeName(std::string("a\0b", 3)));
  EXPECT_FALSE(IsSafeName(std::string(256, 'n')));
}

TEST(LisafsCodecTest, UnsafeNamesFail) {
  struct Case {
    std::string name;
    int error;
  };
  const Case cases[] = {{"", EINVAL},
                        {".", EINVAL},
                        {"..", EINVAL},
                        {"a/b", EINVAL},
                        {std::string("a\0b", 3), EINVAL},
                        {std::string(256, 'x'), ENAMETOOLONG}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name.size());
    EXPECT_EQ(ErrnoOf(Encode(WalkReq{1, {"ok", c.name}}, 1)), c.error);
    EXPECT_EQ(ErrnoOf(Encode(MkdirAtReq{1, c.name, 0755, 0, 0}, 1)), c.error);
    auto raw = RawFrame(MessageId::kUnlinkAt, [&c](Writer& w) {
      w.Num(uint64_t{1});
      w.Num(static_cast<uint32_t>(c.name.size()));
      for (char ch : c.name) w.Num(static_cast<uint8_t>(ch));
      w.Num(uint32_t{0});
    });
    EXPECT_EQ(ErrnoOf(DecodeRequest(raw, 0)), c.error);
    // A server may not send such names back either.
    Getdents64Resp dents{{Dirent64{1, 0, 0, 1, 8, c.name}}};
    EXPECT_EQ(ErrnoOf(Encode(dents, 1)), c.error);
  }
  // Text fields: NUL refused, length capped, emptiness per field.
  EXPECT_EQ(ErrnoOf(Encode(SymlinkAtReq{1, "l", "", 0, 0}, 1)), EINVAL);
  EXPECT_EQ(
      ErrnoOf(Encode(SymlinkAtReq{1, "l", std::string("a\0", 2), 0, 0}, 1)),
      EINVAL);
  EXPECT_EQ(
      ErrnoOf(Encode(
          SymlinkAtReq{1, "l", std::string(kMaxPathLength + 1, 'a'), 0, 0}, 1)),
      ENAMETOOLONG);
  EXPECT_EQ(ErrnoOf(Encode(FGetXattrReq{1, "", 0}, 1)), EINVAL);
}

TEST(LisafsCodecTest, FieldValueChecks) {
  EXPECT_EQ(ErrnoOf(Encode(OpenAtReq{1, O_RDONLY | O_CREAT}, 1)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(OpenAtReq{1, O_ACCMODE}, 1)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(OpenAtReq{1, O_RDONLY | O_NOFOLLOW}, 1)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(MknodAtReq{1, "d", S_IFDIR | 0755, 0, 0, 0, 0}, 1)),
            EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(MkdirAtReq{1, "d", S_IFDIR | 0755, 0, 0}, 1)),
            EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(ConnectReq{1, SOCK_RAW}, 1)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(UnlinkAtReq{1, "x", AT_SYMLINK_NOFOLLOW}, 1)),
            EINVAL);
  EXPECT_EQ(
      ErrnoOf(Encode(
          RenameAtReq{1, "a", 1, "b", RENAME_NOREPLACE | RENAME_EXCHANGE}, 1)),
      EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(FSetXattrReq{1, "user.x", {}, 3}, 1)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(ErrorResp{0}, 1)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(ErrorResp{4096}, 1)), EINVAL);
  EXPECT_EQ(ErrnoOf(Encode(SetStatResp{kSetStatMode, 0}, 1)), EINVAL);
  SetStatReq bad_time{1, kSetStatMtime, 0, 0, 0, 0, {}, {0, 1'000'000'000}};
  EXPECT_EQ(ErrnoOf(Encode(bad_time, 1)), EINVAL);
  FStatResp bad_type{testing::SampleStat(1)};
  bad_type.stat.mode = 0170000 | 0644;
  EXPECT_EQ(ErrnoOf(Encode(bad_type, 1)), EINVAL);
  bad_type.stat.mask &= ~kStatxType;  // The type is not claimed valid.
  EXPECT_TRUE(Encode(bad_type, 1).has_value());
  auto bad_status = RawFrame(MessageId::kWalk, [](Writer& w) {
    w.Num(uint8_t{3});
    w.Num(uint32_t{0});
  });
  EXPECT_EQ(ErrnoOf(DecodeResponse(bad_status, 0)), EINVAL);
}

TEST(LisafsCodecTest, VersionMismatchIsEprotonosupport) {
  MountReq other;
  other.version = kProtocolVersion + 1;
  EXPECT_EQ(ErrnoOf(Encode(other, 1)), EPROTONOSUPPORT);
  // Another version's Mount may have another layout: the version still
  // decides the error, even when the rest does not parse.
  auto future = RawFrame(MessageId::kMount, [](Writer& w) {
    w.Num(uint32_t{kProtocolVersion + 1});
    w.Num(uint8_t{0xee});
  });
  EXPECT_EQ(ErrnoOf(DecodeRequest(future, 0)), EPROTONOSUPPORT);
  MountResp reply;
  reply.version = 0;
  reply.root = testing::SampleInode(1);
  EXPECT_EQ(ErrnoOf(Encode(reply, 1)), EPROTONOSUPPORT);
}

}  // namespace
}  // namespace veil::lisafs
