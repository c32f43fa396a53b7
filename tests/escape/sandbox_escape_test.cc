// SPDX-License-Identifier: Apache-2.0
//
// Escape attempts from a program inside `veil do` (issue #12): each shows
// the exact errno the sentry's filter answers, or the task's death, and
// that no host descriptor reaches the program.
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace {

using veil::integration::Shell;
using veil::integration::ShellResult;

class SandboxEscapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "veil do needs root (the gofer)";
    char tmpl[] = "/tmp/veil-escape.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ShellResult made = Shell("mkdir -p " + dir_ + "/bin " + dir_ +
                             "/etc && cp " SANDBOX_PROBE " " + dir_ + "/bin/");
    ASSERT_EQ(made.status, 0) << made.output;
  }
  void TearDown() override {
    if (!dir_.empty()) (void)Shell("rm -rf " + dir_);
  }
  // Runs the probe for `what`; its output (the gofer's chroot note
  // dropped) and veil's exit status.
  ShellResult Probe(const std::string& what, const std::string& mode = "") {
    return Shell(std::string(VEIL_BINARY) + " do " + mode + " --rootfs " +
                     dir_ + " -- /bin/sandbox_probe " + what + " > " + dir_ +
                     "/out 2>&1; s=$?; grep -v 'falling back' " + dir_ +
                     "/out; exit $s",
                 60);
  }
  std::string dir_;
};

TEST_F(SandboxEscapeTest, ThirtyTwoBitAndX32CallsKillTheTask) {
  // SIGSYS: 128 + 31.
  EXPECT_EQ(Probe("int80").status, 128 + 31);
  EXPECT_EQ(Probe("x32").status, 128 + 31);
}

TEST_F(SandboxEscapeTest, DeniedCallsAnswerTheirErrno) {
  const std::pair<const char*, const char*> expected[] = {
      {"ptrace", "EPERM"},          {"process_vm_writev", "EPERM"},
      {"mount", "EPERM"},           {"bpf", "EPERM"},
      {"io_uring_setup", "ENOSYS"}, {"keyctl", "ENOSYS"},
      {"unshare", "EPERM"},         {"setns", "EPERM"},
      {"clone_newuser", "EPERM"},   {"clone_plain", "ok"},
  };
  for (const auto& [what, errno_name] : expected) {
    ShellResult r = Probe(what);
    EXPECT_EQ(r.status, 0) << what;
    EXPECT_EQ(r.output, std::string(what) + " " + errno_name + "\n");
  }
}

TEST_F(SandboxEscapeTest, ProcLinksNameTheSandboxsProc) {
  ASSERT_EQ(Shell("mkdir " + dir_ + "/tmp").status, 0);
  EXPECT_EQ(Probe("proc_symlink").output, "proc_symlink ENOENT\n");
}

TEST_F(SandboxEscapeTest, SignalStormDuringTrappedCallsLeaksNoFd) {
  EXPECT_EQ(Probe("signal_storm").output, "signal_storm clean\n");
}

TEST_F(SandboxEscapeTest, NoHostDescriptorReachesTheProgram) {
  EXPECT_EQ(Probe("hostfds").output, "hostfds 0\n");
  EXPECT_EQ(Probe("hostfds", "--strict").output, "hostfds 0\n");
  // A directory's fd: under --strict none at all; by default the data
  // plane's placeholder, a directory that no longer exists.
  EXPECT_EQ(Probe("dirfd", "--strict").output, "dirfd no-host-fd\n");
  EXPECT_EQ(Probe("dirfd").output, "dirfd placeholder\n");
}

TEST_F(SandboxEscapeTest, DataPlaneFdIsNoDirfd) {
  ASSERT_EQ(Shell("mkdir " + dir_ + "/tmp").status, 0);
  EXPECT_EQ(Probe("dataplane_dirfd").output,
            "dataplane_dirfd ENOTDIR ENOTDIR ENOTDIR mapped\n");
}

}  // namespace
