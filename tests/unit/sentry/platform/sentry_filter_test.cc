// SPDX-License-Identifier: Apache-2.0
//
// The sentry's own seccomp allowlist (sentry_allowlist.h, installed by
// InstallSentryFilter): applied in a forked child, an allowed call runs and
// anything else kills the whole process with SIGSYS.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include <gtest/gtest.h>

#include "base/proc_dir.h"
#include "sentry/platform/self_confine.h"
#include "sentry/platform/sentry_allowlist.h"

namespace veil::sentry {
namespace {

// Runs `body` in a child under the sentry's filter (kill mode); the
// child's wait status. Exit 0: body returned; 90: the filter was refused.
int UnderFilter(const std::function<void()>& body,
                const std::function<void()>& before = [] {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    before();
    if (!InstallSentryFilter(FilterMode::kKill)) _exit(90);
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

bool KilledBySigsys(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

TEST(SentryFilterTest, AllowedCallsRun) {
  const int status = UnderFilter([] {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) _exit(1);
    if (write(fds[1], "x", 1) != 1) _exit(2);
    char c;
    if (read(fds[0], &c, 1) != 1 || c != 'x') _exit(3);
    if (syscall(SYS_getpid) <= 0) _exit(4);
    // An allowed ioctl request fails natively (a pipe is no terminal).
    termios t;
    if (ioctl(fds[0], TCGETS, &t) == 0 || errno != ENOTTY) _exit(5);
    // clone3 answers ENOSYS (libc then uses clone).
    if (syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) _exit(6);
    if (memfd_create("t", MFD_CLOEXEC) < 0) _exit(7);
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SentryFilterTest, OpenatOfAHostPathFailsOrKills) {
  // From the cwd or absolute: EACCES (glibc's own lazy opens cope), and
  // the empty root would hold nothing anyway.
  const int fdcwd = UnderFilter([] {
    if (syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC) !=
            -1 ||
        errno != EACCES)
      _exit(1);
  });
  ASSERT_TRUE(WIFEXITED(fdcwd)) << fdcwd;
  EXPECT_EQ(WEXITSTATUS(fdcwd), 0);
  EXPECT_TRUE(KilledBySigsys(
      UnderFilter([] { syscall(SYS_open, "/etc/passwd", O_RDONLY); })));
  // From any other directory the sentry holds: killed.
  static int root_fd = -1;
  EXPECT_TRUE(KilledBySigsys(UnderFilter(
      [] { syscall(SYS_openat, root_fd, "etc/passwd", O_RDONLY | O_CLOEXEC); },
      [] { root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC); })));
}

TEST(SentryFilterTest, OpenatRelativeToTheProcDirOnly) {
  // The procfs descriptor given to SetProcDir before the filter is the
  // one openat may use.
  auto before = [] {
    SetProcDir(UniqueFd(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  };
  const int ok = UnderFilter(
      [] {
        if (syscall(SYS_openat, ProcDirFd(), "self/status",
                    O_RDONLY | O_CLOEXEC) < 0)
          _exit(1);
      },
      before);
  ASSERT_TRUE(WIFEXITED(ok)) << ok;
  EXPECT_EQ(WEXITSTATUS(ok), 0);
  static int root_fd = -1;
  EXPECT_TRUE(KilledBySigsys(UnderFilter(
      [] { syscall(SYS_openat, root_fd, "proc", O_RDONLY | O_CLOEXEC); },
      [&] {
        before();
        root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      })));
}

TEST(SentryFilterTest, ExecveKills) {
  EXPECT_TRUE(KilledBySigsys(UnderFilter([] {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    syscall(SYS_execve, "/bin/true", argv, nullptr);
  })));
}

TEST(SentryFilterTest, AProcessCannotBeMadeOnlyThreads) {
  // fork is clone without CLONE_THREAD.
  EXPECT_TRUE(KilledBySigsys(UnderFilter([] { syscall(SYS_fork); })));
  EXPECT_TRUE(KilledBySigsys(
      UnderFilter([] { syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); })));
}

TEST(SentryFilterTest, OtherCallsAndIoctlRequestsKill) {
  // The tasks' families only (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK).
  EXPECT_TRUE(KilledBySigsys(
      UnderFilter([] { syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0); })));
  EXPECT_TRUE(KilledBySigsys(
      UnderFilter([] { syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0); })));
  EXPECT_TRUE(KilledBySigsys(UnderFilter([] {
    syscall(SYS_mount, "none", "/", "tmpfs", 0, nullptr);
  })));
  EXPECT_TRUE(KilledBySigsys(UnderFilter([] {
    char c = 'x';
    syscall(SYS_ioctl, 0, TIOCSTI, &c);  // push input into a terminal
  })));
  EXPECT_TRUE(KilledBySigsys(UnderFilter([] { syscall(SYS_unshare, 0); })));
}

TEST(SentryFilterTest, AllowlistHasNoDuplicate) {
  auto list = SentryAllowlist();
  for (size_t i = 0; i < list.size(); ++i) {
    for (size_t j = i + 1; j < list.size(); ++j) {
      EXPECT_NE(list[i].nr, list[j].nr) << list[i].name;
    }
  }
}

}  // namespace
}  // namespace veil::sentry
