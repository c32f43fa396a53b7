// SPDX-License-Identifier: Apache-2.0
//
// The differential harness drives the sentry (issue #12): the generator's
// operations run as real syscalls by a task inside `veil do` and by a
// plain host process, and the two must agree exactly.
//
// Both sides are RemoteBackends over the same static `syscall_runner`
// binary (syscall_runner.cc), so both execute identical code:
//   host:    syscall_runner <scratch>/host      (chroots into a host tmpfs
//                                               directory)
//   sentry:  veil do --rootfs <scratch>/rootfs -- /bin/syscall_runner
//            /tmp/root                          (chroots into a directory
//                                               of the sandbox's /tmp, a
//                                               veil tmpfs)
// RunDifferential compares every call's value, errno and data, and both
// trees after every step, as for the other difftests (inode numbers by
// identity class, timestamps through its probe scheme).
//
// Fault check: DifftestSentryFaultTest makes the sandboxed runner flip a
// mode bit in chmod, and the run must report it.
//
// Runner self-check: DifftestRunnerTest compares the host runner with
// HostBackend (in-process syscalls), credential switches included, so a
// bug in the runner or the wire cannot hide behind the sentry comparison.
//
// Credential switches (setgroups, setfsuid, setfsgid, capset, as the
// runner makes them) are the sentry's (sentry/kernel/creds.h): under
// --strict the runner switches users as on the host. In the default mode
// they stay out (GeneratorOptions::set_creds_percent = 0): a native write
// cannot drop a set-id bit, so the sentry drops them when a user opens
// the file for writing, sooner than Linux (sentry/sandbox/README.md); with
// users switching, the generator meets an open without a write within a
// few hundred steps.
//
// To replay a failure:
//   VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n>
//   [VEIL_DIFFTEST_TRACE=<file>] difftest_sentry_test
//   --gtest_filter='DifftestSentryFreshSeedTest.*'
// VEIL_DIFFTEST_KEEP=1 keeps the scratch directory (both trees, the
// runners' logs) and prints where it is.
// The rootfs holds only the runner (no busybox needed). Needs root (chroot,
// the gofer); skips (with the reason) otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/difftest/host_backend.h"
#include "tests/difftest/host_thread.h"
#include "tests/difftest/remote_backend.h"
#include "tests/difftest/runner.h"
#include "tests/difftest/seeds.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif
#ifndef SYSCALL_RUNNER
#error "SYSCALL_RUNNER must name the static syscall_runner"
#endif

namespace veil::difftest {
namespace {

// 5 fixed seeds (three in veil do's default mode, two under --strict) of
// kStepsPerSeed steps, plus a fresh seed in the default mode: 5,400 steps
// per run. Trees are kept smaller than the generator's default (the
// walks after every step are most of the calls, and each call is a round
// trip to a sandboxed task).
constexpr uint64_t kDefaultModeSeeds[] = {1, 2, 3};
constexpr uint64_t kStrictModeSeeds[] = {4, 5};
constexpr int kStepsPerSeed = 900;
constexpr int kMaxEntries = 40;
constexpr int kRunnerSelfCheckSteps = 500;

// veil do's two modes: file I/O on installed host fds (the default), or
// every file call trapped and served from the VFS (--strict).
enum class DoMode { kDefault, kStrict };
std::string Describe(const Errno& e) {
  return std::string(e.message() ? e.message() : "") + " (" +
         std::strerror(e.code()) + ")";
}

bool CopyFile(const std::string& from, const std::string& to, mode_t mode) {
  UniqueFd in(open(from.c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd out(
      open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!in || !out) return false;
  char buf[65536];
  ssize_t n;
  while ((n = read(in.get(), buf, sizeof buf)) > 0) {
    if (write(out.get(), buf, static_cast<size_t>(n)) != n) return false;
  }
  return n == 0 && close(out.release()) == 0;
}

// A scratch directory (mode 0700) on the host's tmpfs: `host` is the host
// runner's root, `rootfs` the sandbox's lower layer (the runner in bin/,
// an empty tmp/ for veil do's /tmp tmpfs), and the runners' logs.
class Scratch {
 public:
  Scratch() {
    char tmpl[] = "/dev/shm/veil-difftest-sentry-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    std::string rootfs = dir_ + "/rootfs";
    if (mkdir(rootfs.c_str(), 0755) != 0 ||
        mkdir((rootfs + "/bin").c_str(), 0755) != 0 ||
        mkdir((rootfs + "/tmp").c_str(), 01777) != 0 ||
        !CopyFile(SYSCALL_RUNNER, rootfs + "/bin/syscall_runner", 0755))
      error_ = std::string("cannot build the rootfs: ") + strerror(errno);
  }
  ~Scratch() {
    if (dir_.empty()) return;
    if (std::getenv("VEIL_DIFFTEST_KEEP") != nullptr) {
      std::printf("scratch kept: %s\n", dir_.c_str());
      return;
    }
    internal::RemoveTreeAt(AT_FDCWD, dir_.c_str());
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  bool ok() const { return !dir_.empty() && error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string error_;
};

// Both runners and this process on one CPU: a request and its answer are
// then a same-CPU wake-up each way (about 50 us cheaper per round trip
// across CPUs on this class of VM; see the platform notes). Affinity is
// inherited, so the runners and veil's threads follow.
void PinToOneCpu() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    return;
  }
}

// Restores the affinity the test started with.
class PinScope {
 public:
  PinScope() {
    saved_ok_ = sched_getaffinity(0, sizeof saved_, &saved_) == 0;
    if (std::getenv("VEIL_DIFFTEST_NO_PIN") == nullptr) PinToOneCpu();
  }
  ~PinScope() {
    if (saved_ok_) sched_setaffinity(0, sizeof saved_, &saved_);
  }
  PinScope(const PinScope&) = delete;
  PinScope& operator=(const PinScope&) = delete;

 private:
  cpu_set_t saved_;
  bool saved_ok_ = false;
};

// "" when the environment can run the test, else why not.
std::string Unavailable() {
  if (geteuid() != 0) return "needs root (chroot, the gofer)";
  if (access(SYSCALL_RUNNER, X_OK) != 0)
    return "no syscall_runner at " SYSCALL_RUNNER;
  auto prot = ReadHostProtections();
  if (!prot) return "cannot read the host's fs.protected_* sysctls";
  // veil do's Vfs uses VfsOptions' defaults (vfs/vfs.h).
  if (prot->hardlinks != 1 || prot->symlinks != 0 || prot->regular != 0 ||
      prot->fifos != 0)
    return "the host's fs.protected_* differ from veil do's defaults "
           "(hardlinks=1, symlinks=0, regular=0, fifos=0)";
  return "";
}

void FinishRun(RemoteBackend& expected, RemoteBackend& actual, bool same,
               const std::string& report, const Scratch& scratch) {
  EXPECT_EQ(expected.failure(), "");
  EXPECT_EQ(actual.failure(), "");
  EXPECT_TRUE(same) << report << "\n  logs: " << scratch.dir()
                    << "/{host,sentry}.log (VEIL_DIFFTEST_KEEP=1 keeps them)";
  if (same) {
    std::printf("%s  (%llu calls per side)\n", report.c_str(),
                static_cast<unsigned long long>(actual.calls()));
  }
}

RunOptions Options(std::FILE** trace) {
  RunOptions run;
  if (const char* path = std::getenv("VEIL_DIFFTEST_TRACE"))
    *trace = run.trace = std::fopen(path, "w");
  return run;
}

// A fault for the sandboxed runner only (see InjectedFaultIsCaught).
enum class Fault { kNone, kChmod };

void RunSentrySeed(uint64_t seed, int steps, DoMode mode,
                   Fault fault = Fault::kNone) {
  if (std::string why = Unavailable(); !why.empty()) GTEST_SKIP() << why;
  if (access(VEIL_BINARY, X_OK) != 0)
    GTEST_SKIP() << "no veil binary at " << VEIL_BINARY;
  Scratch scratch;
  ASSERT_TRUE(scratch.ok()) << scratch.error();
  PinScope pin;
  auto host = RemoteBackend::Start("host-runner",
                                   {SYSCALL_RUNNER, scratch.dir() + "/host"},
                                   scratch.dir() + "/host.log");
  ASSERT_TRUE(host.has_value()) << "host runner: " << Describe(host.error());
  std::vector<std::string> argv = {VEIL_BINARY, "do", "--rootfs",
                                   scratch.dir() + "/rootfs"};
  if (mode == DoMode::kStrict) argv.push_back("--strict");
  if (fault == Fault::kChmod) {
    argv.push_back("--env");
    argv.push_back("VEIL_RUNNER_FAULT=chmod");
  }
  for (const char* arg : {"--", "/bin/syscall_runner", "/tmp/root"})
    argv.push_back(arg);
  auto sentry = RemoteBackend::Start(
      mode == DoMode::kStrict ? "sentry-runner(--strict)" : "sentry-runner",
      argv, scratch.dir() + "/sentry.log");
  ASSERT_TRUE(sentry.has_value())
      << "runner under veil do: " << Describe(sentry.error())
      << "; see " << scratch.dir() << "/sentry.log";
  std::FILE* trace = nullptr;
  RunOptions run = Options(&trace);
  if (mode != DoMode::kStrict) run.generator.set_creds_percent = 0;
  run.generator.max_entries =
      static_cast<int>(EnvOr("VEIL_DIFFTEST_MAX_ENTRIES", kMaxEntries));
  std::string report;
  bool same = RunDifferential(**host, **sentry, seed, steps, &report, run);
  if (trace) std::fclose(trace);
  if (fault == Fault::kChmod) {
    EXPECT_FALSE(same) << "a chmod that differs inside veil do went unseen";
    EXPECT_NE(report.find("DIVERGENCE"), std::string::npos) << report;
    std::printf("caught, as it must be: %s\n",
                report.substr(0, report.find("\n  expected:")).c_str());
    return;
  }
  FinishRun(**host, **sentry, same, report, scratch);
}

int Steps() {
  return static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed));
}

class DifftestSentryTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestSentryTest, AgreesWithTheHostKernel) {
  RunSentrySeed(GetParam(), Steps(), DoMode::kDefault);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestSentryTest,
                         ::testing::ValuesIn(kDefaultModeSeeds));

class DifftestSentryStrictTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestSentryStrictTest, AgreesWithTheHostKernel) {
  RunSentrySeed(GetParam(), Steps(), DoMode::kStrict);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestSentryStrictTest,
                         ::testing::ValuesIn(kStrictModeSeeds));

TEST(DifftestSentryFreshSeedTest, AgreesWithTheHostKernel) {
  RunSentrySeed(FreshSeed(), Steps(), DoMode::kDefault);
}

// The same fresh seed as the test above when VEIL_DIFFTEST_SEED is set
// (the replay of either); otherwise a seed of its own, under --strict.
TEST(DifftestSentryFreshSeedTest, StrictAgreesWithTheHostKernel) {
  RunSentrySeed(FreshSeed(), Steps(), DoMode::kStrict);
}

// The comparison itself, through veil do: the sandboxed runner flips a
// mode bit in every chmod, which the run must report.
TEST(DifftestSentryFaultTest, InjectedFaultIsCaught) {
  RunSentrySeed(1, 300, DoMode::kDefault, Fault::kChmod);
}

// The runner itself, as root and as the generator's two users: the host
// runner against HostBackend's in-process syscalls.
TEST(DifftestRunnerTest, HostRunnerAgreesWithHostBackend) {
  if (std::string why = Unavailable(); !why.empty()) GTEST_SKIP() << why;
  auto reference = HostBackend::Create();
  if (!reference)
    GTEST_SKIP() << "host reference unavailable: "
                 << Describe(reference.error());
  Scratch scratch;
  ASSERT_TRUE(scratch.ok()) << scratch.error();
  PinScope pin;
  auto runner = RemoteBackend::Start("host-runner",
                                     {SYSCALL_RUNNER, scratch.dir() + "/host"},
                                     scratch.dir() + "/host.log");
  ASSERT_TRUE(runner.has_value()) << Describe(runner.error());
  std::FILE* trace = nullptr;
  RunOptions run = Options(&trace);
  std::string report;
  uint64_t seed = EnvOr("VEIL_DIFFTEST_SEED", 7);
  bool same =
      RunDifferential(**reference, **runner, seed,
                      static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS",
                                             kRunnerSelfCheckSteps)),
                      &report, run);
  if (trace) std::fclose(trace);
  EXPECT_EQ((*runner)->failure(), "");
  EXPECT_TRUE(same) << report;
  if (same) std::printf("%s\n", report.c_str());
}

}  // namespace
}  // namespace veil::difftest
