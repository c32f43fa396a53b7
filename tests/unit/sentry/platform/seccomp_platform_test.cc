// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/seccomp_platform.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/sentry/platform/launch_fixture.h"

namespace veil::sentry {
namespace {

using testing::LaunchTest;
using testing::MemfdWith;

constexpr char kPath[] = "/veil-platform-test";

TEST_F(LaunchTest, NotifiedCallAnsweredWithValue) {
  Start("getppid");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req) << req.error().code();
  EXPECT_EQ(req->nr, SYS_getppid);
  EXPECT_EQ(req->tid, task_.pid);
  EXPECT_TRUE(platform().StillPending(*req));
  Result<int64_t> r = platform().Answer(*req, SyscallAnswer::Value(4242));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 4242);
  // Exactly once: a second answer fails (EINPROGRESS while the task has
  // not yet taken the first, ENOENT after).
  Result<int64_t> again = platform().Answer(*req, SyscallAnswer::Value(1));
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().code() == EINPROGRESS || again.error().code() == ENOENT)
      << again.error().code();
  EXPECT_EQ(platform().Receive().error().code(), ECANCELED);
  int status;
  EXPECT_EQ(Finish(&status), "r=4242 errno=0\n");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(LaunchTest, NotifiedCallAnsweredWithErrno) {
  Start("getppid");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  Result<int64_t> r = platform().Answer(*req, SyscallAnswer::Error(Errno(EACCES)));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, -EACCES);
  int status;
  EXPECT_EQ(Finish(&status), "r=-1 errno=13\n");
}

TEST_F(LaunchTest, ContinueRunsTheCallNatively) {
  Start("getppid");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  Result<int64_t> r = platform().Answer(*req, SyscallAnswer::Continue());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0);
  int status;
  EXPECT_EQ(Finish(&status), "r=" + std::to_string(getpid()) + " errno=0\n");
}

TEST_F(LaunchTest, InstallsAnFdAtTheLowestFreeNumber) {
  Start("openat");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->nr, SYS_openat);
  char path[sizeof kPath] = {};
  Result<size_t> n = platform().ReadMemory(
      *req, TaskAddr(req->args[1]),
      std::span(reinterpret_cast<uint8_t*>(path), sizeof path));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, sizeof path);
  EXPECT_STREQ(path, kPath);
  UniqueFd memfd = MemfdWith("hello");
  Result<int64_t> fd = platform().Answer(
      *req, SyscallAnswer::InstallFd(memfd.get(), FdPlacement::kLowest, -1,
                                     CloseOnExec::kYes));
  ASSERT_TRUE(fd) << fd.error().code();
  EXPECT_EQ(*fd, 3);
  EXPECT_FALSE(platform().StillPending(*req));
  int status;
  EXPECT_EQ(Finish(&status), "fd=3 errno=0 cloexec=1 data=hello\n");
}

TEST_F(LaunchTest, InstallsAnFdAtAnExactNumberReplacingALiveOne) {
  Start("exact");  // the helper's pipe holds fds 3 and 4
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  UniqueFd memfd = MemfdWith("hello");
  Result<int64_t> fd = platform().Answer(
      *req, SyscallAnswer::InstallFd(memfd.get(), FdPlacement::kExact, 3,
                                     CloseOnExec::kNo));
  ASSERT_TRUE(fd) << fd.error().code();
  EXPECT_EQ(*fd, 3);
  int status;
  // fd 3 now reads the memfd; the pipe's write end (4) is untouched.
  EXPECT_EQ(Finish(&status), "fd=3 fd4=1 open=2 data=hello\n");
}

TEST_F(LaunchTest, AnFdTheTaskCannotTakeFailsTheCallWithTheKernelsErrno) {
  Start("openat");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  UniqueFd memfd = MemfdWith("hello");
  // Past RLIMIT_NOFILE: Linux's replace_fd (dup2) answers EBADF.
  Result<int64_t> fd = platform().Answer(
      *req, SyscallAnswer::InstallFd(memfd.get(), FdPlacement::kExact, 1 << 30,
                                     CloseOnExec::kNo));
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code(), EBADF);
  EXPECT_FALSE(platform().StillPending(*req));
  int status;
  EXPECT_EQ(Finish(&status), "fd=-1 errno=9 cloexec=-1 data=\n");
}

TEST_F(LaunchTest, ReceiveEndsWhenTheLastTaskDiesWithACallQueued) {
  Start("getppid");
  pollfd p{platform().ReceiveFd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, -1), 1);  // the call is queued, not yet received
  ASSERT_EQ(kill(task_.pid, SIGKILL), 0);
  int status = task_.tracer->Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(platform().Receive().error().code(), ECANCELED);
}

TEST_F(LaunchTest, MemoryCopiesStopAtTheEndOfAMapping) {
  Start("memory");  // args[1]: 100 bytes before an unmapped page
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  TaskAddr near_end(req->args[1]);
  uint8_t buf[200];
  Result<size_t> n = platform().ReadMemory(*req, near_end, buf);
  ASSERT_TRUE(n) << n.error().code();
  EXPECT_EQ(*n, 100u);
  for (size_t i = 0; i < 100; ++i) {
    ASSERT_EQ(buf[i], 'a' + (3996 + i) % 26) << i;
  }
  TaskAddr unmapped(req->args[1] + 100);
  EXPECT_EQ(platform().ReadMemory(*req, unmapped, std::span(buf, 10)).error().code(), EFAULT);
  EXPECT_EQ(platform().ReadMemory(*req, TaskAddr(~uint64_t{0} - 4), std::span(buf, 10)).error().code(),
            EFAULT);
  EXPECT_EQ(*platform().ReadMemory(*req, near_end, std::span(buf, 0)), 0u);
  // Writes: the same partial rule, and the task sees what was written.
  Result<size_t> w = platform().WriteMemory(*req, near_end, buf);
  ASSERT_TRUE(w);
  EXPECT_EQ(*w, 100u);
  EXPECT_EQ(platform().WriteMemory(*req, unmapped, std::span(buf, 1)).error().code(), EFAULT);
  const uint8_t hello[] = {'H', 'E', 'L', 'L', 'O'};
  Result<size_t> head = platform().WriteMemory(
      *req, TaskAddr(req->args[1] - (4096 - 100)), hello);
  ASSERT_TRUE(head);
  EXPECT_EQ(*head, 5u);
  ASSERT_TRUE(platform().Answer(*req, SyscallAnswer::Value(0)));
  int status;
  EXPECT_EQ(Finish(&status), "r=0 head=HELLO\n");
}

// Whether `sig` is pending for the task (thread or process queue).
bool SignalPending(pid_t tid, int sig) {
  std::ifstream in("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  uint64_t bit = uint64_t{1} << (sig - 1);
  while (std::getline(in, line)) {
    if (line.rfind("SigPnd:", 0) == 0 || line.rfind("ShdPnd:", 0) == 0) {
      if (std::stoull(line.substr(7), nullptr, 16) & bit) return true;
    }
  }
  return false;
}

// The task's scheduler state letter (/proc/TID/stat, after the name).
char TaskState(pid_t tid) {
  std::ifstream in("/proc/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

TEST_F(LaunchTest, SignalWhileANotificationIsPendingLeaksNoFd) {
  Start("signal");  // SIGUSR1 handler with SA_RESTART, then openat
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  ASSERT_EQ(kill(req->tid, SIGUSR1), 0);
  // Answer only once the signal is pending and the task sleeps killably
  // (state D): WAIT_KILLABLE_RECV keeps the call from being interrupted.
  // Without it the task wakes, withdraws the request, and the loop ends
  // with the answer bound to fail.
  while (!(SignalPending(req->tid, SIGUSR1) && TaskState(req->tid) == 'D') &&
         platform().StillPending(*req)) {
    sched_yield();
  }
  UniqueFd memfd = MemfdWith("x");
  Result<int64_t> fd = platform().Answer(
      *req, SyscallAnswer::InstallFd(memfd.get(), FdPlacement::kLowest, -1,
                                     CloseOnExec::kNo));
  ASSERT_TRUE(fd) << "interrupted: " << fd.error().code();
  EXPECT_EQ(*fd, 3);
  // One notification only: no restarted call follows.
  EXPECT_EQ(platform().Receive().error().code(), ECANCELED);
  int status;
  EXPECT_EQ(Finish(&status), "fd=3 handled=1 open=1\n");
}

// Sends SIGUSR1 to a task whose notified call waits, not yet received,
// and returns once the task has taken the signal (it left the wait).
void SignalBeforeReceive(Platform& platform, pid_t tid) {
  pollfd p{platform.ReceiveFd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, -1), 1);  // the call is queued: the task waits
  ASSERT_EQ(kill(tid, SIGUSR1), 0);
  while (SignalPending(tid, SIGUSR1)) sched_yield();
}

TEST_F(LaunchTest, ACallInterruptedBeforeItsReceiveRestartsWithoutSaRestart) {
  Start("nosarestart");
  SignalBeforeReceive(platform(), task_.pid);
  // The tracer made the call restart after the handler: it comes again
  // (the first request was withdrawn, which Receive skips).
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req) << req.error().code();
  EXPECT_EQ(req->nr, SYS_getppid);
  ASSERT_TRUE(platform().Answer(*req, SyscallAnswer::Value(4242)));
  EXPECT_EQ(platform().Receive().error().code(), ECANCELED);
  int status;
  EXPECT_EQ(Finish(&status), "r=4242 errno=0 handled=1\n");
}

TEST_F(LaunchTest, ASentrysOwnRestartCodeKeepsLinuxsSaRestartRule) {
  Start("nosarestart");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  ASSERT_EQ(kill(req->tid, SIGUSR1), 0);
  while (!SignalPending(req->tid, SIGUSR1)) sched_yield();
  // The sentry interrupted the call for the signal: -ERESTARTSYS, marked
  // first, which the tracer leaves alone; a handler without SA_RESTART
  // sees EINTR, as on Linux.
  observer_.restart_answered = true;
  ASSERT_TRUE(platform().Answer(*req, SyscallAnswer::Error(Errno(512))));
  Result<SyscallRequest> again = platform().Receive();
  if (again) {
    ADD_FAILURE() << "the call restarted";
    (void)platform().Answer(*again, SyscallAnswer::Value(7));
  } else {
    EXPECT_EQ(again.error().code(), ECANCELED);
  }
  int status;
  EXPECT_EQ(Finish(&status), "r=-1 errno=EINTR handled=1\n");
  EXPECT_FALSE(observer_.restart_answered.load());  // taken by the tracer
}

TEST_F(LaunchTest, ARestartCodeAnsweredBeforeAStopIsDecidedAtSigcont) {
  Start("nosarestart");
  Result<SyscallRequest> req = platform().Receive();
  ASSERT_TRUE(req);
  ASSERT_EQ(kill(req->tid, SIGSTOP), 0);
  while (!SignalPending(req->tid, SIGSTOP)) sched_yield();
  observer_.restart_answered = true;
  ASSERT_TRUE(platform().Answer(*req, SyscallAnswer::Error(Errno(512))));
  // SIGSTOP (no handler) stops the task with the call's fate open; the
  // SIGCONT handler, without SA_RESTART, makes it EINTR, as on Linux.
  while (TaskState(req->tid) != 't' && TaskState(req->tid) != 'T')
    sched_yield();
  ASSERT_EQ(kill(req->tid, SIGCONT), 0);
  Result<SyscallRequest> again = platform().Receive();
  if (again) {
    ADD_FAILURE() << "the call restarted";
    (void)platform().Answer(*again, SyscallAnswer::Value(7));
  } else {
    EXPECT_EQ(again.error().code(), ECANCELED);
  }
  int status;
  EXPECT_EQ(Finish(&status), "r=-1 errno=EINTR handled=1\n");
}

TEST_F(LaunchTest, ASignalStormDuringTrappedCallsLeaksNoFd) {
  Start("storm");
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, task_.pid, 0)));
  ASSERT_TRUE(pidfd);
  std::atomic<bool> done{false};
  std::thread storm;
  UniqueFd memfd = MemfdWith("x");
  int answered = 0;
  for (;;) {
    Result<SyscallRequest> req = platform().Receive();
    if (!req) {
      EXPECT_EQ(req.error().code(), ECANCELED);
      break;
    }
    if (!storm.joinable()) {
      // The first open: the handler is in place, the storm may begin.
      storm = std::thread([&] {
        while (!done.load()) {
          syscall(SYS_pidfd_send_signal, pidfd.get(), SIGUSR1, nullptr, 0);
          sched_yield();
        }
      });
    }
    Result<int64_t> fd = platform().Answer(
        *req, SyscallAnswer::InstallFd(memfd.get(), FdPlacement::kLowest, -1,
                                       CloseOnExec::kNo));
    // ENOENT would mean the call comes again; it must not leave an fd.
    if (fd) ++answered;
  }
  done = true;
  if (storm.joinable()) storm.join();
  int status;
  std::string out = Finish(&status);
  int opened = -1;
  ASSERT_EQ(sscanf(out.c_str(), "opened=%d", &opened), 1) << out;
  EXPECT_GE(opened, 300);
  EXPECT_EQ(out, "opened=" + std::to_string(opened) + " failed=0 open=0 caught=1\n");
  EXPECT_EQ(answered, opened);
}

}  // namespace
}  // namespace veil::sentry
