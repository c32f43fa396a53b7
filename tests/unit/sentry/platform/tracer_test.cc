// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/tracer.h"

#include <sys/syscall.h>
#include <sys/wait.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/unit/sentry/platform/launch_fixture.h"

namespace veil::sentry {
namespace {

using testing::Event;
using testing::LaunchTest;

TEST_F(LaunchTest, TracerReportsAForkChildAndItsExitStatus) {
  Start("fork");
  int status;
  std::string out = Finish(&status);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // The helper prints the child's pid and the status it reaped.
  int child = 0, child_status = -1;
  ASSERT_EQ(sscanf(out.c_str(), "child=%d status=%d", &child, &child_status), 2) << out;
  EXPECT_TRUE(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 7);

  pid_t first = task_.pid;
  std::vector<Event> events = observer_.events();
  std::vector<Event> want = {
      {Event::kExecStop, first, SYS_execve, SYS_execve},
      {Event::kExec, first, first, 0},
      {Event::kClone, first, child, static_cast<int>(CloneKind::kFork)},
      {Event::kExit, child, 0, child_status},
      {Event::kExit, first, 0, status},
  };
  EXPECT_EQ(events, want);
}

TEST(Launch, RefusesAFilterThatStopsTheChildBeforeExec) {
  std::vector<SeccompRule> rules = {{SYS_sendmsg, SeccompAction::Notify()}};
  auto filter = SeccompFilter::Create(rules, SeccompAction::Allow());
  ASSERT_TRUE(filter);
  testing::RecordingObserver observer;
  LaunchSpec spec;
  spec.path = VEIL_PLATFORM_HELPER;
  spec.argv = {"helper", "fork"};
  EXPECT_EQ(Launch(*filter, spec, observer, SyncWakeUp::kOn).error().code(), EINVAL);
}

TEST(Launch, ReportsAFailedExecAsTheTasksExit) {
  testing::RecordingObserver observer;
  LaunchSpec spec;
  spec.path = "/nonexistent/veil-helper";
  spec.argv = {"helper"};
  Result<Launched> launched =
      Launch(testing::TestFilter(), spec, observer, SyncWakeUp::kOn);
  ASSERT_TRUE(launched);
  int status = launched->tracer->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 127) << status;
}

}  // namespace
}  // namespace veil::sentry
