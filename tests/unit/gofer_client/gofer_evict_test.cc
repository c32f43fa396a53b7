// SPDX-License-Identifier: Apache-2.0
//
// GoferFs under a small dentry cache: evicted names release their inodes
// and FDIDs, in batched Close requests (counted as the server receives
// them), and come back with the same answers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/unit/gofer_client/served_fs.h"
#include "tests/unit/lisafs/mem_backend.h"

namespace veil::gofer::testing {
namespace {

using lisafs::testing::MemBackend;

constexpr int kFiles = 600;
constexpr size_t kBudget = 16;

class GoferEvictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kFiles; ++i)
      backend_.AddFile(Name(i), "data " + std::to_string(i));
    served_ = std::make_unique<ServedFs>(backend_, GoferFsOptions{},
                                         Tap::kCountRequests);
    ASSERT_TRUE(served_->ok());
    served_->fs().SetDentryCacheBudget(kBudget);
  }
  void TearDown() override { served_.reset(); }

  static std::string Name(int i) { return "file-" + std::to_string(i); }
  vfs::Vfs& vfs() { return served_->vfs(); }
  vfs::Context ctx() { return served_->Root(); }
  Result<vfs::Attr> Stat(int i) {
    return vfs().StatAt(ctx(), ctx().cwd, "/" + Name(i), AT_SYMLINK_NOFOLLOW);
  }

  MemBackend backend_;
  std::unique_ptr<ServedFs> served_;
};

TEST_F(GoferEvictTest, EvictedInodesReleaseTheirFdidsInBatches) {
  const int fds_before = backend_.live_fds();
  for (int i = 0; i < kFiles; ++i) ASSERT_TRUE(Stat(i).has_value()) << i;
  EXPECT_LE(served_->fs().CachedDentries(), kBudget);
  // Every inode but the cached names' (and the root) is gone...
  EXPECT_LE(served_->fs().LiveInodesForTesting(), kBudget + 1);
  served_->fs().FlushReleasedFds();
  // ... and so are their FDIDs on the server.
  EXPECT_LE(backend_.live_fds(), fds_before + static_cast<int>(kBudget));
  // Nearly 600 FDIDs were closed, in a few Close requests rather than one
  // each (a batch waits up to FdReaper::kMaxDelay to fill, so a slow
  // machine sends more, smaller ones).
  const uint64_t closes = served_->RequestsSent(lisafs::MessageId::kClose);
  const uint64_t walks = served_->RequestsSent(lisafs::MessageId::kWalk);
  EXPECT_EQ(walks, static_cast<uint64_t>(kFiles));
  EXPECT_GE(closes, 1u);
  EXPECT_LE(closes * 8, static_cast<uint64_t>(kFiles - kBudget))
      << closes << " Close requests for " << kFiles - kBudget << " FDIDs";
}

TEST_F(GoferEvictTest, EvictedNamesComeBackWithTheSameAnswers) {
  auto first = Stat(0);
  ASSERT_TRUE(first.has_value());
  for (int i = 1; i < kFiles; ++i) ASSERT_TRUE(Stat(i).has_value());
  served_->fs().FlushReleasedFds();
  // Evicted: looked up again, a new inode with the same identity.
  const uint64_t walks = served_->RequestsSent(lisafs::MessageId::kWalk);
  auto again = Stat(0);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(served_->RequestsSent(lisafs::MessageId::kWalk), walks + 1);
  EXPECT_EQ(again->ino, first->ino);
  EXPECT_EQ(again->mode, first->mode);
  EXPECT_EQ(again->size, first->size);
  auto f = Open(vfs(), ctx(), "/" + Name(0), O_RDONLY);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(ReadAll(**f), "data 0");
}

TEST_F(GoferEvictTest, OpenFilesKeepTheirInodes) {
  auto f = Open(vfs(), ctx(), "/" + Name(7), O_RDONLY);
  ASSERT_TRUE(f.has_value());
  for (int i = 0; i < kFiles; ++i) ASSERT_TRUE(Stat(i).has_value());
  // Still the same inode: looking it up again needs no Walk.
  const uint64_t walks = served_->RequestsSent(lisafs::MessageId::kWalk);
  auto st = Stat(7);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(served_->RequestsSent(lisafs::MessageId::kWalk), walks);
  EXPECT_EQ(ReadAll(**f), "data 7");
}

}  // namespace
}  // namespace veil::gofer::testing
