// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/fake_platform.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/unique_fd.h"
#include "tests/util/matchers.h"

namespace veil::sentry {
namespace {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOkAndHolds;

SyscallRequest Req(pid_t tid) {
  SyscallRequest r;
  r.id = 7;
  r.tid = tid;
  r.nr = 0;
  return r;
}

TEST(FakePlatformTest, ReadsStopAtTheFirstUnmappedByte) {
  FakePlatform p;
  p.Map(1, 0x1000, 16);
  p.Map(1, 0x1010, 16);  // adjacent: one range of 32 bytes
  uint8_t buf[64];
  EXPECT_THAT(p.ReadMemory(Req(1), TaskAddr(0x1008), buf), IsOkAndHolds(24u));
  EXPECT_THAT(p.ReadMemory(Req(1), TaskAddr(0x1020), buf), ErrnoIs(EFAULT));
  EXPECT_THAT(p.ReadMemory(Req(1), TaskAddr(0xfff), buf), ErrnoIs(EFAULT));
  EXPECT_THAT(p.ReadMemory(Req(2), TaskAddr(0x1000), buf), ErrnoIs(ESRCH));
}

TEST(FakePlatformTest, WritesLandAndArePartial) {
  FakePlatform p;
  p.Map(1, 0x1000, 4);
  const uint8_t data[] = {1, 2, 3, 4, 5, 6};
  EXPECT_THAT(p.WriteMemory(Req(1), TaskAddr(0x1002), data), IsOkAndHolds(2u));
  uint8_t out[4];
  ASSERT_TRUE(p.Peek(1, 0x1000, out));
  EXPECT_EQ(out[2], 1);
  EXPECT_EQ(out[3], 2);
}

TEST(FakePlatformTest, RecordsAnswersWithTheInstalledFile) {
  FakePlatform p;
  UniqueFd fd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_THAT(
      p.Answer(Req(1), SyscallAnswer::InstallFd(fd.get(), FdPlacement::kExact,
                                                9, CloseOnExec::kYes)),
      IsOkAndHolds(9));
  EXPECT_THAT(p.Answer(Req(1), SyscallAnswer::Error(Errno(ENOENT))),
              IsOkAndHolds(-ENOENT));
  auto answers = p.answers();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].installed_ino, st.st_ino);
  EXPECT_EQ(answers[0].installed_dev, st.st_dev);
  EXPECT_EQ(answers[0].answer.cloexec(), CloseOnExec::kYes);
}

TEST(FakePlatformTest, SwitchesForGoneAndInterruptedTasks) {
  FakePlatform p;
  EXPECT_TRUE(p.StillPending(Req(1)));
  p.SetStillPending(FakePlatform::Pending::kNo);
  EXPECT_FALSE(p.StillPending(Req(1)));
  p.SetAnswerOutcome(FakePlatform::AnswerOutcome::kFailEnoent);
  EXPECT_THAT(p.Answer(Req(1), SyscallAnswer::Value(0)), ErrnoIs(ENOENT));
  EXPECT_TRUE(p.answers().empty());
}

TEST(FakePlatformTest, ReceiveGivesScriptedRequestsInOrder) {
  FakePlatform p;
  SyscallRequest a = Req(1), b = Req(2);
  b.nr = 3;
  p.Push(a);
  p.Push(b);
  EXPECT_EQ(p.Receive()->tid, 1);
  EXPECT_EQ(p.Receive()->nr, 3);
  EXPECT_THAT(p.Receive(), ErrnoIs(EINTR));
  p.Finish();
  EXPECT_THAT(p.Receive(), ErrnoIs(ECANCELED));
}

}  // namespace
}  // namespace veil::sentry
