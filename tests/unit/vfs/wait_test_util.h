// SPDX-License-Identifier: Apache-2.0
//
// Threads for blocking tests: Async runs a call on its own thread, and a
// Watchdog fails a test that hangs. No timing is asserted: the deadline
// only turns a hang (a lost wake-up) into a failure instead of a stuck
// test run.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace veil::vfs::testing {

// Aborts the test binary if the test that made it has not ended within
// `limit` (a hang cannot be recovered from: the stuck thread holds the
// test's objects).
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit = std::chrono::seconds(120))
      : thread_([this, limit] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: test hung for %llds, aborting\n",
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// A call running on its own thread; Get() joins it and returns its result.
template <typename T>
class Async {
 public:
  explicit Async(std::function<T()> call)
      : thread_([this, call = std::move(call)] {
          result_.emplace(call());
          done_ = true;
        }) {}
  ~Async() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_; }
  T Get() {
    thread_.join();
    return std::move(*result_);
  }

 private:
  std::optional<T> result_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Polls `cond` until it holds; a hang is the Watchdog's to catch.
inline void AwaitTrue(const std::function<bool()>& cond) {
  while (!cond()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace veil::vfs::testing
