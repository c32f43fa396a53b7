// SPDX-License-Identifier: Apache-2.0
//
// Signals during trapped calls inside `veil do` (issue #12): a call a
// signal interrupts before the sentry receives it restarts whatever the
// handler's SA_RESTART (Linux would have served it after the handler); a
// call blocked in the sentry is interrupted with Linux's restart code.
// Each case's expected line is what the probe prints on the host kernel.
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace {

using veil::integration::Shell;
using veil::integration::ShellResult;

// Each case runs under --strict, where every call is the sentry's (reads
// and polls wait in it: the watcher's case), and in the default mode,
// where pipe reads, writes and polls run natively on host pipes and the
// path calls are still trapped (the tracer's case).
class SandboxSignalTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "veil do needs root (the gofer)";
    char tmpl[] = "/tmp/veil-signal.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ShellResult made = Shell("mkdir -p " + dir_ + "/bin " + dir_ +
                             "/tmp && cp " SIGNAL_PROBE " " + dir_ + "/bin/");
    ASSERT_EQ(made.status, 0) << made.output;
  }
  void TearDown() override {
    if (!dir_.empty()) (void)Shell("rm -rf " + dir_);
  }
  // Runs the probe's case `what` under veil do; its output (the gofer's
  // chroot note dropped) and veil's exit status.
  ShellResult Probe(const std::string& what) {
    return Shell(std::string(VEIL_BINARY) + " do " + GetParam() +
                     " --rootfs " + dir_ +
                     " -- /bin/signal_probe " + what + " > " + dir_ +
                     "/out 2>&1; s=$?; grep -v 'falling back' " + dir_ +
                     "/out; exit $s",
                 90);
  }
  std::string dir_;
};

TEST_P(SandboxSignalTest, StormNeverFailsPathCallsWithEintrNorLeaksAnFd) {
  // Without the tracer's restart, opens, stats, mkdirs and closes fail
  // with EINTR (the seccomp wait before the receive is interruptible),
  // and an interrupted close keeps its fd.
  ShellResult r = Probe("storm");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "storm eintr=0 other=0 fds=0 handled=yes\n");
}

TEST_P(SandboxSignalTest, BlockedReadWithoutSaRestartFailsWithEintr) {
  ShellResult r = Probe("read_eintr");
  EXPECT_EQ(r.status, 0);  // 137: the probe's alarm, never interrupted
  EXPECT_EQ(r.output, "read_eintr EINTR handled=yes\n");
}

TEST_P(SandboxSignalTest, BlockedReadWithSaRestartResumesAndGetsTheData) {
  ShellResult r = Probe("read_restart");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "read_restart 4 data handled=yes\n");
}

TEST_P(SandboxSignalTest, PollIsInterruptedEvenWithSaRestart) {
  ShellResult r = Probe("poll_eintr");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "poll_eintr EINTR handled=yes\n");
}

TEST_P(SandboxSignalTest, IgnoredSignalsDoNotEndABlockedRead) {
  ShellResult r = Probe("read_ignored");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "read_ignored 4 late\n");
}

INSTANTIATE_TEST_SUITE_P(Modes, SandboxSignalTest,
                         ::testing::Values("", "--strict"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(*p.param ? "Strict" : "Default");
                         });

}  // namespace
