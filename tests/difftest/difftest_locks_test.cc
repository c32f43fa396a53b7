// SPDX-License-Identifier: Apache-2.0
//
// File locks against the host kernel: the same random sequence of fcntl
// record-lock, OFD-lock and flock operations, seeks, truncates and closes,
// issued by several owners, runs on the host (each owner a forked process
// with its own descriptors on a host tmpfs file) and on veil's VFS (each
// owner a LockOwner with its own FileDescriptions), and every result,
// errno and F_GETLK report must agree. Every 50 steps a sweep asks each
// process F_GETLK at every offset of both files, so the whole lock state is
// compared, not only what the random calls touch.
//
// Only calls that never block are generated (F_SETLK, F_OFD_SETLK,
// LOCK_NB). Scripted scenarios (difftest_locks_wait_test.cc) compare the
// blocking calls: who waits, who wakes, EDEADLK; EINTR is covered by the
// unit tests in tests/unit/vfs/file_lock_wait_test.cc.
//
// Replay: VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n>
// difftest_locks_test; VEIL_DIFFTEST_TRACE=1 prints every operation.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "tests/difftest/lock_sides.h"
#include "tests/difftest/seeds.h"

namespace veil::difftest {
namespace {

constexpr uint64_t kFixedSeeds[] = {1, 2, 3};
constexpr int kStepsPerSeed = 1000;
constexpr int kSweepEvery = 50;
// --- Generator
// ------------------------------------------------------------------

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  int Pick(int n) {
    return static_cast<int>(rng_() % static_cast<uint64_t>(n));
  }
  bool Chance(int percent) { return Pick(100) < percent; }

  struct flock RandomFlock(bool for_get, bool ofd) {
    struct flock fl {};
    int t = Pick(100);
    fl.l_type = t < 40 ? F_RDLCK : t < 80 ? F_WRLCK : t < 98 ? F_UNLCK : 7;
    if (for_get && !ofd && fl.l_type == F_UNLCK && !Chance(10))
      fl.l_type = F_WRLCK;
    int w = Pick(100);
    fl.l_whence = w < 80 ? SEEK_SET : w < 88 ? SEEK_CUR : w < 96 ? SEEK_END : 5;
    fl.l_start = Chance(2) ? INT64_MAX - Pick(3) : Pick(27) - 2;
    fl.l_len = Chance(15) ? 0 : Chance(2) ? INT64_MAX : Pick(19) - 6;
    fl.l_pid = Chance(5) ? 1 + Pick(3) : 0;
    return fl;
  }

  Command Next(int* proc) {
    *proc = Pick(kProcs);
    Command c{};
    c.slot = Pick(kSlots);
    int op = Pick(100);
    if (op < 40) {
      c.op = Op::kSetLk;
      bool ofd = Chance(40);
      c.cmd = ofd ? F_OFD_SETLK : F_SETLK;
      c.fl = RandomFlock(false, ofd);
    } else if (op < 65) {
      c.op = Op::kGetLk;
      bool ofd = Chance(40);
      c.cmd = ofd ? F_OFD_GETLK : F_GETLK;
      c.fl = RandomFlock(true, ofd);
    } else if (op < 80) {
      c.op = Op::kFlock;
      static constexpr int kOps[] = {LOCK_SH | LOCK_NB, LOCK_EX | LOCK_NB,
                                     LOCK_UN, LOCK_UN | LOCK_NB};
      c.arg = Chance(3) ? (Chance(50) ? LOCK_SH | LOCK_EX : 0) : kOps[Pick(4)];
    } else if (op < 85) {
      c.op = Op::kSeek;
      c.arg = Pick(15);
    } else if (op < 90) {
      c.op = Op::kTruncate;
      c.slot = Chance(50) ? 0 : 2;  // open for writing in every process
      c.arg = Pick(20);
    } else if (op < 95) {
      c.op = Op::kReopen;
    } else {
      c.op = Op::kDupClose;
    }
    return c;
  }

 private:
  std::mt19937_64 rng_;
};

// Runs `steps` steps of `seed`, stopping at the first divergence.
void RunSeed(uint64_t seed, int steps) {
  HostDir dir;
  ASSERT_FALSE(dir.path().empty()) << strerror(errno);
  pid_t pids[kProcs];
  {
    HostProc host[kProcs];
    for (int p = 0; p < kProcs; ++p) {
      ASSERT_TRUE(host[p].Start(dir.path(), p)) << strerror(errno);
      pids[p] = host[p].pid();
    }
    VfsSide veil(pids);
    Generator gen(seed);
    bool trace = EnvOr("VEIL_DIFFTEST_TRACE", 0) != 0;
    auto compare = [&](int p, const Command& c, int step) {
      std::string want = Show(host[p].Run(c), c);
      std::string got = Show(veil.Run(p, c), c);
      if (trace)
        std::printf("%d: %s -> %s\n", step, Describe(p, c).c_str(),
                    want.c_str());
      EXPECT_EQ(got, want) << "seed " << seed << " step " << step << ": "
                           << Describe(p, c);
      return got == want;
    };
    for (int step = 0; step < steps; ++step) {
      int p;
      Command c = gen.Next(&p);
      if (!compare(p, c, step)) break;
      if (step % kSweepEvery != kSweepEvery - 1) continue;
      // The whole state: every process asks about every byte of both files.
      bool same = true;
      for (int q = 0; q < kProcs && same; ++q)
        for (int slot : {0, 2})
          for (int off = 0; off < 25 && same; ++off) {
            Command probe{};
            probe.op = Op::kGetLk;
            probe.slot = slot;
            probe.cmd = F_GETLK;
            probe.fl.l_type = F_WRLCK;
            probe.fl.l_whence = SEEK_SET;
            probe.fl.l_start = off;
            probe.fl.l_len = 1;
            same = compare(q, probe, step);
          }
      if (!same) break;
    }
  }
}

TEST(DifftestLocksTest, FixedSeeds) {
  int steps = static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed));
  for (uint64_t seed : kFixedSeeds) {
    RunSeed(seed, steps);
    if (HasFailure()) return;
  }
}

TEST(DifftestLocksTest, FreshSeed) {
  RunSeed(FreshSeed(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

}  // namespace
}  // namespace veil::difftest
