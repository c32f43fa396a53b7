// SPDX-License-Identifier: Apache-2.0
//
// Attacks on what the gofer holds for a client (issue #10, item 14): a
// chain of directories as deep as the client likes, built over raw LISAFS
// at O(1) requests per level (mkdir, then rename the previous level into
// it). Once the descriptor budget has closed the ancestors, FStat of the
// deepest FDID used to reopen them by recursion (a crash at ~60,000
// levels), and one FDID pinned the whole chain in memory. The gofer must
// answer, stay up, and cap what one FDID can pin (ENFILE past it).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/escape/escape_fixture.h"

namespace veil::gofer::testing {
namespace {

class GoferDeepChainTest : public GoferEscapeTest {
 protected:
  // The chain lives on a tmpfs mounted on the export (not below it): made
  // and thrown away in memory, without 60,000 directories' worth of disk.
  void Populate() override {
    mounted_ =
        ::mount("tmpfs", scratch_.root().c_str(), "tmpfs", 0, "mode=0755") == 0;
    ASSERT_TRUE(mounted_) << std::strerror(errno);
  }
  void TearDown() override {
    GoferEscapeTest::TearDown();
    if (mounted_) ::umount2(scratch_.root().c_str(), MNT_DETACH);
  }

  void StartWithBudget(size_t max_node_fds, size_t max_nodes) {
    GoferProcess::Options options;
    options.confinement = GetParam();
    options.max_node_fds = max_node_fds;
    options.max_nodes = max_nodes;
    gofer_ = std::make_unique<GoferProcess>(scratch_.root(), options);
    ASSERT_TRUE(gofer_->Start());
    ops_.emplace(gofer_->client());
  }

  // Builds `depth` nested directories: the first made is the deepest, and
  // each new one in the root takes the previous top as its "d". Only the
  // deepest level's FDID is kept (in *deepest); the error of the first
  // request that failed, if any, with the depth reached in *depth_reached.
  Result<void> BuildChain(size_t depth, lisafs::FdId* deepest,
                          size_t* depth_reached) {
    auto mkdir = [&](const char* name) -> Result<lisafs::FdId> {
      lisafs::MkdirAtReq req{Root(), name, 0755, lisafs::kNoId, lisafs::kNoId};
      return VEIL_TRY(ops().Call(req)).child.control_fd;
    };
    *deepest = VEIL_TRY(mkdir("a"));
    *depth_reached = 1;
    lisafs::FdId top = *deepest;
    const char* top_name = "a";
    std::vector<lisafs::FdId> done;
    Result<void> result = Ok();
    for (size_t i = 1; i < depth; ++i) {
      const char* name = i % 2 ? "b" : "a";
      Result<lisafs::FdId> made = mkdir(name);
      if (!made) {
        result = made.error();
        break;
      }
      lisafs::RenameAtReq move{Root(), top_name, *made, "d", 0};
      if (Result<lisafs::RenameAtResp> moved = ops().Call(move); !moved) {
        done.push_back(*made);
        result = moved.error();
        break;
      }
      // The levels above the deepest need no FDID: the chain pins them.
      if (top != *deepest) done.push_back(top);
      if (done.size() >= lisafs::kMaxBatchFds) {
        VEIL_TRY_VOID(ops().Close(std::move(done)));
        done.clear();
      }
      top = *made;
      top_name = name;
      *depth_reached = i + 1;
    }
    if (top != *deepest) done.push_back(top);
    if (!done.empty()) VEIL_TRY_VOID(ops().Close(std::move(done)));
    return result;
  }

  bool mounted_ = false;
};

// 60,000 levels, a budget of 64 node descriptors: FStat of the deepest
// reopens 60,000 closed ancestors (a stack overflow before the fix), and
// Close frees the chain; the gofer then serves on as before.
TEST_P(GoferDeepChainTest, DeepChainIsReopenedAndFreedIteratively) {
  constexpr size_t kDepth = 60000;
  StartWithBudget(/*max_node_fds=*/64, /*max_nodes=*/0);
  const auto start = std::chrono::steady_clock::now();
  lisafs::FdId deepest = lisafs::kNoFdId;
  size_t depth = 0;
  ASSERT_TRUE(BuildChain(kDepth, &deepest, &depth).has_value()) << depth;
  Result<lisafs::Statx> st = ops().Stat(deepest);
  ASSERT_TRUE(st.has_value()) << std::strerror(st.error().code());
  EXPECT_EQ(st->mode & S_IFMT, static_cast<uint32_t>(S_IFDIR));
  EXPECT_EQ(st->nlink, 2u);  // the deepest level is empty
  EXPECT_TRUE(ops().Close(deepest).has_value());
  // Still serving: a stat of the root and a new directory.
  EXPECT_TRUE(ops().Stat(Root()).has_value());
  lisafs::MkdirAtReq req{Root(), "after", 0755, lisafs::kNoId, lisafs::kNoId};
  EXPECT_TRUE(ops().Call(req).has_value());
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  RecordProperty("chain_ms", static_cast<int>(took.count()));
}

// A cap on the nodes the gofer holds bounds what one FDID can pin: the
// chain stops with ENFILE at the cap (the refused directory is not left
// behind), the gofer keeps serving, and closing the deepest FDID gives
// every node back.
TEST_P(GoferDeepChainTest, NodeCapBoundsWhatOneFdidPins) {
  constexpr size_t kMaxNodes = 2000;
  StartWithBudget(/*max_node_fds=*/64, kMaxNodes);
  lisafs::FdId deepest = lisafs::kNoFdId;
  size_t depth = 0;
  Result<void> built = BuildChain(10 * kMaxNodes, &deepest, &depth);
  ASSERT_FALSE(built.has_value());
  EXPECT_EQ(built.error().code(), ENFILE);
  EXPECT_LT(depth, kMaxNodes);
  EXPECT_GT(depth, kMaxNodes - 10);
  EXPECT_TRUE(ops().Stat(deepest).has_value());
  lisafs::MkdirAtReq req{Root(), "more", 0755, lisafs::kNoId, lisafs::kNoId};
  EXPECT_EQ(ErrnoOf(ops().Call(req)), ENFILE);
  EXPECT_TRUE(ops().Close(deepest).has_value());
  EXPECT_TRUE(ops().Call(req).has_value());  // the cap freed up
}

INSTANTIATE_TEST_SUITE_P(Modes, GoferDeepChainTest,
                         ::testing::Values(Confinement::kFull,
                                           Confinement::kNone),
                         ConfinementName);

}  // namespace
}  // namespace veil::gofer::testing
