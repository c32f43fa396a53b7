// SPDX-License-Identifier: Apache-2.0
//
// CpuPlacer (sentry/sandbox/cpu_placer.h): each task pinned to the allowed
// CPU with the fewest live tasks, a CPU freed when its claim goes, and no
// pinning where only one CPU is allowed.
#include "sentry/sandbox/cpu_placer.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace veil::sentry::internal {
namespace {

// A thread that sleeps until the object goes, and its tid.
class Sleeper {
 public:
  Sleeper() {
    std::promise<pid_t> tid;
    std::future<pid_t> got = tid.get_future();
    thread_ = std::thread([this, &tid] {
      tid.set_value(static_cast<pid_t>(syscall(SYS_gettid)));
      while (!stop_.load()) usleep(1000);
    });
    tid_ = got.get();
  }
  ~Sleeper() {
    stop_.store(true);
    thread_.join();
  }
  pid_t tid() const { return tid_; }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
  pid_t tid_ = 0;
};

std::vector<int> CpusOf(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(tid, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

TEST(CpuPlacerTest, SpreadsTasksAndReusesAFreedCpu) {
  if (CpusOf(0).size() < 2) GTEST_SKIP() << "needs two CPUs to place on";
  CpuPlacer placer;
  Sleeper a, b, c;
  std::unique_ptr<CpuPlacer::Claim> ca = placer.Place(a.tid());
  std::unique_ptr<CpuPlacer::Claim> cb = placer.Place(b.tid());
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  EXPECT_NE(ca->cpu(), cb->cpu()) << "two tasks on one CPU, another idle";
  ASSERT_EQ(CpusOf(a.tid()).size(), 1u);
  ASSERT_EQ(CpusOf(b.tid()).size(), 1u);
  EXPECT_NE(CpusOf(a.tid()), CpusOf(b.tid()));
  // a's CPU has no task once its claim goes: the next task goes there.
  const std::vector<int> freed = CpusOf(a.tid());
  const int freed_index = ca->cpu();
  ca.reset();
  std::unique_ptr<CpuPlacer::Claim> cc = placer.Place(c.tid());
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->cpu(), freed_index);
  EXPECT_EQ(CpusOf(c.tid()), freed);
}

TEST(CpuPlacerTest, OneAllowedCpuPinsNothing) {
  const std::vector<int> all = CpusOf(0);
  ASSERT_FALSE(all.empty());
  Sleeper task;
  // A placer made by a thread that may run on one CPU only.
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(all.front(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    CpuPlacer placer;
    EXPECT_EQ(placer.Place(task.tid()), nullptr);
  }).join();
  EXPECT_EQ(CpusOf(task.tid()), all) << "the task was pinned anyway";
}

}  // namespace
}  // namespace veil::sentry::internal
