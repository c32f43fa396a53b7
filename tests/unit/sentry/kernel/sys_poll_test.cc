// SPDX-License-Identifier: Apache-2.0
//
// poll, ppoll, select and pselect6 through Dispatch.
#include <poll.h>
#include <sys/select.h>

#include <thread>

#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

class SysPollTest : public testing::KernelTest {
 protected:
  void SetUp() override {
    uint64_t fds = Alloc(8);
    ASSERT_EQ(Call(SYS_pipe, fds), 0);
    r_ = Get<int>(fds);
    w_ = Get<int>(fds + 4);
  }
  int r_ = -1, w_ = -1;
};

TEST_F(SysPollTest, ReportsWhatIsReady) {
  WriteFile("/f", "x");
  int f = static_cast<int>(Call(SYS_open, Str("/f"), O_RDONLY));
  pollfd fds[4] = {
      {r_, POLLIN, 0}, {w_, POLLOUT, 0}, {f, POLLIN, 0}, {77, POLLIN, 0}};
  uint64_t at = Put(fds);
  EXPECT_EQ(Call(SYS_poll, at, 4, 0), 3);
  auto out = Get<std::array<pollfd, 4>>(at);
  EXPECT_EQ(out[0].revents, 0);
  EXPECT_EQ(out[1].revents, POLLOUT);
  EXPECT_EQ(out[2].revents, POLLIN);
  EXPECT_EQ(out[3].revents, POLLNVAL);
  ASSERT_EQ(Call(SYS_write, w_, Str("y"), 1), 1);
  pollfd one = {r_, POLLIN, 0};
  uint64_t at1 = Put(one);
  EXPECT_EQ(Call(SYS_poll, at1, 1, -1), 1);
  EXPECT_EQ(Get<pollfd>(at1).revents, POLLIN);
  pollfd negative = {-1, POLLIN, 0};
  EXPECT_EQ(Call(SYS_poll, Put(negative), 1, 0), 0);
  EXPECT_EQ(Call(SYS_poll, 0, 1, 0), -EFAULT);
  EXPECT_EQ(Call(SYS_poll, at, 100000, 0), -EINVAL);
}

TEST_F(SysPollTest, HangupWhenTheWriterGoes) {
  ASSERT_EQ(Call(SYS_close, w_), 0);
  pollfd p = {r_, POLLIN, 0};
  uint64_t at = Put(p);
  EXPECT_EQ(Call(SYS_poll, at, 1, -1), 1);
  EXPECT_EQ(Get<pollfd>(at).revents & POLLHUP, POLLHUP);
}

TEST_F(SysPollTest, WaitsForAWriterATimeoutOrAnInterrupt) {
  Ref<vfs::FileDescription> write_end = *task_.fds().Get(w_);
  pollfd p = {r_, POLLIN, 0};
  uint64_t at = Put(p);
  std::thread writer([&] {
    const uint8_t byte = 'z';
    ASSERT_TRUE(write_end->Write(std::span<const uint8_t>(&byte, 1)));
  });
  EXPECT_EQ(Call(SYS_poll, at, 1, -1), 1);
  writer.join();
  uint64_t buf = Alloc(4);
  ASSERT_EQ(Call(SYS_read, r_, buf, 4), 1);
  EXPECT_EQ(Call(SYS_poll, at, 1, 5), 0);  // times out with nothing ready
  timespec ts = {0, 1000000};
  uint64_t tsa = Put(ts);
  EXPECT_EQ(Call(SYS_ppoll, at, 1, tsa, 0, 0), 0);
  // The time left is written back: none, after a timeout.
  EXPECT_EQ(Get<timespec>(tsa).tv_sec, 0);
  EXPECT_EQ(Get<timespec>(tsa).tv_nsec, 0);
  timespec bad = {0, 1000000000};
  EXPECT_EQ(Call(SYS_ppoll, at, 1, Put(bad), 0, 0), -EINVAL);
  std::thread signal([&] { task_.Interrupt(); });
  EXPECT_EQ(Call(SYS_poll, at, 1, -1), -EINTR);
  signal.join();
}

TEST_F(SysPollTest, Select) {
  fd_set rd, wr;
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_SET(r_, &rd);
  FD_SET(w_, &wr);
  uint64_t rda = Put(rd), wra = Put(wr);
  timeval zero = {0, 0};
  EXPECT_EQ(Call(SYS_select, w_ + 1, rda, wra, 0, Put(zero)), 1);
  EXPECT_FALSE(FD_ISSET(r_, &(rd = Get<fd_set>(rda))));
  EXPECT_TRUE(FD_ISSET(w_, &(wr = Get<fd_set>(wra))));
  ASSERT_EQ(Call(SYS_write, w_, Str("y"), 1), 1);
  FD_ZERO(&rd);
  FD_SET(r_, &rd);
  rda = Put(rd);
  EXPECT_EQ(Call(SYS_select, r_ + 1, rda, 0, 0, 0), 1);
  EXPECT_TRUE(FD_ISSET(r_, &(rd = Get<fd_set>(rda))));
  FD_SET(40, &rd);
  EXPECT_EQ(Call(SYS_select, 41, Put(rd), 0, 0, Put(zero)), -EBADF);
  EXPECT_EQ(Call(SYS_select, -1, 0, 0, 0, 0), -EINVAL);
  timespec ts = {0, 0};
  FD_ZERO(&rd);
  FD_SET(r_, &rd);
  EXPECT_EQ(Call(SYS_pselect6, r_ + 1, Put(rd), 0, 0, Put(ts), 0), 1);
}

}  // namespace
}  // namespace veil::sentry
