// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/seccomp_filter.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace veil::sentry {
namespace {

// Runs a cBPF program as the kernel does, for the instructions the filter
// emits (ld abs, jeq, jge, jset, ja, ret).
uint32_t RunBpf(std::span<const sock_filter> prog, uint32_t arch, int32_t nr,
                uint64_t arg0 = 0) {
  seccomp_data data{};
  data.arch = arch;
  data.nr = nr;
  data.args[0] = arg0;
  uint32_t acc = 0;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& f = prog[pc];
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_ABS: {
        uint32_t word;
        memcpy(&word, reinterpret_cast<const char*>(&data) + f.k, 4);
        acc = word;
        break;
      }
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += acc == f.k ? f.jt : f.jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += acc >= f.k ? f.jt : f.jf;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += (acc & f.k) != 0 ? f.jt : f.jf;
        break;
      case BPF_JMP | BPF_JA:
        pc += f.k;
        break;
      case BPF_RET | BPF_K:
        return f.k;
      default:
        ADD_FAILURE() << "unexpected BPF code " << f.code;
        return 0;
    }
  }
  ADD_FAILURE() << "ran off the end of the program";
  return 0;
}

void ExpectAgrees(const SeccompFilter& filter, int32_t nr) {
  EXPECT_EQ(RunBpf(filter.program(), AUDIT_ARCH_X86_64, nr),
            filter.ActionFor(nr).ReturnValue())
      << "nr " << nr;
}

TEST(SeccompFilter, ProgramAgreesWithTableForEveryNumber) {
  std::vector<SeccompRule> rules = {
      {SYS_openat, SeccompAction::Notify()},
      {SYS_ptrace, SeccompAction::Error(EPERM)},
      {SYS_execve, SeccompAction::Trace(SYS_execve)},
      {SYS_execveat, SeccompAction::Trace(SYS_execveat)},
      {SYS_getppid, SeccompAction::Allow()},
      {0, SeccompAction::Allow()},
  };
  auto filter = SeccompFilter::Create(rules, SeccompAction::Error(ENOSYS));
  ASSERT_TRUE(filter) << filter.error().code();
  for (int32_t nr = 0; nr < 2000; ++nr) ExpectAgrees(*filter, nr);
  ExpectAgrees(*filter, 0x3fffffff);
  ExpectAgrees(*filter, INT32_MIN);
  EXPECT_EQ(filter->ActionFor(SYS_openat), SeccompAction::Notify());
  EXPECT_EQ(filter->ActionFor(1000), SeccompAction::Error(ENOSYS));
}

TEST(SeccompFilter, LongTablesUseFarJumpsAndStillAgree) {
  // Alternating actions: one range per number, so subtrees exceed the
  // 8-bit jump offsets.
  std::vector<SeccompRule> rules;
  for (int32_t nr = 0; nr < 1200; ++nr) {
    rules.push_back({nr, nr % 3 == 0   ? SeccompAction::Notify()
                         : nr % 3 == 1 ? SeccompAction::Error(uint16_t(1 + nr % 100))
                                       : SeccompAction::Trace(uint16_t(nr))});
  }
  auto filter = SeccompFilter::Create(rules, SeccompAction::Allow());
  ASSERT_TRUE(filter);
  bool far_jump = false;
  for (const sock_filter& f : filter->program()) {
    far_jump |= f.code == (BPF_JMP | BPF_JA);
  }
  EXPECT_TRUE(far_jump);
  for (int32_t nr = 0; nr < 1300; ++nr) ExpectAgrees(*filter, nr);
}

TEST(SeccompFilter, KillsOtherArchesAndX32Numbers) {
  auto filter = SeccompFilter::Create({}, SeccompAction::Allow());
  ASSERT_TRUE(filter);
  EXPECT_EQ(RunBpf(filter->program(), AUDIT_ARCH_I386, 20), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(RunBpf(filter->program(), AUDIT_ARCH_X86_64, 0x40000000 | SYS_getppid),
            SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(RunBpf(filter->program(), AUDIT_ARCH_X86_64, -1), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(RunBpf(filter->program(), AUDIT_ARCH_X86_64, SYS_getppid), SECCOMP_RET_ALLOW);
}

TEST(SeccompFilter, RejectsBadRules) {
  std::vector<SeccompRule> twice = {{1, SeccompAction::Allow()},
                                    {1, SeccompAction::Notify()}};
  EXPECT_EQ(SeccompFilter::Create(twice, SeccompAction::Allow()).error().code(), EINVAL);
  std::vector<SeccompRule> x32 = {{0x40000001, SeccompAction::Allow()}};
  EXPECT_EQ(SeccompFilter::Create(x32, SeccompAction::Allow()).error().code(), EINVAL);
  std::vector<SeccompRule> negative = {{-1, SeccompAction::Allow()}};
  EXPECT_EQ(SeccompFilter::Create(negative, SeccompAction::Allow()).error().code(), EINVAL);
  std::vector<SeccompRule> zero_errno = {{1, SeccompAction::Error(0)}};
  EXPECT_EQ(SeccompFilter::Create(zero_errno, SeccompAction::Allow()).error().code(), EINVAL);
  EXPECT_EQ(SeccompFilter::Create({}, SeccompAction::Error(4096)).error().code(), EINVAL);
}

// Runs the helper in `mode` under `filter` (no listener, no tracer);
// returns its wait status and puts its stdout in `out`.
int RunHelper(const SeccompFilter& filter, const char* mode, std::string* out) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  const char* argv[] = {VEIL_PLATFORM_HELPER, mode, nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], 1);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(120);
    if (!filter.Install(FilterListener::kNone)) _exit(121);
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(122);
  }
  close(pipe_fds[1]);
  char buf[256];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) out->append(buf, size_t(n));
  close(pipe_fds[0]);
  int status = -1;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

SeccompFilter LiveFilter() {
  std::vector<SeccompRule> rules = {{SYS_ptrace, SeccompAction::Error(EPERM)}};
  return *SeccompFilter::Create(rules, SeccompAction::Allow());
}

TEST(SeccompFilterLive, X32NumberKillsTheTaskWithSigsys) {
  std::string out;
  int status = RunHelper(LiveFilter(), "x32", &out);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(SeccompFilterLive, Int80KillsTheTaskWithSigsys) {
  std::string out;
  int status = RunHelper(LiveFilter(), "int80", &out);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(SeccompFilterLive, DeniedCallFailsWithItsErrno) {
  std::string out;
  int status = RunHelper(LiveFilter(), "ptrace", &out);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), EPERM);
}

TEST(SeccompFilterLive, AllowedCallRunsNatively) {
  std::string out;
  int status = RunHelper(LiveFilter(), "getppid", &out);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(out, "r=" + std::to_string(getpid()) + " errno=0\n");
}

TEST(SeccompFilterTest, ArgumentGuardOverridesTheRuleForMaskedBits) {
  const SeccompRule rules[] = {{SYS_clone, SeccompAction::Allow()},
                               {SYS_getppid, SeccompAction::Allow()}};
  const SeccompArgGuard guards[] = {
      {SYS_clone, 0, 0x10000000 /* CLONE_NEWUSER */,
       SeccompAction::Error(EPERM)}};
  auto filter =
      SeccompFilter::Create(rules, SeccompAction::Error(ENOSYS), guards);
  ASSERT_TRUE(filter.has_value());
  auto run = [&](int32_t nr, uint64_t arg0) {
    return RunBpf(filter->program(), AUDIT_ARCH_X86_64, nr, arg0);
  };
  EXPECT_EQ(run(SYS_clone, 0x11 /* SIGCHLD */), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(SYS_clone, 0x10000011), SECCOMP_RET_ERRNO | EPERM);
  // Only the low word is checked: a high bit alone does not match.
  EXPECT_EQ(run(SYS_clone, uint64_t{0x10000000} << 32), SECCOMP_RET_ALLOW);
  // Another number with the same argument is not guarded.
  EXPECT_EQ(run(SYS_getppid, 0x10000000), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(SYS_getpid, 0x10000000), SECCOMP_RET_ERRNO | ENOSYS);
  // A guard must name a real number, argument and mask.
  const SeccompArgGuard bad[] = {{SYS_clone, 6, 1, SeccompAction::Allow()}};
  EXPECT_FALSE(SeccompFilter::Create(rules, SeccompAction::Allow(), bad));
}

TEST(SeccompFilterTest, NoneSetGuardActsWhenNoMaskedBitIsSet) {
  // mmap's file mappings (no MAP_ANONYMOUS) to the sentry, the rest
  // native; checked on argument 0 here (RunBpf sets that one).
  const SeccompRule rules[] = {{SYS_mmap, SeccompAction::Allow()}};
  const SeccompArgGuard guards[] = {{SYS_mmap, 0, 0x20 /* MAP_ANONYMOUS */,
                                     SeccompAction::Notify(),
                                     GuardWhen::kNoneSet}};
  auto filter =
      SeccompFilter::Create(rules, SeccompAction::Error(ENOSYS), guards);
  ASSERT_TRUE(filter.has_value());
  auto run = [&](uint64_t arg0) {
    return RunBpf(filter->program(), AUDIT_ARCH_X86_64, SYS_mmap, arg0);
  };
  EXPECT_EQ(run(0x22), SECCOMP_RET_ALLOW);  // MAP_PRIVATE | MAP_ANONYMOUS
  EXPECT_EQ(run(0x01), SECCOMP_RET_USER_NOTIF);  // MAP_SHARED
  EXPECT_EQ(run(0x02), SECCOMP_RET_USER_NOTIF);  // MAP_PRIVATE
}

}  // namespace
}  // namespace veil::sentry
