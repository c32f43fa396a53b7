// SPDX-License-Identifier: Apache-2.0
//
// Denial of service against the gofer itself (issue #10, items 13 and 15):
//  - its own seccomp filter killed it (SIGSYS) under ordinary load, when
//    glibc's malloc asked for the CPU count on creating a ninth arena;
//  - a client that sends its own end of the socket in a request, with
//    replies it never reads queued, left the gofer blocked in sendmsg(2)
//    forever: the only reference to that end sat in the gofer's own
//    receive queue, so the peer never closed.
// Both run against the real gofer (confined, and the backend alone).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lisafs/codec.h"
#include "lisafs/server.h"
#include "tests/escape/escape_fixture.h"

namespace veil::gofer::testing {
namespace {

using lisafs::FdId;

// One request and its decoded reply on a raw channel; nullopt if the
// channel failed or the reply is not `Resp`.
template <typename Resp, typename Req>
std::optional<Resp> RoundTrip(const lisafs::Channel& channel, const Req& req,
                              uint64_t tag, std::vector<uint8_t>& buffer) {
  if (!channel.Send(VEIL_MUST(lisafs::Encode(req, tag)), {})) {
    return std::nullopt;
  }
  auto got = channel.Recv(buffer);
  if (!got) return std::nullopt;
  auto decoded = lisafs::DecodeResponse(
      std::span<const uint8_t>(buffer.data(), got->size), got->fds.size());
  if (!decoded || decoded->header.tag != tag) return std::nullopt;
  auto* resp = std::get_if<Resp>(&decoded->message);
  if (resp == nullptr) return std::nullopt;
  return *resp;
}

class GoferLoadEscapeTest : public GoferEscapeTest {
 protected:
  void Populate() override {
    for (int i = 0; i < 8; ++i) {
      WriteFile(scratch_.InRoot("f" + std::to_string(i)),
                std::string(4096, static_cast<char>('a' + i)));
    }
  }
};

// Every extra channel the server allows, each hammered by its own thread
// at once: each channel's serving thread allocates, so glibc wants a new
// malloc arena per channel. The gofer must survive (TearDown checks it
// was not killed) and answer every request.
TEST_P(GoferLoadEscapeTest, MaxChannelsUnderConcurrentLoad) {
  StartGofer();
  const size_t channels = lisafs::ServerOptions{}.max_channels;
  std::vector<lisafs::Channel> opened;
  for (size_t i = 0; i < channels; ++i) {
    auto reply = gofer_->client().Call(lisafs::ChannelReq{});
    ASSERT_TRUE(reply.has_value()) << "channel " << i << ": " << ErrnoOf(reply);
    auto channel = lisafs::Channel::Adopt(std::move(reply->fd));
    ASSERT_TRUE(channel.has_value());
    opened.push_back(std::move(*channel));
  }
  const FdId root = Root();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (size_t c = 0; c < opened.size(); ++c) {
    threads.emplace_back([&, c] {
      const lisafs::Channel& channel = opened[c];
      std::vector<uint8_t> buffer(lisafs::kMaxMessageSize);
      uint64_t tag = 1;
      for (int round = 0; round < 40; ++round) {
        const std::string name = "f" + std::to_string((c + round) % 8);
        auto walked = RoundTrip<lisafs::WalkResp>(
            channel, lisafs::WalkReq{root, {name}}, tag++, buffer);
        if (!walked || walked->inodes.size() != 1) {
          ++failures;
          return;
        }
        const FdId fd = walked->inodes[0].control_fd;
        auto open = RoundTrip<lisafs::OpenAtResp>(
            channel, lisafs::OpenAtReq{fd, O_RDONLY}, tag++, buffer);
        auto read = open ? RoundTrip<lisafs::PReadResp>(
                               channel,
                               lisafs::PReadReq{open->open_fd, 0, 4096},
                               tag++, buffer)
                         : std::nullopt;
        if (!read || read->data.size() != 4096) ++failures;
        std::vector<FdId> close = {fd};
        if (open) close.push_back(open->open_fd);
        if (!RoundTrip<lisafs::CloseResp>(channel, lisafs::CloseReq{close},
                                          tag++, buffer)) {
          ++failures;
        }
      }
    });
  }
  // The main channel works at the same time.
  for (int round = 0; round < 40; ++round) {
    EXPECT_EQ(ops().ReadPath({"f0"}).value_or("").size(), 4096u);
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  opened.clear();
}

// The reported hang: 8 unread 1 MiB PReads fill the client's queue, then
// an FStat carries the client's own socket end, then the client closes
// it. The gofer must notice (send timeout) and end the connection instead
// of blocking forever.
TEST_P(GoferLoadEscapeTest, SelfReferencingSocketDoesNotHangTheGofer) {
  WriteFile(scratch_.InRoot("big"), std::string(1 << 20, 'x'));
  GoferProcess::Options options;
  options.confinement = GetParam();
  options.send_timeout = std::chrono::seconds(1);
  gofer_ = std::make_unique<GoferProcess>(scratch_.root(), options);
  std::optional<lisafs::Channel> channel(gofer_->Fork());
  std::vector<uint8_t> buffer(lisafs::kMaxMessageSize);
  auto mount =
      RoundTrip<lisafs::MountResp>(*channel, lisafs::MountReq{}, 1, buffer);
  ASSERT_TRUE(mount.has_value());
  auto walked = RoundTrip<lisafs::WalkResp>(
      *channel, lisafs::WalkReq{mount->root.control_fd, {"big"}}, 2, buffer);
  ASSERT_TRUE(walked && walked->inodes.size() == 1);
  auto open = RoundTrip<lisafs::OpenAtResp>(
      *channel, lisafs::OpenAtReq{walked->inodes[0].control_fd, O_RDONLY}, 3,
      buffer);
  ASSERT_TRUE(open.has_value());
  for (uint64_t tag = 10; tag < 18; ++tag) {
    ASSERT_TRUE(channel->Send(
        VEIL_MUST(lisafs::Encode(
            lisafs::PReadReq{open->open_fd, 0, 1 << 20}, tag)),
        {}));
  }
  const int self = channel->fd();
  ASSERT_TRUE(channel->Send(
      VEIL_MUST(lisafs::Encode(lisafs::FStatReq{mount->root.control_fd}, 20)),
      std::span<const int>(&self, 1)));
  channel.reset();  // Our only descriptor of it: now only in flight.

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const pid_t pid = gofer_->pid();
  int status = 0;
  pid_t reaped = 0;
  while ((reaped = ::waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (reaped == 0) {
    ::kill(pid, SIGKILL);  // Do not leave it hanging for the harness.
    ADD_FAILURE() << "the gofer still blocks 20 s after the client left";
  } else {
    EXPECT_FALSE(WIFSIGNALED(status)) << GoferProcess::Describe(status);
  }
  // It dropped the connection (an error exit); it was not killed.
  expect_clean_exit_ = false;
  gofer_->Stop();
}

INSTANTIATE_TEST_SUITE_P(Confinement, GoferLoadEscapeTest,
                         ::testing::Values(Confinement::kFull,
                                           Confinement::kNone),
                         ConfinementName);

}  // namespace
}  // namespace veil::gofer::testing
