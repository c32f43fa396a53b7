// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/tracer.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

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

TEST_F(LaunchTest, LaunchPassesArgvAndEnvpAndNoSentryFd) {
  // An fd of ours without O_CLOEXEC still does not reach the task.
  UniqueFd leaky(open("/dev/null", O_RDONLY));
  ASSERT_TRUE(leaky);
  Start("env", {"two words"}, {"VEIL_TEST=x=y"});
  int status;
  EXPECT_EQ(Finish(&status), "argc=3 argv2=two words env=x=y open=0\n");
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

namespace veil::sentry {
namespace {

using testing::Event;
using testing::LaunchTest;

// The events other than the first task's exec (stop and event).
std::vector<Event> AfterExec(std::vector<Event> events) {
  if (events.size() >= 2 && events[0].kind == Event::kExecStop &&
      events[1].kind == Event::kExec) {
    events.erase(events.begin(), events.begin() + 2);
  }
  return events;
}

TEST_F(LaunchTest, TracerReportsAVforkChild) {
  Start("vfork");
  int status;
  std::string out = Finish(&status);
  int child = 0, child_status = -1;
  ASSERT_EQ(sscanf(out.c_str(), "child=%d status=%d", &child, &child_status), 2) << out;
  EXPECT_TRUE(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 3);
  std::vector<Event> want = {
      {Event::kClone, task_.pid, child, static_cast<int>(CloneKind::kVfork)},
      {Event::kExit, child, 0, child_status},
      {Event::kExit, task_.pid, 0, status},
  };
  EXPECT_EQ(AfterExec(observer_.events()), want);
}

TEST_F(LaunchTest, TracerReportsAThreadAndItsExit) {
  Start("thread");
  int status;
  EXPECT_EQ(Finish(&status), "joined\n");
  std::vector<Event> events = AfterExec(observer_.events());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, Event::kClone);
  EXPECT_EQ(events[0].a, task_.pid);
  EXPECT_EQ(events[0].c, static_cast<int>(CloneKind::kClone));
  pid_t thread = static_cast<pid_t>(events[0].b);
  EXPECT_EQ(events[1], (Event{Event::kExit, thread, 0, 0}));
  EXPECT_EQ(events[2], (Event{Event::kExit, task_.pid, 0, status}));
}

TEST_F(LaunchTest, AThreadsExecIsReportedUnderTheLeadersTid) {
  Start("threadexec", {VEIL_PLATFORM_HELPER});
  int status;
  EXPECT_EQ(Finish(&status), "argc=3 argv2=from-thread env=(none) open=0\n");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::vector<Event> events = AfterExec(observer_.events());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, Event::kClone);
  pid_t thread = static_cast<pid_t>(events[0].b);
  EXPECT_EQ(events[1], (Event{Event::kExecStop, thread, SYS_execve, SYS_execve}));
  EXPECT_EQ(events[2], (Event{Event::kExec, task_.pid, thread, 0}));
  EXPECT_EQ(events[3], (Event{Event::kExit, task_.pid, 0, status}));
}

TEST_F(LaunchTest, TracerPassesSignalsOn) {
  Start("signals");
  int status;
  EXPECT_EQ(Finish(&status), "usr1=1 sigchld=1\n");
}

TEST_F(LaunchTest, FreezeStopsEveryTaskUntilThaw) {
  Start("ticks");
  // Both tasks tick, then none while frozen, then both again to the end.
  std::string before;
  char buf[256];
  while (before.find('c') == std::string::npos ||
         before.find('p') == std::string::npos) {
    ssize_t n = read(out_read_.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    before.append(buf, static_cast<size_t>(n));
  }
  ASSERT_TRUE(task_.tracer->Freeze([](pid_t) { return false; },
                                   std::chrono::seconds(5)));
  // Ticks written before the stop may still be in the pipe: drain them.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(fcntl(out_read_.get(), F_SETFL, O_NONBLOCK), 0);
  while (read(out_read_.get(), buf, sizeof buf) > 0) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LT(read(out_read_.get(), buf, sizeof buf), 0);  // nothing: frozen
  EXPECT_EQ(errno, EAGAIN);
  ASSERT_EQ(fcntl(out_read_.get(), F_SETFL, 0), 0);
  task_.tracer->Thaw();
  int status;
  std::string rest = Finish(&status);
  // The parent saw its child exit normally: the stops were the tracer's.
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(rest.empty());
}

TEST_F(LaunchTest, AFreezeOutOfTimeThawsAndTheTasksGoOn) {
  Start("ticks");
  // No time at all: the freeze gives up (ETIMEDOUT), thaws what it
  // stopped, and the tasks run to their end.
  Result<void> frozen = task_.tracer->Freeze([](pid_t) { return false; },
                                             std::chrono::milliseconds(0));
  ASSERT_FALSE(frozen);
  EXPECT_EQ(frozen.error().code(), ETIMEDOUT);
  int status;
  Finish(&status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(LaunchTest, TracerKeepsAGroupStopStoppedUntilSigcont) {
  Start("jobctl");
  int status;
  EXPECT_EQ(Finish(&status), "stopped=19 exit=5\n");
}

TEST_F(LaunchTest, APendingNotificationDoesNotDelayTheTracer) {
  Start("slow");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->tid, task_.pid);
  // Unanswered, the parent waits; its child's exit is still reported.
  pid_t child = observer_.WaitForClone();
  observer_.WaitForExit(child);
  ASSERT_TRUE(platform().Answer(*req, SyscallAnswer::Value(77)));
  int status;
  EXPECT_EQ(Finish(&status), "r=77 status=2304\n");  // exit 9
}

TEST_F(LaunchTest, ExecStopCanSkipTheCallWithAnErrno) {
  observer_.deny_later_execs = EACCES;
  Start("exec");
  int status;
  EXPECT_EQ(Finish(&status), "errno=13\n");
  std::vector<Event> events = AfterExec(observer_.events());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0], (Event{Event::kExecStop, task_.pid, SYS_execve, SYS_execve}));
}

TEST_F(LaunchTest, ExecStopCanRedirectTheExecToAHostProgram) {
  observer_.redirect_later_execs = VEIL_PLATFORM_HELPER;
  Start("exec");  // execve of a path that does not exist
  int status;
  EXPECT_EQ(Finish(&status), "argc=3 argv2=redirected env=(none) open=0\n");
  std::vector<Event> events = AfterExec(observer_.events());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], (Event{Event::kExecStop, task_.pid, SYS_execve, SYS_execve}));
  EXPECT_EQ(events[1], (Event{Event::kExec, task_.pid, task_.pid, 0}));
}

TEST_F(LaunchTest, ExecStopLeftAloneRunsTheCall) {
  Start("exec");
  int status;
  EXPECT_EQ(Finish(&status), "errno=2\n");
}

// The tasks' mount namespace (launcher.h, kEmptyRoot): a native path
// call finds the program and nothing else; nothing can be made there.
TEST_F(LaunchTest, EmptyRootHoldsOnlyTheProgramReadOnly) {
  Start("root", {}, {}, MountNamespace::kEmptyRoot);
  int status;
  EXPECT_EQ(Finish(&status), "proc=2 passwd=2 self=0 mkdir=30 ro_tmpfs=1\n");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(LaunchTest, EmptyRootNeedsANameAndTheProgram) {
  LaunchSpec spec;
  spec.argv = {"helper", "root"};
  spec.mount_namespace = MountNamespace::kEmptyRoot;
  spec.path = "/helper";  // no program_fd
  EXPECT_EQ(Launch(testing::TestFilter(), spec, observer_, SyncWakeUp::kOn)
                .error()
                .code(),
            EINVAL);
  UniqueFd program(open(VEIL_PLATFORM_HELPER, O_RDONLY | O_CLOEXEC));
  spec.program_fd = program.get();
  for (const char* bad : {"helper", "/", "/a/b"}) {
    spec.path = bad;
    EXPECT_EQ(Launch(testing::TestFilter(), spec, observer_, SyncWakeUp::kOn)
                  .error()
                  .code(),
              EINVAL)
        << bad;
  }
}

}  // namespace
}  // namespace veil::sentry
