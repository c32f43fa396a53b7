// SPDX-License-Identifier: Apache-2.0
#include "lisafs/channel.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <thread>
#include <vector>

#include "lisafs/types.h"
#include "tests/unit/lisafs/lisafs_test_util.h"

namespace veil::lisafs {
namespace {

using testing::ErrnoOf;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe MakePipe() {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// True once every write end of `pipe` is closed: a read sees end-of-file.
bool WriteEndsClosed(const Pipe& pipe) {
  char c;
  return ::read(pipe.read.get(), &c, 1) == 0;
}

std::pair<Channel, Channel> MakePair() {
  auto pair = Channel::CreatePair();
  EXPECT_TRUE(pair.has_value());
  return std::move(*pair);
}

TEST(LisafsChannelTest, SendsWholeMessages) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  const std::vector<uint8_t> first = {1, 2, 3};
  const std::vector<uint8_t> second(1000, 7);
  ASSERT_TRUE(a.Send(first, {}).has_value());
  ASSERT_TRUE(a.Send(second, {}).has_value());
  std::vector<uint8_t> buffer(4096);
  auto got = b.Recv(buffer);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size, first.size());
  EXPECT_TRUE(got->fds.empty());
  EXPECT_EQ(0, std::memcmp(buffer.data(), first.data(), first.size()));
  got = b.Recv(buffer);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size, second.size());
}

TEST(LisafsChannelTest, PassesDescriptorsCloseOnExec) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  Pipe pipe = MakePipe();
  const int fd = pipe.write.get();
  const std::vector<uint8_t> msg = {42};
  ASSERT_TRUE(a.Send(msg, std::span<const int>(&fd, 1)).has_value());
  pipe.write.reset();  // Only the copy in flight remains.

  std::vector<uint8_t> buffer(16);
  auto got = b.Recv(buffer);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->fds.size(), 1u);
  const int received = got->fds[0].get();
  EXPECT_NE(::fcntl(received, F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_EQ(::write(received, "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(pipe.read.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  got->fds.clear();
  EXPECT_TRUE(WriteEndsClosed(pipe));
}

TEST(LisafsChannelTest, TruncatedMessageFailsAndClosesItsDescriptors) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  Pipe pipe = MakePipe();
  const int fd = pipe.write.get();
  const std::vector<uint8_t> msg(100, 1);
  ASSERT_TRUE(a.Send(msg, std::span<const int>(&fd, 1)).has_value());
  pipe.write.reset();
  std::vector<uint8_t> small(10);
  EXPECT_EQ(ErrnoOf(b.Recv(small)), EMSGSIZE);
  EXPECT_TRUE(WriteEndsClosed(pipe));
  // The channel stays usable: the rest of that datagram is gone.
  ASSERT_TRUE(a.Send(std::vector<uint8_t>{9}, {}).has_value());
  auto got = b.Recv(small);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size, 1u);
}

TEST(LisafsChannelTest, TooManyDescriptorsFailAndAreClosed) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  Pipe pipe = MakePipe();
  // Send() refuses this many, so use sendmsg directly, as a hostile peer
  // would.
  constexpr size_t kCount = kMaxFdsPerMessage + 4;
  std::array<int, kCount> fds;
  fds.fill(pipe.write.get());
  char byte = 1;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kCount)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * kCount);
  std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * kCount);
  ASSERT_EQ(::sendmsg(a.fd(), &msg, 0), 1);
  pipe.write.reset();

  std::vector<uint8_t> buffer(16);
  EXPECT_EQ(ErrnoOf(b.Recv(buffer)), EPROTO);
  EXPECT_TRUE(WriteEndsClosed(pipe));
}

TEST(LisafsChannelTest, SendRefusesWhatCannotBeSent) {
  auto channels = MakePair();
  Channel& a = channels.first;
  EXPECT_EQ(ErrnoOf(a.Send({}, {})), EINVAL);
  std::array<int, kMaxFdsPerMessage + 1> fds;
  fds.fill(0);
  EXPECT_EQ(ErrnoOf(a.Send(std::vector<uint8_t>{1}, fds)), EINVAL);
  std::vector<uint8_t> huge(a.max_send_size() + 1);
  EXPECT_EQ(ErrnoOf(a.Send(huge, {})), EMSGSIZE);
}

TEST(LisafsChannelTest, LargestMessageFits) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  EXPECT_GE(a.max_send_size(), kMinMessageSize);
  EXPECT_LE(a.max_send_size(), kMaxMessageSize);
  std::vector<uint8_t> big(a.max_send_size(), 0xab);
  ASSERT_TRUE(a.Send(big, {}).has_value());
  std::vector<uint8_t> buffer(kMaxMessageSize);
  auto got = b.Recv(buffer);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size, big.size());
}

TEST(LisafsChannelTest, PeerCloseIsEconnresetAndNoSigpipe) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  { Channel gone = std::move(b); }
  std::vector<uint8_t> buffer(16);
  EXPECT_EQ(ErrnoOf(a.Recv(buffer)), ECONNRESET);
  // Without MSG_NOSIGNAL this would kill the test with SIGPIPE.
  EXPECT_EQ(ErrnoOf(a.Send(std::vector<uint8_t>{1}, {})), EPIPE);
}

TEST(LisafsChannelTest, ShutdownWakesBlockedRecv) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  int error = 0;
  std::thread reader([&a, &error] {
    std::vector<uint8_t> buffer(16);
    error = ErrnoOf(a.Recv(buffer));
  });
  ::usleep(10'000);
  a.Shutdown();
  reader.join();
  EXPECT_EQ(error, ECONNRESET);
  std::vector<uint8_t> buffer(16);
  EXPECT_EQ(ErrnoOf(b.Recv(buffer)), ECONNRESET);  // The peer sees EOF.
}

TEST(LisafsChannelTest, ConcurrentSendersNeverInterleave) {
  auto channels = MakePair();
  Channel& a = channels.first;
  Channel& b = channels.second;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&a, t] {
      std::vector<uint8_t> msg(3000 + t, static_cast<uint8_t>(t));
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(a.Send(msg, {}).has_value());
      }
    });
  }
  std::vector<uint8_t> buffer(8192);
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    auto got = b.Recv(buffer);
    ASSERT_TRUE(got.has_value());
    const uint8_t t = buffer[0];
    ASSERT_EQ(got->size, 3000u + t);
    for (size_t j = 0; j < got->size; ++j) ASSERT_EQ(buffer[j], t);
  }
  for (auto& s : senders) s.join();
}

TEST(LisafsChannelTest, AdoptChecksTheSocketType) {
  int stream[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stream), 0);
  UniqueFd other(stream[1]);
  EXPECT_EQ(ErrnoOf(Channel::Adopt(UniqueFd(stream[0]))), EPROTOTYPE);
  Pipe pipe = MakePipe();
  EXPECT_EQ(ErrnoOf(Channel::Adopt(std::move(pipe.read))), ENOTSOCK);
  int seq[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, seq), 0);
  UniqueFd peer(seq[1]);
  EXPECT_TRUE(Channel::Adopt(UniqueFd(seq[0])).has_value());
}

}  // namespace
}  // namespace veil::lisafs
