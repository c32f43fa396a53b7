// SPDX-License-Identifier: Apache-2.0
//
// The client against an untrusted server: a scripted fake server answers
// with version mismatches, inconsistent or malformed replies, stray tags,
// and hang-ups.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "lisafs/client.h"
#include "lisafs/codec.h"
#include "tests/unit/lisafs/lisafs_test_util.h"
#include "tests/unit/lisafs/sample_messages.h"

namespace veil::lisafs {
namespace {

using testing::ErrnoOf;
using testing::RawFrame;
using testing::SampleInode;

// The server end of a connection, driven by a test script on its own
// thread.
class FakeServer {
 public:
  explicit FakeServer(Channel channel) : channel_(std::move(channel)) {}

  // The next request; its tag is in the header.
  Decoded<Request> Next() {
    auto got = channel_.Recv(buffer_);
    EXPECT_TRUE(got.has_value()) << ErrnoOf(got);
    if (!got) return {};
    auto decoded = DecodeRequest(
        std::span<const uint8_t>(buffer_.data(), got->size), got->fds.size());
    EXPECT_TRUE(decoded.has_value()) << ErrnoOf(decoded);
    return decoded ? std::move(*decoded) : Decoded<Request>{};
  }
  void SendRaw(const std::vector<uint8_t>& bytes) {
    EXPECT_TRUE(channel_.Send(bytes, {}).has_value());
  }
  template <typename T>
  void Reply(const T& message, uint64_t tag) {
    SendRaw(VEIL_MUST(Encode(message, tag)));
  }
  // Answers the client's Mount properly.
  void AcceptMount() {
    Decoded<Request> mount = Next();
    EXPECT_TRUE(std::holds_alternative<MountReq>(mount.message));
    Reply(MountResp{kProtocolVersion, SampleInode(1), kMinMessageSize, {}},
          mount.header.tag);
  }
  void HangUp() { channel_.Shutdown(); }

 private:
  Channel channel_;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(kMaxMessageSize);
};

class LisafsClientRobustnessTest : public ::testing::Test {
 protected:
  // Runs `script` as the server while the test body acts as the client.
  Channel Serve(std::function<void(FakeServer&)> script) {
    auto pair = VEIL_MUST(Channel::CreatePair());
    server_ = std::make_unique<FakeServer>(std::move(pair.second));
    thread_ =
        std::thread([this, script = std::move(script)] { script(*server_); });
    return std::move(pair.first);
  }
  void TearDown() override {
    client_.reset();
    if (thread_.joinable()) thread_.join();
  }
  void Connect(std::function<void(FakeServer&)> script) {
    auto client = Client::Create(Serve(std::move(script)));
    ASSERT_TRUE(client.has_value()) << ErrnoOf(client);
    client_ = std::move(*client);
  }

  std::unique_ptr<FakeServer> server_;
  std::thread thread_;
  std::unique_ptr<Client> client_;
};

TEST_F(LisafsClientRobustnessTest, ServerRefusingOurVersionIsClear) {
  auto client = Client::Create(Serve([](FakeServer& s) {
    s.Reply(ErrorResp{EPROTONOSUPPORT}, s.Next().header.tag);
  }));
  ASSERT_FALSE(client.has_value());
  EXPECT_EQ(client.error().code(), EPROTONOSUPPORT);
  ASSERT_NE(client.error().message(), nullptr);
  EXPECT_NE(std::strstr(client.error().message(), "version"), nullptr);
}

TEST_F(LisafsClientRobustnessTest, ServerOfAnotherVersionIsClear) {
  auto client = Client::Create(Serve([](FakeServer& s) {
    const uint64_t tag = s.Next().header.tag;
    s.SendRaw(RawFrame(
        MessageId::kMount,
        [](Writer& w) { w.Num(uint32_t{kProtocolVersion + 1}); }, tag));
  }));
  ASSERT_FALSE(client.has_value());
  EXPECT_EQ(client.error().code(), EPROTONOSUPPORT);
  ASSERT_NE(client.error().message(), nullptr);
  EXPECT_NE(std::strstr(client.error().message(), "version"), nullptr);
}

TEST_F(LisafsClientRobustnessTest, MalformedMountReplyIsEproto) {
  auto client = Client::Create(Serve([](FakeServer& s) {
    const uint64_t tag = s.Next().header.tag;
    s.SendRaw(RawFrame(
        MessageId::kMount,
        [](Writer& w) {
          w.Num(uint32_t{kProtocolVersion});
          w.Num(uint64_t{0});  // FDID 0 for the root.
        },
        tag));
  }));
  EXPECT_EQ(ErrnoOf(client), EPROTO);
}

TEST_F(LisafsClientRobustnessTest, InconsistentRepliesAreEproto) {
  Connect([](FakeServer& s) {
    s.AcceptMount();
    // Three inodes for a one-name walk.
    auto walk = s.Next();
    s.Reply(WalkResp{WalkStatus::kSuccess,
                     {SampleInode(2), SampleInode(3), SampleInode(4)}},
            walk.header.tag);
    // More bytes than asked for.
    auto read = s.Next();
    s.Reply(PReadResp{std::vector<uint8_t>(100)}, read.header.tag);
    // The reply of another message.
    auto stat = s.Next();
    s.Reply(FlushResp{}, stat.header.tag);
    // A well-formed header around a malformed payload.
    auto fstat = s.Next();
    s.SendRaw(RawFrame(
        MessageId::kFStat, [](Writer& w) { w.Num(uint8_t{1}); },
        fstat.header.tag));
    // A sane reply: the connection survived all of the above.
    auto last = s.Next();
    s.Reply(FStatResp{testing::SampleStat(1)}, last.header.tag);
  });
  EXPECT_EQ(ErrnoOf(client_->Call(WalkReq{1, {"a"}})), EPROTO);
  EXPECT_EQ(ErrnoOf(client_->Call(PReadReq{1, 0, 10})), EPROTO);
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{1})), EPROTO);
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{1})), EPROTO);
  EXPECT_TRUE(client_->Call(FStatReq{1}).has_value());
}

TEST_F(LisafsClientRobustnessTest, ServerErrnoIsReturned) {
  Connect([](FakeServer& s) {
    s.AcceptMount();
    s.Reply(ErrorResp{ENOENT}, s.Next().header.tag);
  });
  EXPECT_EQ(ErrnoOf(client_->Call(WalkReq{1, {"a"}})), ENOENT);
}

TEST_F(LisafsClientRobustnessTest, UnknownTagEndsTheConnection) {
  Connect([](FakeServer& s) {
    s.AcceptMount();
    s.Reply(FStatResp{}, s.Next().header.tag + 1000);
  });
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{1})), EPROTO);
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{1})), EPROTO);
}

TEST_F(LisafsClientRobustnessTest, HangUpFailsPendingCalls) {
  Connect([](FakeServer& s) {
    s.AcceptMount();
    s.Next();
    s.HangUp();
  });
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{1})), ECONNRESET);
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{1})), ECONNRESET);
}

TEST_F(LisafsClientRobustnessTest, RequestsThatCannotBeEncodedFailLocally) {
  Connect([](FakeServer& s) { s.AcceptMount(); });
  EXPECT_EQ(ErrnoOf(client_->Call(WalkReq{1, {".."}})), EINVAL);
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{kNoFdId})), EBADF);
}

}  // namespace
}  // namespace veil::lisafs
