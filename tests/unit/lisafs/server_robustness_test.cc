// SPDX-License-Identifier: Apache-2.0
//
// The server against an untrusted client: hand-built and malformed
// datagrams, requests out of order, and a client that vanishes mid-request.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "lisafs/client.h"
#include "lisafs/codec.h"
#include "lisafs/server.h"
#include "tests/unit/lisafs/lisafs_test_util.h"
#include "tests/unit/lisafs/mem_backend.h"

namespace veil::lisafs {
namespace {

using testing::ErrnoOf;
using testing::MemBackend;
using testing::RawFrame;

// A client that speaks raw datagrams.
class RawPeer {
 public:
  explicit RawPeer(Channel channel) : channel_(std::move(channel)) {}

  void Send(const std::vector<uint8_t>& bytes, std::span<const int> fds = {}) {
    ASSERT_TRUE(channel_.Send(bytes, fds).has_value());
  }
  // The reply to the last request; dies on a transport error.
  Decoded<Response> Receive() {
    auto got = channel_.Recv(buffer_);
    EXPECT_TRUE(got.has_value()) << ErrnoOf(got);
    if (!got) return {};
    auto decoded = DecodeResponse(
        std::span<const uint8_t>(buffer_.data(), got->size), got->fds.size());
    EXPECT_TRUE(decoded.has_value()) << ErrnoOf(decoded);
    return decoded ? std::move(*decoded) : Decoded<Response>{};
  }
  // The errno of an Error reply, or 0 for any other reply.
  int ReceiveErrno(uint64_t expected_tag) {
    Decoded<Response> reply = Receive();
    EXPECT_EQ(reply.header.tag, expected_tag);
    if (auto* error = std::get_if<ErrorResp>(&reply.message)) {
      return static_cast<int>(error->error);
    }
    return 0;
  }
  FdId Mount() {
    Send(VEIL_MUST(Encode(MountReq{}, 1)));
    Decoded<Response> reply = Receive();
    auto* mount = std::get_if<MountResp>(&reply.message);
    EXPECT_NE(mount, nullptr);
    return mount ? mount->root.control_fd : kNoFdId;
  }
  Channel& channel() { return channel_; }

 private:
  Channel channel_;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(kMaxMessageSize);
};

class LisafsServerRobustnessTest : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    backend_.AddFile("slow", "");
    ServerOptions options;
    options.workers_per_channel = GetParam();
    server_ = std::make_unique<Server>(backend_, options);
    peer_ = std::make_unique<RawPeer>(StartServing());
  }
  void TearDown() override {
    peer_.reset();
    for (std::thread& t : serve_threads_) t.join();
    EXPECT_EQ(backend_.live_fds(), 0);
  }

  // Starts serving a new connection; returns the client's end.
  Channel StartServing() {
    auto pair = VEIL_MUST(Channel::CreatePair());
    const size_t index = serve_threads_.size();
    results_.push_back(std::make_unique<Result<void>>());
    serve_threads_.emplace_back(
        [this, index, channel = std::move(pair.second)]() mutable {
          *results_[index] = server_->Serve(std::move(channel));
        });
    return std::move(pair.first);
  }

  MemBackend backend_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Result<void>>> results_;
  std::vector<std::thread> serve_threads_;
  std::unique_ptr<RawPeer> peer_;
};

TEST_P(LisafsServerRobustnessTest, RequestsBeforeMountAreEinval) {
  peer_->Send(VEIL_MUST(Encode(FStatReq{1}, 5)));
  EXPECT_EQ(peer_->ReceiveErrno(5), EINVAL);
  peer_->Send(VEIL_MUST(Encode(ChannelReq{}, 6)));
  EXPECT_EQ(peer_->ReceiveErrno(6), EINVAL);
  EXPECT_NE(peer_->Mount(), kNoFdId);  // And then Mount still works.
}

TEST_P(LisafsServerRobustnessTest, MalformedRequestsGetErrorReplies) {
  const FdId root = peer_->Mount();
  // FDID 0.
  peer_->Send(RawFrame(
      MessageId::kFStat, [](Writer& w) { w.Num(uint64_t{0}); }, 10));
  EXPECT_EQ(peer_->ReceiveErrno(10), EBADF);
  // Unknown ids, and Error sent as a request.
  peer_->Send(RawFrame(
      static_cast<MessageId>(999), [](Writer&) {}, 11));
  EXPECT_EQ(peer_->ReceiveErrno(11), EINVAL);
  peer_->Send(RawFrame(
      MessageId::kError, [](Writer& w) { w.Num(uint32_t{5}); }, 12));
  EXPECT_EQ(peer_->ReceiveErrno(12), EINVAL);
  // Unsafe and over-long names.
  peer_->Send(RawFrame(
      MessageId::kWalk,
      [root](Writer& w) {
        w.Num(root);
        w.Num(uint32_t{1});
        w.Num(uint32_t{2});
        w.Num(uint8_t{'.'});
        w.Num(uint8_t{'.'});
      },
      13));
  EXPECT_EQ(peer_->ReceiveErrno(13), EINVAL);
  peer_->Send(RawFrame(
      MessageId::kMkdirAt,
      [root](Writer& w) {
        w.Num(root);
        w.Num(uint32_t{300});
        for (int i = 0; i < 300; ++i) w.Num(uint8_t{'a'});
        w.Num(uint32_t{0755});
        w.Num(uint32_t{0});
        w.Num(uint32_t{0});
      },
      14));
  EXPECT_EQ(peer_->ReceiveErrno(14), ENAMETOOLONG);
  // A count claiming far more than was sent.
  peer_->Send(RawFrame(
      MessageId::kClose, [](Writer& w) { w.Num(uint32_t{0x40000000}); }, 15));
  EXPECT_EQ(peer_->ReceiveErrno(15), EINVAL);
  // Trailing garbage.
  auto trailing = VEIL_MUST(Encode(FStatReq{root}, 16));
  trailing.push_back(0);
  testing::PatchPayloadSize(trailing);
  peer_->Send(trailing);
  EXPECT_EQ(peer_->ReceiveErrno(16), EINVAL);
  // An FDID the server never handed out.
  peer_->Send(VEIL_MUST(Encode(FStatReq{root + 1000}, 17)));
  EXPECT_EQ(peer_->ReceiveErrno(17), EBADF);

  // After all that, the connection still works.
  peer_->Send(VEIL_MUST(Encode(FStatReq{root}, 18)));
  Decoded<Response> reply = peer_->Receive();
  EXPECT_EQ(reply.header.tag, 18u);
  EXPECT_TRUE(std::holds_alternative<FStatResp>(reply.message));
}

TEST_P(LisafsServerRobustnessTest, DescriptorsOnRequestsAreRefusedAndClosed) {
  const FdId root = peer_->Mount();
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  const int fd = write_end.get();
  peer_->Send(VEIL_MUST(Encode(FStatReq{root}, 20)),
              std::span<const int>(&fd, 1));
  write_end.reset();
  EXPECT_EQ(peer_->ReceiveErrno(20), EINVAL);
  char c;
  EXPECT_EQ(::read(read_end.get(), &c, 1), 0);  // The server closed its copy.
}

TEST_P(LisafsServerRobustnessTest, VersionMismatchIsEprotonosupport) {
  peer_->Send(RawFrame(
      MessageId::kMount,
      [](Writer& w) {
        w.Num(uint32_t{kProtocolVersion + 1});
        w.Num(uint32_t{kMinMessageSize});
      },
      1));
  EXPECT_EQ(peer_->ReceiveErrno(1), EPROTONOSUPPORT);
  EXPECT_NE(peer_->Mount(), kNoFdId);
}

TEST_P(LisafsServerRobustnessTest, HeaderlessDatagramEndsTheConnection) {
  peer_->Mount();
  peer_->Send(std::vector<uint8_t>{1, 2, 3});
  serve_threads_[0].join();
  serve_threads_[0] = std::thread([] {});
  EXPECT_EQ(ErrnoOf(*results_[0]), EPROTO);
  std::vector<uint8_t> buffer(64);
  EXPECT_EQ(ErrnoOf(peer_->channel().Recv(buffer)), ECONNRESET);
}

TEST_P(LisafsServerRobustnessTest, OversizedDatagramEndsTheConnection) {
  peer_->Mount();
  // Channel::Send refuses this, so send it raw, as a hostile peer would.
  std::vector<uint8_t> huge(kMaxMessageSize + 1);
  if (::send(peer_->channel().fd(), huge.data(), huge.size(), 0) < 0) {
    GTEST_SKIP() << "socket buffer too small for the oversized datagram";
  }
  serve_threads_[0].join();
  serve_threads_[0] = std::thread([] {});
  EXPECT_EQ(ErrnoOf(*results_[0]), EMSGSIZE);
}

// The client sends a request and goes away while the backend is still
// working on it. The server must finish, drop the reply, release the
// connection's FDIDs and keep serving new connections.
TEST_P(LisafsServerRobustnessTest, ClientDisconnectingMidRequest) {
  const FdId root = peer_->Mount();
  auto walk = VEIL_MUST(Encode(WalkReq{root, {"slow"}}, 2));
  peer_->Send(walk);
  Decoded<Response> walked = peer_->Receive();
  const FdId slow = std::get<WalkResp>(walked.message).inodes.at(0).control_fd;
  peer_->Send(VEIL_MUST(Encode(FStatReq{slow}, 3)));
  while (backend_.gate_waiters() == 0) ::usleep(1000);
  EXPECT_GT(backend_.live_fds(), 0);

  peer_.reset();  // The client vanishes.
  backend_.OpenGate();
  serve_threads_[0].join();
  serve_threads_[0] = std::thread([] {});
  EXPECT_TRUE(results_[0]->has_value()) << ErrnoOf(*results_[0]);
  EXPECT_EQ(backend_.live_fds(), 0);

  // The same server takes the next connection.
  auto client = Client::Create(StartServing());
  ASSERT_TRUE(client.has_value()) << ErrnoOf(client);
  EXPECT_TRUE(
      (*client)->Call(FStatReq{(*client)->root().control_fd}).has_value());
}

TEST_P(LisafsServerRobustnessTest, ExtraChannelsAreCapped) {
  peer_->Mount();
  const size_t max = ServerOptions{}.max_channels;
  for (size_t i = 0; i < max; ++i) {
    peer_->Send(VEIL_MUST(Encode(ChannelReq{}, 100 + i)));
    // Receive closes the attached channel right away.
    Decoded<Response> reply = peer_->Receive();
    EXPECT_TRUE(std::holds_alternative<ChannelResp>(reply.message));
  }
  peer_->Send(VEIL_MUST(Encode(ChannelReq{}, 1)));
  EXPECT_EQ(peer_->ReceiveErrno(1), EMFILE);
}

INSTANTIATE_TEST_SUITE_P(Serial, LisafsServerRobustnessTest,
                         ::testing::Values(size_t{1}));
INSTANTIATE_TEST_SUITE_P(Pooled, LisafsServerRobustnessTest,
                         ::testing::Values(size_t{4}));

}  // namespace
}  // namespace veil::lisafs
