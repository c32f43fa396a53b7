// SPDX-License-Identifier: Apache-2.0
//
// veil's tmpfs against the host's tmpfs: the same random operation
// sequences, identical results, errnos and trees.
//
// Each CI run executes kFixedSeeds (reproducible) plus one fresh seed
// printed in the log, so every run also explores new sequences. To replay a
// failure: VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n> difftest_tmpfs_test
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "tests/difftest/host_backend.h"
#include "tests/difftest/runner.h"
#include "tests/difftest/vfs_backend.h"

namespace veil::difftest {
namespace {

constexpr uint64_t kFixedSeeds[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
constexpr int kStepsPerSeed = 1000;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 0) : fallback;
}

void RunSeed(uint64_t seed, int steps) {
  auto host = HostBackend::Create();
  if (!host) {
    GTEST_SKIP() << "host reference unavailable: "
                 << (host.error().message() ? host.error().message() : "")
                 << " (" << strerror(host.error().code()) << ")";
  }
  auto veil = VfsBackend::NewTmpfs();
  std::string report;
  bool same = RunDifferential(**host, *veil, seed, steps, &report);
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

TEST(DifftestTmpfsFreshSeedTest, AgreesWithHostTmpfs) {
  uint64_t fresh = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  uint64_t seed = EnvOr("VEIL_DIFFTEST_SEED", fresh);
  std::printf("difftest seed %llu (replay: VEIL_DIFFTEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  RunSeed(seed, static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

}  // namespace
}  // namespace veil::difftest
