// SPDX-License-Identifier: Apache-2.0
//
// A real Client talking to a real Server over a socketpair, with MemBackend
// behind it: dispatch, FDID handling, descriptor donation, concurrency.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lisafs/client.h"
#include "lisafs/server.h"
#include "tests/unit/lisafs/lisafs_test_util.h"
#include "tests/unit/lisafs/mem_backend.h"

namespace veil::lisafs {
namespace {

using testing::ErrnoOf;
using testing::MemBackend;

// Parameter: ServerOptions::workers_per_channel.
class LisafsClientServerTest : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    backend_.AddFile("file", "hello world");
    backend_.AddFile("slow", "");
    auto pair = VEIL_MUST(Channel::CreatePair());
    ServerOptions options;
    options.workers_per_channel = GetParam();
    server_ = std::make_unique<Server>(backend_, options);
    serve_thread_ =
        std::thread([this, channel = std::move(pair.second)]() mutable {
          serve_result_ = server_->Serve(std::move(channel));
        });
    auto client = Client::Create(std::move(pair.first));
    ASSERT_TRUE(client.has_value()) << ErrnoOf(client);
    client_ = std::move(*client);
  }

  void TearDown() override {
    client_.reset();  // Hangs up; Serve returns.
    serve_thread_.join();
    EXPECT_TRUE(serve_result_.has_value()) << ErrnoOf(serve_result_);
    // Every FDID of the connection was released.
    EXPECT_EQ(backend_.live_fds(), 0);
  }

  FdId Root() const { return client_->root().control_fd; }

  FdId WalkOne(const std::string& name) {
    auto walked = client_->Call(WalkReq{Root(), {name}});
    EXPECT_TRUE(walked.has_value()) << ErrnoOf(walked);
    if (!walked || walked->message.inodes.size() != 1) return kNoFdId;
    return walked->message.inodes[0].control_fd;
  }

  FdId Open(FdId fd, uint32_t flags) {
    auto opened = client_->Call(OpenAtReq{fd, flags});
    EXPECT_TRUE(opened.has_value()) << ErrnoOf(opened);
    return opened ? opened->message.open_fd : kNoFdId;
  }

  MemBackend backend_;  // Declared first: outlives the server and its FDs.
  std::unique_ptr<Server> server_;
  std::thread serve_thread_;
  Result<void> serve_result_;
  std::unique_ptr<Client> client_;
};

TEST_P(LisafsClientServerTest, MountReturnsTheRoot) {
  EXPECT_NE(Root(), kNoFdId);
  EXPECT_EQ(client_->root().stat.mode & S_IFMT, S_IFDIR);
  EXPECT_EQ(client_->supported().size(), size_t{kMaxMessageIdValue});
  EXPECT_GT(client_->max_io_size(), kMinMessageSize / 2);
  EXPECT_LE(client_->max_io_size(), kMaxIoSize);
  // A second Mount on the same connection is refused.
  EXPECT_EQ(ErrnoOf(client_->Call(MountReq{})), EBUSY);
}

TEST_P(LisafsClientServerTest, WalkReportsHowFarItGot) {
  auto walked = client_->Call(WalkReq{Root(), {"file"}});
  ASSERT_TRUE(walked.has_value());
  EXPECT_EQ(walked->message.status, WalkStatus::kSuccess);
  ASSERT_EQ(walked->message.inodes.size(), 1u);
  EXPECT_EQ(walked->message.inodes[0].stat.size, 11u);

  walked = client_->Call(WalkReq{Root(), {"missing", "deeper"}});
  ASSERT_TRUE(walked.has_value());
  EXPECT_EQ(walked->message.status, WalkStatus::kComponentMissing);
  EXPECT_TRUE(walked->message.inodes.empty());

  backend_.AddSymlink("link");
  walked = client_->Call(WalkReq{Root(), {"link", "beyond"}});
  ASSERT_TRUE(walked.has_value());
  EXPECT_EQ(walked->message.status, WalkStatus::kComponentSymlink);
  EXPECT_EQ(walked->message.inodes.size(), 1u);

  // Walking through a file is the backend's ENOTDIR.
  EXPECT_EQ(ErrnoOf(client_->Call(WalkReq{Root(), {"file", "x"}})), ENOTDIR);
}

TEST_P(LisafsClientServerTest, BadFdIdsAreEbadf) {
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{999'999})), EBADF);
  const FdId file = WalkOne("file");
  // I/O on a control FDID, like read(2) on an O_PATH descriptor.
  EXPECT_EQ(ErrnoOf(client_->Call(PReadReq{file, 0, 10})), EBADF);
  const FdId open = Open(file, O_RDONLY);
  // Lookups from an open FDID.
  EXPECT_EQ(ErrnoOf(client_->Call(WalkReq{open, {"x"}})), EBADF);
  // Both kinds can be stat'ed.
  EXPECT_TRUE(client_->Call(FStatReq{file}).has_value());
  EXPECT_TRUE(client_->Call(FStatReq{open}).has_value());
  // Closed FDIDs are gone, and closing them again is EBADF.
  EXPECT_TRUE(client_->Call(CloseReq{{open}}).has_value());
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{open})), EBADF);
  EXPECT_EQ(ErrnoOf(client_->Call(CloseReq{{open, file}})), EBADF);
  EXPECT_EQ(ErrnoOf(client_->Call(FStatReq{file})), EBADF);  // Closed too.
}

TEST_P(LisafsClientServerTest, CreateWriteReadBack) {
  auto created =
      client_->Call(OpenCreateAtReq{Root(), "new", 0600, kNoId, kNoId, O_RDWR});
  ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
  const FdId open = created->message.open_fd;
  EXPECT_EQ(created->message.child.stat.mode, S_IFREG | 0600);
  EXPECT_EQ(ErrnoOf(client_->Call(
                OpenCreateAtReq{Root(), "new", 0600, kNoId, kNoId, O_RDWR})),
            EEXIST);

  std::vector<uint8_t> data(client_->max_io_size(), 0x5a);
  auto wrote = client_->Call(PWriteReq{open, 10, data});
  ASSERT_TRUE(wrote.has_value()) << ErrnoOf(wrote);
  EXPECT_EQ(wrote->message.count, data.size());

  auto read = client_->Call(PReadReq{open, 10, uint32_t(data.size())});
  ASSERT_TRUE(read.has_value()) << ErrnoOf(read);
  EXPECT_EQ(read->message.data, data);
  read = client_->Call(PReadReq{open, 0, 4});
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->message.data, std::vector<uint8_t>(4, 0));

  EXPECT_TRUE(client_->Call(FlushReq{open}).has_value());  // Default: Ok.
  EXPECT_TRUE(client_->Call(CloseReq{{open}}).has_value());
}

TEST_P(LisafsClientServerTest, DonatedHostFdReadsTheFile) {
  backend_.set_donate(true);
  auto opened = client_->Call(OpenAtReq{WalkOne("file"), O_RDONLY});
  ASSERT_TRUE(opened.has_value());
  ASSERT_TRUE(opened->fd.valid());
  EXPECT_NE(::fcntl(opened->fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  char buffer[32] = {};
  EXPECT_EQ(::pread(opened->fd.get(), buffer, sizeof(buffer), 0), 11);
  EXPECT_STREQ(buffer, "hello world");
}

TEST_P(LisafsClientServerTest, UnimplementedIsEopnotsupp) {
  const FdId open = Open(WalkOne("file"), O_RDWR);
  EXPECT_EQ(ErrnoOf(client_->Call(FAllocateReq{open, 0, 0, 10})), EOPNOTSUPP);
  EXPECT_EQ(ErrnoOf(client_->Call(FGetXattrReq{Root(), "user.x", 0})),
            EOPNOTSUPP);
}

TEST_P(LisafsClientServerTest, Getdents64ListsEntriesOnce) {
  ASSERT_TRUE(client_->Call(MkdirAtReq{Root(), "sub", 0755, 0, 0}).has_value());
  const FdId dir = Open(Root(), O_RDONLY | O_DIRECTORY);
  std::vector<std::string> names;
  while (true) {
    // A budget that fits one or two records, to exercise continuation.
    auto listed = client_->Call(Getdents64Req{dir, 48});
    ASSERT_TRUE(listed.has_value()) << ErrnoOf(listed);
    if (listed->message.dirents.empty()) break;
    for (const Dirent64& d : listed->message.dirents) names.push_back(d.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"file", "slow", "sub"}));
}

TEST_P(LisafsClientServerTest, ManyThreadsInFlight) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      const std::string name = "t" + std::to_string(t);
      auto created = client_->Call(
          OpenCreateAtReq{Root(), name, 0644, kNoId, kNoId, O_RDWR});
      ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
      const FdId open = created->message.open_fd;
      for (int i = 0; i < kRounds; ++i) {
        std::vector<uint8_t> data(1 + (t * 31 + i) % 200,
                                  static_cast<uint8_t>(t * 16 + i));
        auto wrote = client_->Call(PWriteReq{open, 0, data});
        ASSERT_TRUE(wrote.has_value()) << ErrnoOf(wrote);
        auto read = client_->Call(PReadReq{open, 0, uint32_t(data.size())});
        ASSERT_TRUE(read.has_value()) << ErrnoOf(read);
        ASSERT_EQ(read->message.data, data);
        ASSERT_TRUE(client_->Call(FStatReq{Root()}).has_value());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

// With several workers a slow request does not hold up a fast one: replies
// come back out of order and the client routes them by tag.
TEST_P(LisafsClientServerTest, SlowRequestDoesNotBlockOthers) {
  if (GetParam() < 2) GTEST_SKIP() << "requests are serial with one worker";
  const FdId slow = WalkOne("slow");
  Result<Reply<FStatResp>> slow_result = Errno(EINPROGRESS);
  std::thread waiter([&] { slow_result = client_->Call(FStatReq{slow}); });
  while (backend_.gate_waiters() == 0) ::usleep(1000);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(client_->Call(FStatReq{Root()}).has_value());
  }
  EXPECT_EQ(ErrnoOf(slow_result), EINPROGRESS);  // Still waiting.
  backend_.OpenGate();
  waiter.join();
  EXPECT_TRUE(slow_result.has_value()) << ErrnoOf(slow_result);
}

TEST_P(LisafsClientServerTest, ExtraChannelSharesTheFdTable) {
  auto reply = client_->Call(ChannelReq{});
  ASSERT_TRUE(reply.has_value()) << ErrnoOf(reply);
  auto extra = Channel::Adopt(std::move(reply->fd));
  ASSERT_TRUE(extra.has_value()) << ErrnoOf(extra);
  // The root FDID from the main channel is valid on the new one.
  auto request = VEIL_MUST(Encode(FStatReq{Root()}, 77));
  ASSERT_TRUE(extra->Send(request, {}).has_value());
  std::vector<uint8_t> buffer(kMaxMessageSize);
  auto got = extra->Recv(buffer);
  ASSERT_TRUE(got.has_value());
  auto decoded = DecodeResponse(
      std::span<const uint8_t>(buffer.data(), got->size), got->fds.size());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->header.tag, 77u);
  ASSERT_TRUE(std::holds_alternative<FStatResp>(decoded->message));
  EXPECT_EQ(std::get<FStatResp>(decoded->message).stat.mode & S_IFMT, S_IFDIR);
  // Closing the main connection ends the extra channel too.
  client_.reset();
  serve_thread_.join();
  serve_thread_ = std::thread([] {});
  EXPECT_EQ(ErrnoOf(extra->Recv(buffer)), ECONNRESET);
}

INSTANTIATE_TEST_SUITE_P(Serial, LisafsClientServerTest,
                         ::testing::Values(size_t{1}));
INSTANTIATE_TEST_SUITE_P(Pooled, LisafsClientServerTest,
                         ::testing::Values(size_t{4}));

}  // namespace
}  // namespace veil::lisafs
