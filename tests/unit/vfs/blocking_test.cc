// SPDX-License-Identifier: Apache-2.0
//
// The wait loop (vfs/blocking.h) loses no wake-up: an event that lands
// between the check that answered "would block" and the registration is
// still seen, because the loop registers and checks again before it
// waits. A file made for the test makes that race happen every time.
#include "vfs/blocking.h"

#include <memory>

#include "base/ref.h"
#include "tests/unit/vfs/fixture.h"
#include "tests/unit/vfs/wait_test_util.h"

namespace veil::vfs::testing {
namespace {

// A stream whose first read finds nothing, and whose data arrives (with
// its notification) right after that check, before anyone is registered.
class RacingStream final : public FileImpl {
 public:
  Result<size_t> PRead(std::span<uint8_t> buf, int64_t) override {
    ++reads;
    if (ready) {
      buf[0] = 'x';
      return size_t{1};
    }
    ready = true;
    queue.Notify(kEventIn);  // nobody is registered yet: only a retry sees it
    return kWouldBlock;
  }
  WaitSource WaitSourceFor(EventMask) override { return {&queue, {}}; }
  bool Positional() const override { return false; }

  WaitQueue queue;
  bool ready = false;
  int reads = 0;
};

using BlockingTest = VfsTest;

TEST_F(BlockingTest, AnEventBetweenTheCheckAndTheWaitIsNotLost) {
  Watchdog watchdog;  // a loop that waits first would hang here
  WriteFile("/f", "");
  Location loc = (*Open("/f", O_RDONLY))->location();
  auto stream = std::make_unique<RacingStream>();
  RacingStream& impl = *stream;
  auto file = MakeRef<FileDescription>(loc, O_RDONLY, root_.creds,
                                       std::move(stream));
  ThreadWaiter waiter;
  uint8_t buf[4];
  EXPECT_THAT(ReadBlocking(*file, buf, waiter), IsOkAndHolds(1u));
  EXPECT_EQ(impl.reads, 2);
  EXPECT_EQ(impl.queue.SizeForTesting(), 0u);
}

TEST_F(BlockingTest, ANonBlockingDescriptionNeverWaits) {
  WriteFile("/f", "");
  Location loc = (*Open("/f", O_RDONLY))->location();
  auto file = MakeRef<FileDescription>(loc, O_RDONLY | O_NONBLOCK,
                                       root_.creds,
                                       std::make_unique<RacingStream>());
  ThreadWaiter waiter;
  uint8_t buf[4];
  EXPECT_THAT(ReadBlocking(*file, buf, waiter), ErrnoIs(EAGAIN));
}

}  // namespace
}  // namespace veil::vfs::testing
