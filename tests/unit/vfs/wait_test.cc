// SPDX-License-Identifier: Apache-2.0
//
// The wait primitive (vfs/wait.h): a WaitQueue notifies by mask, an
// unregistered waiter is never touched again even while another thread
// notifies, and a ThreadWaiter wakes on a notification, on a ready host
// fd, or with EINTR on an interrupt (which is consumed, and which a
// notification that came with it beats).
#include "vfs/wait.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/vfs/wait_test_util.h"
#include "tests/util/matchers.h"

namespace veil::vfs::testing {
namespace {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;

class Recorder final : public Waiter {
 public:
  void Notify(EventMask events) override { seen |= events, ++count; }
  std::atomic<EventMask> seen{0};
  std::atomic<int> count{0};
};

TEST(WaitQueueTest, NotifiesByMaskAndAlwaysForErrorAndHangUp) {
  WaitQueue q;
  Recorder in, out;
  q.Register(in, kEventIn);
  q.Register(out, kEventOut);
  q.Notify(kEventIn);
  EXPECT_EQ(in.seen.load(), kEventIn);
  EXPECT_EQ(out.count.load(), 0);
  q.Notify(kEventHup | kEventPeerOpened);  // HUP counts unasked, as poll
  EXPECT_EQ(out.seen.load(), kEventHup);
  EXPECT_EQ(in.seen.load(), kEventIn | kEventHup);
  q.Register(out, kEventPeerOpened);  // again: replaces the mask
  EXPECT_EQ(q.SizeForTesting(), 2u);
  q.Notify(kEventPeerOpened);
  EXPECT_EQ(out.seen.load() & kEventPeerOpened, kEventPeerOpened);
  q.Unregister(in);
  q.Unregister(in);  // not registered: ignored
  q.Notify(kEventIn);
  EXPECT_EQ(in.count.load(), 2);
  EXPECT_EQ(q.SizeForTesting(), 1u);
}

// A waiter freed right after Unregister while another thread notifies
// without pause: Unregister must not return while a Notify on it runs
// (ASan builds see a use after free otherwise).
TEST(WaitQueueTest, UnregisterIsSafeAgainstAConcurrentNotify) {
  Watchdog watchdog;
  WaitQueue q;
  std::atomic<bool> stop{false};
  std::thread notifier([&] {
    while (!stop.load()) q.Notify(kEventIn);
  });
  for (int i = 0; i < 5000; ++i) {
    auto w = std::make_unique<Recorder>();
    WaitRegistration registered(&q, *w, kEventIn);
    if (i % 2) std::this_thread::yield();
    // ~WaitRegistration unregisters, then the waiter goes.
  }
  stop = true;
  notifier.join();
  EXPECT_EQ(q.SizeForTesting(), 0u);
}

TEST(ThreadWaiterTest, InterruptBeforeTheWaitEndsItAndIsConsumed) {
  ThreadWaiter w;
  w.Interrupt();
  EXPECT_THAT(w.Wait(), ErrnoIs(EINTR));
  w.Notify(kEventIn);
  EXPECT_THAT(w.Wait(), IsOk());  // the interrupt was used up
}

TEST(ThreadWaiterTest, ANotificationBeatsAnInterruptThatCameWithIt) {
  ThreadWaiter w;
  w.Interrupt();
  w.Notify(kEventIn);
  EXPECT_THAT(w.Wait(), IsOk());
  EXPECT_THAT(w.Wait(), ErrnoIs(EINTR));  // still pending for the next
}

TEST(ThreadWaiterTest, WakesOnANotificationFromAnotherThread) {
  Watchdog watchdog;
  ThreadWaiter w;
  Async<Result<void>> waiting([&] { return w.Wait(); });
  w.Notify(kEventOut);
  EXPECT_THAT(waiting.Get(), IsOk());
}

TEST(ThreadWaiterTest, WakesOnAReadyHostFdAndOnInterruptWhilePolling) {
  Watchdog watchdog;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  UniqueFd r(fds[0]), wr(fds[1]);
  ThreadWaiter w;
  const HostPoll host[] = {{r.get(), POLLIN}};
  Async<Result<void>> waiting([&] { return w.Wait(host); });
  ASSERT_EQ(write(wr.get(), "x", 1), 1);
  EXPECT_THAT(waiting.Get(), IsOk());
  char c;
  ASSERT_EQ(read(r.get(), &c, 1), 1);
  // Nothing to read now: only the interrupt (through the eventfd) ends it.
  Async<Result<void>> polling([&] { return w.Wait(host); });
  w.Interrupt();
  EXPECT_THAT(polling.Get(), ErrnoIs(EINTR));
  // And a notification while polling.
  Async<Result<void>> again([&] { return w.Wait(host); });
  w.Notify(kEventIn);
  EXPECT_THAT(again.Get(), IsOk());
}

// Records the calls a ThreadWaiter makes, and interrupts it on the first
// OnSleep (what the sentry's signal watcher does, later and from its own
// thread).
class RecordingSleepObserver final : public SleepObserver {
 public:
  explicit RecordingSleepObserver(ThreadWaiter& waiter) : waiter_(waiter) {}
  void OnSleep() override {
    log += "sleep ";
    if (interrupt_on_sleep) waiter_.Interrupt();
  }
  void OnWake() override { log += "wake "; }
  std::string log;
  bool interrupt_on_sleep = false;

 private:
  ThreadWaiter& waiter_;
};

TEST(ThreadWaiterTest, TellsItsSleepObserverAroundEveryWait) {
  ThreadWaiter w;
  RecordingSleepObserver observer(w);
  w.set_sleep_observer(&observer);
  w.Notify(kEventIn);
  EXPECT_THAT(w.Wait(), IsOk());
  observer.interrupt_on_sleep = true;
  EXPECT_THAT(w.Wait(), ErrnoIs(EINTR));  // the observer's interrupt
  observer.interrupt_on_sleep = false;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), wr(fds[1]);
  ASSERT_EQ(write(wr.get(), "x", 1), 1);
  HostPoll ready{r.get(), POLLIN};
  EXPECT_THAT(w.Wait(std::span<const HostPoll>(&ready, 1)), IsOk());
  EXPECT_EQ(observer.log, "sleep wake sleep wake sleep wake ");
}

}  // namespace
}  // namespace veil::vfs::testing
