// SPDX-License-Identifier: Apache-2.0
//
// The differential harness through LISAFS: the host's tmpfs against veil's
// VFS over GoferFs, whose files a real, confined `veil gofer` child serves
// from a scratch directory on the host's tmpfs. The gofer acts as root;
// the VFS makes every permission decision for the harness's users, and new
// files get the caller's fsuid/fsgid through the create messages.
//
// Each run executes kFixedSeeds plus one fresh seed printed in the log. To
// replay: VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n>
// difftest_gofer_test --gtest_filter='*Fresh*'. Needs root (the host
// reference chroots, the gofer confines itself); skips otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "lisafs/client.h"
#include "tests/difftest/gofer_policy.h"
#include "tests/difftest/host_backend.h"
#include "tests/difftest/runner.h"
#include "tests/difftest/seeds.h"
#include "tests/difftest/vfs_backend.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif

namespace veil::difftest {
namespace {

constexpr uint64_t kFixedSeeds[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
constexpr int kStepsPerSeed = 1000;

std::string Describe(const Errno& e) {
  std::string s = e.message() ? e.message() : "";
  return s + " (" + std::strerror(e.code()) + ")";
}

// A gofer serving a fresh scratch directory, and the VfsBackend over it.
class GoferSide {
 public:
  static Result<std::unique_ptr<GoferSide>> Create(
      size_t max_node_fds = 0,
      gofer::FileAccess access = gofer::FileAccess::kExclusive) {
    std::unique_ptr<GoferSide> side(new GoferSide());
    char tmpl[] = "/dev/shm/veil-difftest-gofer-XXXXXX";
    if (!mkdtemp(tmpl)) return Errno::FromErrno();
    side->dir_ = tmpl;
    // The harness's users are checked by the VFS, as a FUSE view's are by
    // the host kernel: the gofer applies every owner and mode as asked.
    gofer::GoferProcess gofer = VEIL_TRY(gofer::StartGofer(
        VEIL_BINARY, side->dir_, gofer::GoferAccess::kReadWrite,
        max_node_fds, gofer::GoferClient::kHostUsers));
    side->gofer_.emplace(std::move(gofer));
    auto channel = VEIL_TRY(lisafs::Channel::Adopt(side->gofer_->TakeSocket()));
    auto client = VEIL_TRY(lisafs::Client::Create(std::move(channel)));
    gofer::GoferFsOptions options;
    options.access = access;
    Ref<gofer::GoferFs> fs =
        VEIL_TRY(gofer::GoferFs::Create(std::move(client), options));
    side->backend_ = std::make_unique<VfsBackend>(fs, "veil-gofer");
    return side;
  }

  ~GoferSide() {
    backend_.reset();  // the VFS, GoferFs and the connection
    if (gofer_) {
      Result<int> status = gofer_->Stop(std::chrono::seconds(5));
      EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "the gofer did not exit cleanly";
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  VfsBackend& backend() { return *backend_; }

 private:
  GoferSide() = default;
  std::string dir_;
  std::optional<gofer::GoferProcess> gofer_;
  std::unique_ptr<VfsBackend> backend_;
};

void RunSeed(uint64_t seed, int steps, size_t max_node_fds = 0,
             gofer::FileAccess file_access = gofer::FileAccess::kExclusive) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  if (access(VEIL_BINARY, X_OK) != 0)
    GTEST_SKIP() << "no veil binary at " << VEIL_BINARY;
  auto host = HostBackend::Create();
  if (!host)
    GTEST_SKIP() << "host reference unavailable: " << Describe(host.error());
  auto side = GoferSide::Create(max_node_fds, file_access);
  ASSERT_TRUE(side.has_value()) << "gofer: " << Describe(side.error());
  std::string report;
  GoferPolicy expected(**host), actual((*side)->backend());
  RunOptions options;
  if (std::getenv("VEIL_DIFFTEST_TRACE") != nullptr) options.trace = stderr;
  bool same = RunDifferential(expected, actual, seed, steps, &report, options);
  EXPECT_TRUE(same) << report;
  if (same) std::printf("%s\n", report.c_str());
}

class DifftestGoferTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestGoferTest, AgreesWithHostTmpfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestGoferTest,
                         ::testing::ValuesIn(kFixedSeeds));

// The gofer keeps only 4 walked files' descriptors open, so nodes are
// closed and opened again by name all the time (host_node.h, "Descriptor
// budget"): the results must not change.
class DifftestGoferTinyBudgetTest : public ::testing::TestWithParam<uint64_t> {
};

TEST_P(DifftestGoferTinyBudgetTest, AgreesWithHostTmpfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          /*max_node_fds=*/4);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestGoferTinyBudgetTest,
                         ::testing::Values(1, 2, 3, 4, 5));

// A shared tree (FileAccess::kShared, as `veil fuse --gofer`): every cached
// name is revalidated and every attribute asked for again. Nothing else
// changes the tree here, so the results must be the same as exclusive's.
class DifftestGoferSharedTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestGoferSharedTest, AgreesWithHostTmpfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          /*max_node_fds=*/0, gofer::FileAccess::kShared);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestGoferSharedTest,
                         ::testing::Values(1, 2, 3, 4, 5));

TEST(DifftestGoferFreshSeedTest, AgreesWithHostTmpfs) {
  uint64_t seed = FreshSeed();
  RunSeed(seed, static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

}  // namespace
}  // namespace veil::difftest
