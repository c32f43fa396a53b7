// SPDX-License-Identifier: Apache-2.0
#include "base/mutex.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace veil {
namespace {

class Counter {
 public:
  void Add() {
    MutexLock lock(mu_);
    ++value_;
    cv_.SignalAll();
  }
  // Blocks until the count reaches `n`.
  void WaitFor(int n) {
    MutexLock lock(mu_);
    while (value_ < n) cv_.Wait(mu_);
  }
  int value() {
    MutexLock lock(mu_);
    return value_;
  }
  Mutex& mu() { return mu_; }

 private:
  Mutex mu_;
  CondVar cv_;
  int value_ VEIL_GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, GuardsACounterAcrossThreads) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Add();
    });
  c.WaitFor(40000);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
}

TEST(MutexTest, WaitForTimesOutWithoutSignal) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(mu);
  EXPECT_FALSE(cv.WaitFor(mu, std::chrono::milliseconds(5)));
  mu.AssertHeld();  // held again after the wait
}

TEST(MutexTest, AssertHeldPassesForTheHolder) {
  Mutex mu;
  MutexLock lock(mu);
  mu.AssertHeld();
}

TEST(MutexDeathTest, AssertHeldAbortsWhenNotHeld) {
  Mutex mu;
  EXPECT_DEATH(mu.AssertHeld(), "");
}

TEST(MutexDeathTest, AssertHeldAbortsWhenAnotherThreadHoldsIt) {
  EXPECT_DEATH(
      {
        Mutex mu;
        mu.Lock();
        std::thread([&] { mu.AssertHeld(); }).join();
      },
      "");
}

TEST(MutexTest, AssertHeldFollowsTheHolderThroughAWait) {
  // While a thread waits, the mutex is not its own.
  Mutex mu;
  CondVar cv;
  bool waiting = false;
  bool checked = false;
  std::thread waiter([&] {
    MutexLock lock(mu);
    waiting = true;
    cv.SignalAll();
    while (!checked) cv.Wait(mu);
  });
  {
    MutexLock lock(mu);
    while (!waiting) cv.Wait(mu);
    mu.AssertHeld();  // ours now, not the waiter's
    checked = true;
    cv.SignalAll();
  }
  waiter.join();
}

TEST(SharedMutexTest, ReadersShareWritersExclude) {
  SharedMutex mu;
  {
    ReaderMutexLock a(mu);
    ReaderMutexLock b(mu);  // a second reader does not block
  }
  WriterMutexLock w(mu);
  mu.AssertHeld();
}

}  // namespace
}  // namespace veil
