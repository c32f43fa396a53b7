// SPDX-License-Identifier: Apache-2.0
//
// Waiting for file locks, with threads: F_SETLKW and blocking flock wake
// when the conflict goes, EDEADLK for cycles of processes (not for OFD
// owners), interrupted waits return EINTR and leave nothing behind, and
// the event-loop form (a LockWaiter notified once per queueing).
#include <sys/file.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "tests/unit/vfs/fixture.h"
#include "tests/unit/vfs/lock_test_util.h"
#include "vfs/fcntl_lock.h"

namespace veil::vfs::testing {
namespace {

using std::chrono::milliseconds;

const LockOwner kP1 = LockOwner::Process(201, 201);
const LockOwner kP2 = LockOwner::Process(202, 202);


// Polls `done` for up to 10 s.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return false;
}

// A blocking lock call on its own thread; result() joins it.
class Waiter {
 public:
  explicit Waiter(std::function<Result<void>(ThreadLockWaiter&)> call)
      : thread_([this, call] {
          Result<void> r = call(waiter_);
          errno_ = r ? 0 : r.error().code();
          done_ = true;
        }) {}
  ~Waiter() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_; }
  void Interrupt() { waiter_.Interrupt(); }
  // 0 or the errno, after the call returned.
  int result() {
    thread_.join();
    return errno_;
  }

 private:
  ThreadLockWaiter waiter_;
  std::atomic<bool> done_{false};
  int errno_ = -1;
  std::thread thread_;
};

class FileLockWaitTest : public VfsTest {
 protected:
  void SetUp() override {
    WriteFile("/f", "data");
    WriteFile("/g", "data");
    a_ = *Open("/f", O_RDWR);
    b_ = *Open("/f", O_RDWR);
    g_ = *Open("/g", O_RDWR);
  }
  Result<void> Set(FileDescription& f, const LockOwner& owner, short type,
                   int64_t start, int64_t len, int cmd = F_SETLK) {
    ThreadLockWaiter unused;
    return SetRecordLockBlocking(f, cmd, MakeFlock(type, start, len), owner,
                                 unused);
  }
  std::function<Result<void>(ThreadLockWaiter&)> SetW(RefPtr<FileDescription> f,
                                                      LockOwner owner,
                                                      short type, int64_t start,
                                                      int64_t len,
                                                      int cmd = F_SETLKW) {
    return [=](ThreadLockWaiter& w) {
      return SetRecordLockBlocking(*f, cmd, MakeFlock(type, start, len), owner, w);
    };
  }
  bool Queued(FileDescription& f, size_t n) {
    return Eventually(
        [&] { return f.inode().locks().QueuedForTesting() == n; });
  }

  RefPtr<FileDescription> a_, b_, g_;
};

TEST_F(FileLockWaitTest, SetLkwWakesWhenTheConflictGoes) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 10), IsOk());
  Waiter w(SetW(b_, kP2, F_WRLCK, 5, 1));
  ASSERT_TRUE(Queued(*a_, 1));
  // Releasing a part that does not cover the request wakes it; it finds
  // the conflict again and waits again.
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 0, 3), IsOk());
  ASSERT_TRUE(Queued(*a_, 1));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(w.done());
  // Downgrading to a read lock is not enough for a write lock either.
  ASSERT_THAT(Set(*a_, kP1, F_RDLCK, 5, 1), IsOk());
  ASSERT_TRUE(Queued(*a_, 1));
  EXPECT_FALSE(w.done());
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 5, 1), IsOk());
  EXPECT_EQ(w.result(), 0);
  EXPECT_THAT(Set(*a_, kP1, F_RDLCK, 5, 1), ErrnoIs(EAGAIN));
}

TEST_F(FileLockWaitTest, ManyReadersWakeTogether) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 0), IsOk());
  std::vector<std::unique_ptr<Waiter>> readers;
  for (int i = 0; i < 4; ++i)
    readers.push_back(std::make_unique<Waiter>(
        SetW(b_, LockOwner::Process(300 + i, 300 + i), F_RDLCK, i, 10)));
  ASSERT_TRUE(Queued(*a_, 4));
  ReleasePosixLocks(*a_, kP1);  // the holder closes a descriptor
  for (auto& r : readers) EXPECT_EQ(r->result(), 0);
  EXPECT_EQ(a_->inode().locks().RecordsForTesting().size(), 4u);
}

TEST_F(FileLockWaitTest, TwoProcessCycleIsEdeadlk) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 1), IsOk());
  ASSERT_THAT(Set(*b_, kP2, F_WRLCK, 1, 1), IsOk());
  Waiter p1(SetW(a_, kP1, F_WRLCK, 1, 1));  // P1 waits for P2
  ASSERT_TRUE(Queued(*a_, 1));
  // P2 waiting for P1 would close the cycle: EDEADLK at once.
  EXPECT_THAT(Set(*b_, kP2, F_WRLCK, 0, 1, F_SETLKW), ErrnoIs(EDEADLK));
  // F_SETLK never waits, so it is only EAGAIN.
  EXPECT_THAT(Set(*b_, kP2, F_WRLCK, 0, 1), ErrnoIs(EAGAIN));
  ASSERT_THAT(Set(*b_, kP2, F_UNLCK, 1, 1), IsOk());
  EXPECT_EQ(p1.result(), 0);
}

TEST_F(FileLockWaitTest, CycleThroughTwoFilesIsEdeadlk) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 1), IsOk());
  ASSERT_THAT(Set(*g_, kP2, F_WRLCK, 0, 1), IsOk());
  Waiter p1(SetW(g_, kP1, F_WRLCK, 0, 1));  // P1 waits on /g for P2
  ASSERT_TRUE(Queued(*g_, 1));
  EXPECT_THAT(Set(*b_, kP2, F_WRLCK, 0, 1, F_SETLKW), ErrnoIs(EDEADLK));
  // A third process waiting for P1 is no cycle.
  const LockOwner p3 = LockOwner::Process(203, 203);
  Waiter w3(SetW(b_, p3, F_RDLCK, 0, 1));
  ASSERT_TRUE(Queued(*a_, 1));
  ReleasePosixLocks(*g_, kP2);
  EXPECT_EQ(p1.result(), 0);
  ReleasePosixLocks(*a_, kP1);
  EXPECT_EQ(w3.result(), 0);
}

TEST_F(FileLockWaitTest, OfdOwnersAreNotCheckedForDeadlock) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 1, F_OFD_SETLK), IsOk());
  ASSERT_THAT(Set(*b_, kP1, F_WRLCK, 1, 1, F_OFD_SETLK), IsOk());
  Waiter first(SetW(a_, kP1, F_WRLCK, 1, 1, F_OFD_SETLKW));
  ASSERT_TRUE(Queued(*a_, 1));
  // A real deadlock that Linux does not detect for OFD locks: it waits.
  Waiter second(SetW(b_, kP1, F_WRLCK, 0, 1, F_OFD_SETLKW));
  ASSERT_TRUE(Queued(*a_, 2));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(second.done());
  // Interrupting one side breaks it (as a signal would).
  second.Interrupt();
  EXPECT_EQ(second.result(), EINTR);
  ASSERT_THAT(Set(*b_, kP1, F_UNLCK, 1, 1, F_OFD_SETLK), IsOk());
  EXPECT_EQ(first.result(), 0);
}

TEST_F(FileLockWaitTest, InterruptedWaitReturnsEintrAndLeavesNothing) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 0), IsOk());
  Waiter w(SetW(b_, kP2, F_RDLCK, 0, 1));
  ASSERT_TRUE(Queued(*a_, 1));
  w.Interrupt();
  EXPECT_EQ(w.result(), EINTR);
  EXPECT_TRUE(Queued(*a_, 0));
  ASSERT_EQ(a_->inode().locks().RecordsForTesting().size(), 1u);
  // P2 is no longer waiting for P1: P1 may wait for P2 without EDEADLK.
  ASSERT_THAT(Set(*b_, kP2, F_UNLCK, 0, 0), IsOk());
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 100, 0), IsOk());
  ASSERT_THAT(Set(*b_, kP2, F_WRLCK, 100, 1), IsOk());
  Waiter p1(SetW(a_, kP1, F_WRLCK, 100, 1));
  ASSERT_TRUE(Queued(*a_, 1));
  ASSERT_THAT(Set(*b_, kP2, F_UNLCK, 100, 1), IsOk());
  EXPECT_EQ(p1.result(), 0);
}

TEST_F(FileLockWaitTest, InterruptBeforeTheWaitIsNotLost) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 10), IsOk());
  ThreadLockWaiter waiter;
  waiter.Interrupt();
  // A lock that is free is taken even with an interrupt pending...
  EXPECT_THAT(
      SetRecordLockBlocking(*b_, F_SETLKW, MakeFlock(F_WRLCK, 50, 1), kP2, waiter),
      IsOk());
  // ...and a wait ends at once.
  EXPECT_THAT(
      SetRecordLockBlocking(*b_, F_SETLKW, MakeFlock(F_WRLCK, 0, 1), kP2, waiter),
      ErrnoIs(EINTR));
  EXPECT_TRUE(Queued(*a_, 0));
  // The interrupt was consumed: the next wait waits.
  RefPtr<FileDescription> b = b_;
  Waiter w([&waiter, b](ThreadLockWaiter&) {
    return SetRecordLockBlocking(*b, F_SETLKW, MakeFlock(F_WRLCK, 0, 1), kP2,
                                 waiter);
  });
  ASSERT_TRUE(Queued(*a_, 1));
  ReleasePosixLocks(*a_, kP1);
  EXPECT_EQ(w.result(), 0);
}

TEST_F(FileLockWaitTest, FlockUpgradeWaitsAndIsNotAtomic) {
  ASSERT_THAT(Flock(*a_, LOCK_SH, nullptr), IsOk());
  ASSERT_THAT(Flock(*b_, LOCK_SH, nullptr), IsOk());
  RefPtr<FileDescription> b = b_;
  Waiter up([b](ThreadLockWaiter& w) { return FlockBlocking(*b, LOCK_EX, w); });
  ASSERT_TRUE(Queued(*a_, 1));
  // b's shared lock went before it waited: a can upgrade without waiting.
  EXPECT_THAT(Flock(*a_, LOCK_EX | LOCK_NB, nullptr), IsOk());
  EXPECT_FALSE(up.done());
  ASSERT_THAT(Flock(*a_, LOCK_UN, nullptr), IsOk());
  EXPECT_EQ(up.result(), 0);
  EXPECT_THAT(Flock(*a_, LOCK_SH | LOCK_NB, nullptr), ErrnoIs(EWOULDBLOCK));
  // Downgrade: others may share at once.
  ASSERT_THAT(Flock(*b_, LOCK_SH, nullptr), IsOk());
  EXPECT_THAT(Flock(*a_, LOCK_SH | LOCK_NB, nullptr), IsOk());
}

TEST_F(FileLockWaitTest, InterruptedFlockLosesTheOldLock) {
  ASSERT_THAT(Flock(*a_, LOCK_SH, nullptr), IsOk());
  ASSERT_THAT(Flock(*b_, LOCK_SH, nullptr), IsOk());
  RefPtr<FileDescription> b = b_;
  Waiter up([b](ThreadLockWaiter& w) { return FlockBlocking(*b, LOCK_EX, w); });
  ASSERT_TRUE(Queued(*a_, 1));
  up.Interrupt();
  EXPECT_EQ(up.result(), EINTR);
  EXPECT_TRUE(Queued(*a_, 0));
  EXPECT_EQ(a_->inode().locks().FlocksForTesting().size(), 1u);
  EXPECT_THAT(Flock(*a_, LOCK_EX | LOCK_NB, nullptr), IsOk());
}

// The sentry's form: a waiter notified once, then the call is repeated.
class CountingWaiter final : public LockWaiter {
 public:
  void Notify(EventMask) override { ++count; }
  std::atomic<int> count{0};
};

TEST_F(FileLockWaitTest, EventLoopWaiterIsNotifiedOnceAndCanCancel) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 0), IsOk());
  CountingWaiter w;
  struct flock fl = MakeFlock(F_WRLCK, 0, 1);
  EXPECT_THAT(SetRecordLock(*b_, F_SETLKW, fl, kP2, &w),
              IsOkAndHolds(LockStatus::kQueued));
  // Asking again before the notification queues it only once.
  EXPECT_THAT(SetRecordLock(*b_, F_SETLKW, fl, kP2, &w),
              IsOkAndHolds(LockStatus::kQueued));
  EXPECT_EQ(b_->inode().locks().QueuedForTesting(), 1u);
  // Without a waiter, or for F_SETLK, a conflict is EAGAIN.
  EXPECT_THAT(SetRecordLock(*b_, F_SETLKW, fl, kP2, nullptr), ErrnoIs(EAGAIN));
  EXPECT_THAT(SetRecordLock(*b_, F_SETLK, fl, kP2, &w), ErrnoIs(EAGAIN));
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 10, 1), IsOk());
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 20, 1), IsOk());
  EXPECT_EQ(w.count, 1);
  EXPECT_THAT(SetRecordLock(*b_, F_SETLKW, fl, kP2, &w),
              IsOkAndHolds(LockStatus::kQueued));
  CancelLockWait(*b_, w);
  ReleasePosixLocks(*a_, kP1);
  EXPECT_EQ(w.count, 1);  // cancelled: not touched again
  EXPECT_THAT(SetRecordLock(*b_, F_SETLKW, fl, kP2, &w),
              IsOkAndHolds(LockStatus::kDone));
  // flock, likewise.
  ASSERT_THAT(Flock(*a_, LOCK_EX, nullptr), IsOk());
  EXPECT_THAT(Flock(*b_, LOCK_SH, &w), IsOkAndHolds(LockStatus::kQueued));
  EXPECT_THAT(Flock(*b_, LOCK_SH | LOCK_NB, &w), ErrnoIs(EWOULDBLOCK));
  a_ = nullptr;  // last reference: its flock lock goes
  EXPECT_EQ(w.count, 2);
  EXPECT_THAT(Flock(*b_, LOCK_SH, &w), IsOkAndHolds(LockStatus::kDone));
}

}  // namespace
}  // namespace veil::vfs::testing
