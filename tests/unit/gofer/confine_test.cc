// SPDX-License-Identifier: Apache-2.0
//
// EnterRoot and RestrictSelf, each in a forked child (they change the
// process for good). A child reports which check failed through its exit
// status; a seccomp kill shows up as SIGSYS.
#include "gofer/server/confine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "tests/unit/gofer/gofer_test_util.h"

namespace veil::gofer::testing {
namespace {

// Runs `body` in a child; returns its wait status. `body` returns the exit
// code: 0 for success, or the number of the check that failed.
int InChild(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) _exit(body());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

bool Exited0(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class ConfineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = WhyNoConfinement()) GTEST_SKIP() << *why;
    WriteFile(scratch_.InRoot("marker"), "inside");
    WriteFile(scratch_.outside() + "/canary", "outside");
  }
  Scratch scratch_;
};

TEST_F(ConfineTest, EnterRootMakesTheExportTheWholeFilesystem) {
  const std::string outside_canary = scratch_.outside() + "/canary";
  const int status = InChild([&] {
    if (!EnterRoot(scratch_.root(), Access::kReadWrite)) return 1;
    if (ReadFile("/marker") != "inside") return 2;
    struct stat root = {}, parent = {};
    if (::stat("/", &root) != 0 || ::stat("/..", &parent) != 0) return 3;
    if (root.st_ino != parent.st_ino) return 4;  // ".." of / is /.
    struct stat st = {};
    if (::stat(outside_canary.c_str(), &st) == 0) return 5;
    if (::stat("/../outside/canary", &st) == 0) return 6;
    if (::stat("/proc/self", &st) == 0) return 7;  // No /proc either.
    char cwd[64] = {};
    if (::getcwd(cwd, sizeof(cwd)) == nullptr || std::string(cwd) != "/") {
      return 8;
    }
    return 0;
  });
  EXPECT_TRUE(Exited0(status)) << GoferProcess::Describe(status);
}

TEST_F(ConfineTest, TheHostMountTableIsUntouched) {
  const std::string before = ReadFile("/proc/self/mountinfo");
  const int status = InChild(
      [&] { return EnterRoot(scratch_.root(), Access::kReadOnly) ? 0 : 1; });
  EXPECT_TRUE(Exited0(status)) << GoferProcess::Describe(status);
  EXPECT_EQ(ReadFile("/proc/self/mountinfo"), before);
}

TEST_F(ConfineTest, ReadOnlyIsEnforcedByTheKernel) {
  const int status = InChild([&] {
    if (!EnterRoot(scratch_.root(), Access::kReadOnly)) return 1;
    if (::mkdir("/new", 0755) == 0 || errno != EROFS) return 2;
    if (::open("/marker", O_WRONLY) >= 0 || errno != EROFS) return 3;
    return 0;
  });
  EXPECT_TRUE(Exited0(status)) << GoferProcess::Describe(status);
}

TEST_F(ConfineTest, TheExportIsNodevAndNosuid) {
  ASSERT_EQ(
      ::mknod(scratch_.InRoot("null").c_str(), S_IFCHR | 0666, makedev(1, 3)),
      0);
  const int status = InChild([&] {
    if (!EnterRoot(scratch_.root(), Access::kReadWrite)) return 1;
    // nodev: a device node in the export cannot be opened at all.
    if (::open("/null", O_RDONLY) >= 0 || errno != EACCES) return 2;
    return 0;
  });
  EXPECT_TRUE(Exited0(status)) << GoferProcess::Describe(status);
}

TEST_F(ConfineTest, EnterRootReportsTheFailingStep) {
  const int status = InChild([&] {
    Result<void> entered = EnterRoot(scratch_.InRoot("marker"),
                                     Access::kReadWrite);  // Not a dir.
    if (entered) return 1;
    const char* message = entered.error().message();
    if (message == nullptr || std::string(message).find("confine:") != 0) {
      return 2;
    }
    return 0;
  });
  EXPECT_TRUE(Exited0(status)) << GoferProcess::Describe(status);
}

// Confines fully, then runs `call`; returns the wait status.
int ConfinedThen(const std::string& root, const std::function<int()>& call) {
  return InChild([&] {
    if (!EnterRoot(root, Access::kReadWrite)) return 100;
    if (!RestrictSelf()) return 101;
    return call();
  });
}

TEST_F(ConfineTest, WhatTheServerNeedsStillWorks) {
  const int status = ConfinedThen(scratch_.root(), [] {
    // Threads (clone3 refused, clone with thread flags allowed).
    int value = 0;
    std::thread([&value] { value = 1; }).join();
    if (value != 1) return 1;
    // Extra channels.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      return 2;
    }
    // Memory.
    void* p = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || ::munmap(p, 1 << 20) != 0) return 3;
    // openat(2) is refused politely (the gofer uses openat2).
    if (::open("/marker", O_RDONLY) >= 0 || errno != EACCES) return 4;
    if (::syscall(SYS_clone3, nullptr, 0) >= 0 || errno != ENOSYS) return 5;
    return 0;
  });
  EXPECT_TRUE(Exited0(status)) << GoferProcess::Describe(status);
}

struct Forbidden {
  const char* name;
  std::function<void()> call;
};

TEST_F(ConfineTest, SeccompKillsEverythingElse) {
  const Forbidden forbidden[] = {
      {"ptrace", [] { ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr); }},
      {"process_vm_readv",
       [] {
         char buf[8];
         struct iovec local = {buf, sizeof(buf)}, remote = {buf, sizeof(buf)};
         ::process_vm_readv(1, &local, 1, &remote, 1, 0);
       }},
      {"mount", [] { ::mount("none", "/", "tmpfs", 0, nullptr); }},
      {"umount2", [] { ::umount2("/", MNT_DETACH); }},
      {"chroot", [] { ::chroot("/"); }},
      {"unshare", [] { ::unshare(CLONE_NEWNS); }},
      {"setns", [] { ::setns(0, 0); }},
      {"execve", [] { ::execl("/bin/true", "true", nullptr); }},
      {"socket", [] { ::socket(AF_INET, SOCK_STREAM, 0); }},
      {"fork", [] { ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }},
      {"open_by_handle_at",
       [] { ::syscall(SYS_open_by_handle_at, 0, nullptr, 0); }},
      {"mmap PROT_EXEC",
       [] {
         ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
       }},
      {"kill another process", [] { ::kill(1, 0); }},
      {"fcntl F_SETOWN", [] { ::fcntl(0, F_SETOWN, 1); }},
  };
  for (const Forbidden& f : forbidden) {
    const int status = ConfinedThen(scratch_.root(), [&] {
      f.call();
      return 0;
    });
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        << f.name << ": " << GoferProcess::Describe(status);
  }
}

}  // namespace
}  // namespace veil::gofer::testing
