// SPDX-License-Identifier: Apache-2.0
//
// veil's tmpfs against the host's tmpfs: the same random operation
// sequences, identical results, errnos and trees.
//
// Each CI run executes kFixedSeeds (reproducible) plus a fresh seed per
// backing printed in the log, so every run also explores new sequences. To
// replay a failure: VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n>
// difftest_tmpfs_test; VEIL_DIFFTEST_TRACE=1 prints every operation.
//
// File data moves from veil's page store to a memfd mid-sequence: the fixed
// seeds run again with a one-page threshold (a file moves when it gets a
// second page), and VEIL_DIFFTEST_MEMFD_THRESHOLD=<bytes> sets the
// threshold for every test (0: every file uses a memfd at once). The fixed
// seeds run a third time on a self-backed tmpfs (file data in one host
// file, fallocate done by veil's own page runs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "tests/difftest/host_backend.h"
#include "tests/difftest/runner.h"
#include "tests/difftest/seeds.h"
#include "tests/difftest/vfs_backend.h"
#include "vfs/tmpfs/tmpfs.h"

namespace veil::difftest {
namespace {

constexpr uint64_t kFixedSeeds[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
constexpr int kStepsPerSeed = 1000;
// A file's data moves to a memfd when it gets its second page.
constexpr uint64_t kSmallThreshold = 4096;

enum class Backing { kMemory, kSelf };

void RunSeed(uint64_t seed, int steps,
             uint64_t memfd_threshold = vfs::tmpfs::TmpfsOptions{}
                                            .memfd_threshold,
             Backing backing = Backing::kMemory) {
  auto host = HostBackend::Create();
  if (!host) {
    GTEST_SKIP() << "host reference unavailable: "
                 << (host.error().message() ? host.error().message() : "")
                 << " (" << strerror(host.error().code()) << ")";
  }
  vfs::tmpfs::TmpfsOptions options;
  options.root_mode = 0755;  // as VfsBackend::NewTmpfs
  options.memfd_threshold =
      EnvOr("VEIL_DIFFTEST_MEMFD_THRESHOLD", memfd_threshold);
  if (backing == Backing::kSelf) {
    const char* tmp = std::getenv("TMPDIR");
    auto store = vfs::tmpfs::FileStore::Create(tmp ? tmp : "/tmp");
    ASSERT_TRUE(store.has_value()) << strerror(store.error().code());
    options.store = std::move(*store);
  }
  auto veil = std::make_unique<VfsBackend>(vfs::tmpfs::Tmpfs::Create(options),
                                           "veil-tmpfs");
  std::string report;
  RunOptions run;  // VEIL_DIFFTEST_TRACE=1: every operation to stderr
  if (std::getenv("VEIL_DIFFTEST_TRACE") != nullptr) run.trace = stderr;
  bool same = RunDifferential(**host, *veil, seed, steps, &report, run);
  EXPECT_TRUE(same) << report;
  if (same) std::printf("%s\n", report.c_str());
}

class DifftestTmpfsTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestTmpfsTest, AgreesWithHostTmpfs) {
  RunSeed(GetParam(), static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS",
                                             kStepsPerSeed)));
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestTmpfsTest,
                         ::testing::ValuesIn(kFixedSeeds));

class DifftestTmpfsSmallThresholdTest
    : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestTmpfsSmallThresholdTest, AgreesWithHostTmpfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          kSmallThreshold);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestTmpfsSmallThresholdTest,
                         ::testing::ValuesIn(kFixedSeeds));

class DifftestTmpfsSelfBackedTest
    : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestTmpfsSelfBackedTest, AgreesWithHostTmpfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          vfs::tmpfs::TmpfsOptions{}.memfd_threshold, Backing::kSelf);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestTmpfsSelfBackedTest,
                         ::testing::ValuesIn(kFixedSeeds));

TEST(DifftestTmpfsFreshSeedTest, AgreesWithHostTmpfs) {
  RunSeed(FreshSeed(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

TEST(DifftestTmpfsFreshSeedTest, SelfBackedAgreesWithHostTmpfs) {
  RunSeed(FreshSeed(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          vfs::tmpfs::TmpfsOptions{}.memfd_threshold, Backing::kSelf);
}

}  // namespace
}  // namespace veil::difftest
