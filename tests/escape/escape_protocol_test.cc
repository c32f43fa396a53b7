// SPDX-License-Identifier: Apache-2.0
//
// Escapes through the protocol: ".." and '/' in names (on the wire and at
// the syscall level), malformed messages, descriptors smuggled into
// requests, forged FDIDs. The gofer must answer, survive and touch nothing
// outside its export.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "base/logging.h"
#include "gofer/server/host_backend.h"
#include "gofer/server/host_node.h"
#include "lisafs/codec.h"
#include "tests/escape/escape_fixture.h"

namespace veil::gofer::testing {
namespace {

using lisafs::Decoded;
using lisafs::FdId;
using lisafs::MessageId;
using lisafs::Response;
using lisafs::Writer;

// A hostile client speaking raw datagrams to the gofer.
class RawPeer {
 public:
  explicit RawPeer(lisafs::Channel channel) : channel_(std::move(channel)) {}

  // False (and a test failure) if the gofer is gone.
  bool Send(const std::vector<uint8_t>& bytes, std::span<const int> fds = {}) {
    Result<void> sent = channel_.Send(bytes, fds);
    EXPECT_TRUE(sent.has_value()) << ErrnoOf(sent);
    return sent.has_value();
  }
  // The next reply; descriptors that come with it are closed.
  Result<Decoded<Response>> Receive() {
    lisafs::Channel::Received got = VEIL_TRY(channel_.Recv(buffer_));
    return lisafs::DecodeResponse(
        std::span<const uint8_t>(buffer_.data(), got.size), got.fds.size());
  }
  // The errno of the reply to `tag` (0 if it succeeded).
  int Errno(uint64_t tag) {
    auto reply = Receive();
    EXPECT_TRUE(reply.has_value()) << ErrnoOf(reply);
    if (!reply) return -1;
    EXPECT_EQ(reply->header.tag, tag);
    if (auto* error = std::get_if<lisafs::ErrorResp>(&reply->message)) {
      return static_cast<int>(error->error);
    }
    return 0;
  }

 private:
  lisafs::Channel channel_;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(lisafs::kMaxMessageSize);
};

// A frame with a valid header around raw bytes written by `fill`.
template <typename F>
std::vector<uint8_t> Frame(MessageId id, uint64_t tag, F&& fill) {
  std::vector<uint8_t> frame(lisafs::kHeaderSize, 0);
  Writer writer(&frame);
  fill(writer);
  return VEIL_MUST(lisafs::internal::SealFrame(id, tag, std::move(frame)));
}

// A string on the wire with no checking at all (u32 length, bytes).
void RawString(Writer& w, const std::string& s) {
  w.Num(static_cast<uint32_t>(s.size()));
  for (char c : s) w.Num(static_cast<uint8_t>(c));
}

class GoferProtocolEscapeTest : public GoferEscapeTest {
 protected:
  void TearDown() override {
    peer_.reset();  // Hang up first, or the gofer would wait for us.
    GoferEscapeTest::TearDown();
  }

  // Starts the gofer on a raw channel and mounts; returns the root FDID.
  FdId StartRaw() {
    GoferProcess::Options options;
    options.confinement = GetParam();
    gofer_ = std::make_unique<GoferProcess>(scratch_.root(), options);
    peer_.emplace(gofer_->Fork());
    EXPECT_TRUE(peer_->Send(VEIL_MUST(lisafs::Encode(lisafs::MountReq{}, 1))));
    auto reply = peer_->Receive();
    EXPECT_TRUE(reply.has_value());
    auto* mount =
        reply ? std::get_if<lisafs::MountResp>(&reply->message) : nullptr;
    EXPECT_NE(mount, nullptr);
    return mount ? mount->root.control_fd : lisafs::kNoFdId;
  }

  // Walks `name` and reads it through the gofer: proof it still serves.
  std::string ReadThrough(FdId root, const std::string& name) {
    peer_->Send(VEIL_MUST(lisafs::Encode(lisafs::WalkReq{root, {name}}, 50)));
    auto walked = peer_->Receive();
    auto* walk =
        walked ? std::get_if<lisafs::WalkResp>(&walked->message) : nullptr;
    if (walk == nullptr || walk->inodes.size() != 1) return "<walk failed>";
    peer_->Send(VEIL_MUST(lisafs::Encode(
        lisafs::OpenAtReq{walk->inodes[0].control_fd, O_RDONLY}, 51)));
    auto opened = peer_->Receive();
    auto* open =
        opened ? std::get_if<lisafs::OpenAtResp>(&opened->message) : nullptr;
    if (open == nullptr) return "<open failed>";
    peer_->Send(VEIL_MUST(
        lisafs::Encode(lisafs::PReadReq{open->open_fd, 0, 4096}, 52)));
    auto read = peer_->Receive();
    auto* data =
        read ? std::get_if<lisafs::PReadResp>(&read->message) : nullptr;
    if (data == nullptr) return "<read failed>";
    return std::string(data->data.begin(), data->data.end());
  }

  std::optional<RawPeer> peer_;
};

TEST_P(GoferProtocolEscapeTest, DotDotPastRoot) {
  const FdId root = StartRaw();
  uint64_t tag = 100;
  const std::vector<std::string> evil = {
      "..",   ".",       "../outside",           "/",
      "/etc", "a/../..", std::string("x\0y", 3), ""};
  for (const std::string& name : evil) {
    // Walk {name, "outside", "canary"}.
    peer_->Send(Frame(MessageId::kWalk, ++tag, [&](Writer& w) {
      w.Fd(root);
      w.Num(uint32_t{3});
      RawString(w, name);
      RawString(w, "outside");
      RawString(w, "canary");
    }));
    EXPECT_EQ(peer_->Errno(tag), EINVAL) << "walk " << name;
    // MkdirAt, SymlinkAt and RenameAt with the name.
    peer_->Send(Frame(MessageId::kMkdirAt, ++tag, [&](Writer& w) {
      w.Fd(root);
      RawString(w, name);
      w.Num(uint32_t{0755});
      w.Num(lisafs::kNoId);
      w.Num(lisafs::kNoId);
    }));
    EXPECT_EQ(peer_->Errno(tag), EINVAL) << "mkdir " << name;
    peer_->Send(Frame(MessageId::kRenameAt, ++tag, [&](Writer& w) {
      w.Fd(root);
      RawString(w, "inside.txt");
      w.Fd(root);
      RawString(w, name + "/escaped");
      w.Num(uint32_t{0});
    }));
    EXPECT_EQ(peer_->Errno(tag), EINVAL) << "rename " << name;
    peer_->Send(Frame(MessageId::kOpenCreateAt, ++tag, [&](Writer& w) {
      w.Fd(root);
      RawString(w, name.empty() ? "../planted" : name + "/../planted");
      w.Num(uint32_t{0644});
      w.Num(lisafs::kNoId);
      w.Num(lisafs::kNoId);
      w.Num(uint32_t{O_RDWR});
    }));
    EXPECT_EQ(peer_->Errno(tag), EINVAL) << "create " << name;
  }
  // Flags a client may not choose: creation, O_PATH, following symlinks.
  for (uint32_t flags : {uint32_t{O_RDONLY | O_CREAT}, uint32_t{O_PATH},
                         uint32_t{O_RDWR | O_NOFOLLOW}, uint32_t{O_ACCMODE}}) {
    peer_->Send(Frame(MessageId::kOpenAt, ++tag, [&](Writer& w) {
      w.Fd(root);
      w.Num(flags);
    }));
    EXPECT_EQ(peer_->Errno(tag), EINVAL) << "flags " << flags;
  }
  EXPECT_EQ(ReadThrough(root, "inside.txt"), "inside");
}

// Bypassing the codec entirely: the backend re-checks names, and the
// kernel's RESOLVE_BENEATH stops ".." even from a subdirectory.
TEST(GoferSyscallEscapeTest, DotDotPastRootAtTheSyscallLevel) {
  Scratch scratch;
  WriteFile(scratch.outside() + "/canary", "CANARY");
  std::filesystem::create_directory(scratch.InRoot("sub"));
  UniqueFd root(::open(scratch.root().c_str(), O_PATH | O_DIRECTORY));
  UniqueFd sub(::open(scratch.InRoot("sub").c_str(), O_PATH | O_DIRECTORY));
  for (int dir : {root.get(), sub.get()}) {
    for (const char* path :
         {"..", "../..", "../outside/canary", "/", "./../../outside"}) {
      EXPECT_EQ(ErrnoOf(OpenBeneath(dir, path, O_PATH)), EXDEV) << path;
      EXPECT_EQ(ErrnoOf(OpenBeneath(dir, path, O_RDONLY)), EXDEV) << path;
    }
  }
  auto backend = VEIL_MUST(HostBackend::Create(std::move(root), {}));
  lisafs::NewNode mounted = VEIL_MUST(backend->Mount());
  auto walked = backend->Walk(*mounted.fd,
                              lisafs::WalkReq{1, {"..", "outside", "canary"}});
  EXPECT_EQ(ErrnoOf(walked), EINVAL);
  EXPECT_EQ(ErrnoOf(backend->SymlinkAt(
                *mounted.fd, lisafs::SymlinkAtReq{1, "../x", "t", lisafs::kNoId,
                                                  lisafs::kNoId})),
            EINVAL);
  EXPECT_FALSE(std::filesystem::exists(scratch.base() + "/x"));
}

TEST_P(GoferProtocolEscapeTest, MalformedMessagesAndFds) {
  expect_clean_exit_ = false;  // The junk datagram at the end breaks it.
  // Thousands of refused requests would each log a line in the child.
  const LogLevel level = CurrentLogLevel();
  SetLogLevel(LogLevel::kError);
  const FdId root = StartRaw();
  SetLogLevel(level);
  uint64_t tag = 1000;
  // Descriptors smuggled into requests (an outside directory, the canary
  // opened for writing) are closed unread and the request refused.
  UniqueFd outside_dir(
      ::open(scratch_.outside().c_str(), O_PATH | O_DIRECTORY));
  UniqueFd canary(::open(Outside("canary").c_str(), O_RDWR));
  const int smuggled[] = {outside_dir.get(), canary.get()};
  for (const auto& request :
       {VEIL_MUST(lisafs::Encode(lisafs::WalkReq{root, {"canary"}}, 0)),
        VEIL_MUST(lisafs::Encode(lisafs::OpenAtReq{root, O_RDONLY}, 0)),
        VEIL_MUST(
            lisafs::Encode(lisafs::MkdirAtReq{root, "viafd", 0755,
                                              lisafs::kNoId, lisafs::kNoId},
                           0))}) {
    std::vector<uint8_t> bytes = request;
    lisafs::internal::SetTag(bytes, ++tag);
    ASSERT_TRUE(peer_->Send(bytes, smuggled));
    EXPECT_EQ(peer_->Errno(tag), EINVAL);
  }
  // Forged FDIDs: never issued, huge, zero.
  for (FdId forged : {FdId{77}, FdId{1} << 62, ~FdId{0}}) {
    peer_->Send(
        VEIL_MUST(lisafs::Encode(lisafs::WalkReq{forged, {"x"}}, ++tag)));
    EXPECT_EQ(peer_->Errno(tag), EBADF);
    peer_->Send(
        VEIL_MUST(lisafs::Encode(lisafs::PReadReq{forged, 0, 100}, ++tag)));
    EXPECT_EQ(peer_->Errno(tag), EBADF);
  }
  peer_->Send(
      Frame(MessageId::kFStat, ++tag, [](Writer& w) { w.Num(uint64_t{0}); }));
  EXPECT_EQ(peer_->Errno(tag), EBADF);

  // Random payloads behind valid headers, for every id and beyond. Each
  // gets exactly one reply. Close is left out so the root FDID survives.
  std::mt19937 random(12345);
  for (int i = 0; i < 3000; ++i) {
    const auto id = static_cast<MessageId>(random() % 34);
    if (id == MessageId::kClose) continue;
    std::vector<uint8_t> payload(random() % 80);
    for (uint8_t& byte : payload) byte = static_cast<uint8_t>(random());
    // Sometimes start with the root FDID so decoding gets further.
    if (payload.size() >= 8 && random() % 2 == 0) {
      for (int b = 0; b < 8; ++b)
        payload[b] = static_cast<uint8_t>(root >> (8 * b));
    }
    ++tag;
    ASSERT_TRUE(peer_->Send(Frame(id, tag, [&](Writer& w) {
      for (uint8_t byte : payload) w.Num(byte);
    })));
    auto reply = peer_->Receive();
    ASSERT_TRUE(reply.has_value()) << "no reply to garbage #" << i;
    EXPECT_EQ(reply->header.tag, tag);
  }
  EXPECT_EQ(ReadThrough(root, "inside.txt"), "inside");

  // A datagram without a readable header ends the connection: the gofer
  // exits (status 1: the connection broke), it does not crash.
  const std::vector<uint8_t> junk = {1, 2, 3};
  ASSERT_TRUE(peer_->Send(junk));
  EXPECT_FALSE(peer_->Receive().has_value());
  peer_.reset();
  const int status = gofer_->Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
      << GoferProcess::Describe(status);
}

INSTANTIATE_TEST_SUITE_P(Modes, GoferProtocolEscapeTest,
                         ::testing::Values(Confinement::kFull,
                                           Confinement::kNone),
                         ConfinementName);

}  // namespace
}  // namespace veil::gofer::testing
