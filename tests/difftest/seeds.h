// SPDX-License-Identifier: Apache-2.0
//
// The difftests' knobs: numbers from the environment (VEIL_DIFFTEST_SEED,
// VEIL_DIFFTEST_STEPS, ...), and the fresh seed each run explores beside
// its fixed ones, printed so that a divergence can be replayed.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace veil::difftest {

// The variable `name` as a number (strtoull base 0), or `fallback`.
inline uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 0) : fallback;
}

// VEIL_DIFFTEST_SEED if set, else a new seed from the clock; printed
// with how to replay it.
inline uint64_t FreshSeed() {
  uint64_t fresh = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  uint64_t seed = EnvOr("VEIL_DIFFTEST_SEED", fresh);
  std::printf("difftest seed %llu (replay: VEIL_DIFFTEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace veil::difftest
