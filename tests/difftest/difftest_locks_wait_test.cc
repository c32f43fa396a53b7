// SPDX-License-Identifier: Apache-2.0
//
// Blocking lock calls against the host kernel: scripted scenarios run on
// forked host processes and on veil's VFS (lock_sides.h), comparing which
// calls block, which wake when, their results, and EDEADLK — including
// the cycles Linux does not detect (through OFD locks), which must wait on
// both sides. A blocked call on the host is a child process waiting in
// fcntl/flock; on veil a thread waiting in a ThreadLockWaiter, interrupted
// at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/difftest/lock_sides.h"

namespace veil::difftest {
namespace {

// How long a call must stay unanswered to count as blocked.
constexpr int kBlockedMs = 50;

Command Lock(int cmd, int slot, short type, int64_t start, int64_t len) {
  Command c{};
  c.op = cmd == F_GETLK || cmd == F_OFD_GETLK ? Op::kGetLk : Op::kSetLk;
  c.cmd = cmd;
  c.slot = slot;
  c.fl.l_type = type;
  c.fl.l_whence = SEEK_SET;
  c.fl.l_start = start;
  c.fl.l_len = len;
  return c;
}
Command Flk(int slot, int operation) {
  Command c{};
  c.op = Op::kFlock;
  c.slot = slot;
  c.arg = operation;
  return c;
}

// One scenario: both sides, and the call each process has outstanding.
class Scenario {
 public:
  Scenario() {
    pid_t pids[kProcs];
    for (int p = 0; p < kProcs; ++p) {
      started_ = started_ && host_[p].Start(dir_.path(), p);
      pids[p] = host_[p].pid();
    }
    veil_ = std::make_unique<VfsSide>(pids);
  }
  ~Scenario() {
    for (int p = 0; p < kProcs; ++p) {
      if (!pending_[p]) continue;
      waiter_[p].Interrupt();  // the host side is killed with its process
      pending_[p]->join();
    }
  }
  bool ok() const { return !dir_.path().empty() && started_; }

  // Process p runs c, which must answer at once on the host; veil's answer
  // must match.
  void Now(int p, const Command& c) {
    std::string want = Show(host_[p].Run(c), c);
    vfs::ThreadLockWaiter waiter;
    std::string got = Show(veil_->Run(p, c, &waiter), c);
    EXPECT_EQ(got, want) << Describe(p, c);
  }
  // Process p starts c; on both sides it must still be waiting after
  // kBlockedMs.
  void Blocks(int p, const Command& c) {
    host_[p].Send(c);
    done_[p] = false;
    pending_[p] = std::make_unique<std::thread>([this, p, c] {
      reply_[p] = Show(veil_->Run(p, c, &waiter_[p]), c);
      done_[p] = true;
    });
    command_[p] = c;
    std::optional<Reply> host = host_[p].Receive(kBlockedMs);
    EXPECT_FALSE(host.has_value()) << "host did not block: " << Describe(p, c);
    EXPECT_FALSE(done_[p]) << "veil did not block: " << Describe(p, c);
  }
  // Process p's outstanding call is still waiting on both sides.
  void StillBlocked(int p) {
    EXPECT_FALSE(host_[p].Receive(kBlockedMs).has_value()) << "host woke " << p;
    EXPECT_FALSE(done_[p]) << "veil woke " << p;
  }
  // Process p's outstanding call finishes on both sides with one answer.
  void Finishes(int p) {
    std::optional<Reply> host = host_[p].Receive(5000);
    ASSERT_TRUE(host.has_value()) << "host still blocked: " << p;
    pending_[p]->join();
    pending_[p].reset();
    EXPECT_EQ(reply_[p], Show(*host, command_[p])) << Describe(p, command_[p]);
  }

 private:
  HostDir dir_;
  bool started_ = true;
  HostProc host_[kProcs];
  std::unique_ptr<VfsSide> veil_;
  vfs::ThreadLockWaiter waiter_[kProcs];
  std::unique_ptr<std::thread> pending_[kProcs];
  std::atomic<bool> done_[kProcs] = {};
  std::string reply_[kProcs];
  Command command_[kProcs] = {};
};

// Slots (lock_sides.h): 0 is file a read-write, 2 file b read-write.
constexpr int kA = 0, kB = 2;

TEST(DifftestLocksWaitTest, TwoProcessCycleIsEdeadlk) {
  Scenario s;
  ASSERT_TRUE(s.ok());
  s.Now(0, Lock(F_SETLK, kA, F_WRLCK, 0, 1));
  s.Now(1, Lock(F_SETLK, kA, F_WRLCK, 1, 1));
  s.Blocks(0, Lock(F_SETLKW, kA, F_WRLCK, 1, 1));
  s.Now(1, Lock(F_SETLKW, kA, F_WRLCK, 0, 1));  // EDEADLK
  s.Now(1, Lock(F_SETLK, kA, F_UNLCK, 1, 1));
  s.Finishes(0);
  s.Now(1, Lock(F_GETLK, kA, F_WRLCK, 0, 0));
}

TEST(DifftestLocksWaitTest, ThreeProcessCycleAcrossFilesIsEdeadlk) {
  Scenario s;
  ASSERT_TRUE(s.ok());
  s.Now(0, Lock(F_SETLK, kA, F_WRLCK, 0, 1));
  s.Now(1, Lock(F_SETLK, kA, F_WRLCK, 1, 1));
  s.Now(2, Lock(F_SETLK, kB, F_WRLCK, 0, 1));
  s.Blocks(0, Lock(F_SETLKW, kA, F_WRLCK, 1, 1));  // 0 waits for 1
  s.Blocks(1, Lock(F_SETLKW, kB, F_RDLCK, 0, 5));  // 1 waits for 2
  s.Now(2, Lock(F_SETLKW, kA, F_RDLCK, 0, 1));     // 2 -> 0 -> 1 -> 2
  s.Now(2, Lock(F_SETLK, kB, F_UNLCK, 0, 0));
  s.Finishes(1);
  s.StillBlocked(0);
  s.Now(1, Lock(F_SETLK, kA, F_UNLCK, 0, 0));
  s.Finishes(0);
}

TEST(DifftestLocksWaitTest, PartialReleaseWakesOnlyWhoFits) {
  Scenario s;
  ASSERT_TRUE(s.ok());
  s.Now(0, Lock(F_SETLK, kA, F_WRLCK, 0, 10));
  s.Blocks(1, Lock(F_SETLKW, kA, F_RDLCK, 5, 1));
  s.Blocks(2, Lock(F_SETLKW, kA, F_WRLCK, 4, 3));
  s.Now(0, Lock(F_SETLK, kA, F_RDLCK, 0, 6));  // downgrade [0, 5]
  s.Finishes(1);
  s.StillBlocked(2);
  s.Now(0, Lock(F_SETLK, kA, F_UNLCK, 0, 0));
  s.StillBlocked(2);  // 1's read lock on byte 5 is in the way
  s.Now(1, Lock(F_SETLK, kA, F_UNLCK, 5, 1));
  s.Finishes(2);
  s.Now(0, Lock(F_GETLK, kA, F_RDLCK, 0, 0));
}

TEST(DifftestLocksWaitTest, FlockUpgradeIsNotAtomic) {
  Scenario s;
  ASSERT_TRUE(s.ok());
  s.Now(0, Flk(kA, LOCK_SH));
  s.Now(1, Flk(kA, LOCK_SH));
  s.Blocks(1, Flk(kA, LOCK_EX));         // drops its LOCK_SH, then waits
  s.Now(0, Flk(kA, LOCK_EX | LOCK_NB));  // so this upgrade succeeds
  s.StillBlocked(1);
  s.Now(2, Flk(kA, LOCK_SH | LOCK_NB));  // EWOULDBLOCK
  s.Now(0, Flk(kA, LOCK_UN));
  s.Finishes(1);
  s.Now(2, Flk(kA, LOCK_SH | LOCK_NB));
}

TEST(DifftestLocksWaitTest, OfdCyclesAreNotDetected) {
  Scenario s;
  ASSERT_TRUE(s.ok());
  s.Now(0, Lock(F_OFD_SETLK, kA, F_WRLCK, 0, 1));
  s.Now(1, Lock(F_OFD_SETLK, kA, F_WRLCK, 1, 1));
  s.Blocks(0, Lock(F_OFD_SETLKW, kA, F_WRLCK, 1, 1));
  s.Blocks(1, Lock(F_OFD_SETLKW, kA, F_WRLCK, 0, 1));  // waits for ever
  // A POSIX request held up by an OFD lock waits like any other.
  s.Now(2, Lock(F_SETLK, kB, F_WRLCK, 0, 1));
  s.Blocks(2, Lock(F_SETLKW, kA, F_RDLCK, 0, 0));
}

}  // namespace
}  // namespace veil::difftest
