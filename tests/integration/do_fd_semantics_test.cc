// SPDX-License-Identifier: Apache-2.0
//
// fd semantics under `veil do` (issue #12 items 2 and 4): a static probe
// (fd_semantics_probe.c) prints a transcript of offsets, O_APPEND, sizes
// and times after native writes, shared mappings, close/dup/close_range,
// directories, pipes, devices and close-on-exec; the host's transcript
// and the sandbox's must be identical, with the native data plane and
// with --strict.
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace {

using veil::integration::Quote;
using veil::integration::Shell;
using veil::integration::ShellResult;

class DoFdSemanticsTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "veil do needs root (the gofer)";
    char tmpl[] = "/tmp/veil-fdsem.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ShellResult made = Shell("mkdir -p " + Quote(dir_ + "/root/bin") + " " +
                             Quote(dir_ + "/root/tmp") + " " +
                             Quote(dir_ + "/host") + " && cp " FD_PROBE " " +
                             Quote(dir_ + "/root/bin/fd_semantics_probe"));
    ASSERT_EQ(made.status, 0) << made.output;
  }
  void TearDown() override {
    if (!dir_.empty()) (void)Shell("rm -rf " + Quote(dir_));
  }
  std::string dir_;
};

// The probe's lines about a shared mapping of a file: --strict has no
// host fd to map (file mappings under --strict are issue #13's).
std::string WithoutMappings(const std::string& transcript) {
  std::string out;
  size_t at = 0;
  while (at < transcript.size()) {
    size_t end = transcript.find('\n', at);
    if (end == std::string::npos) end = transcript.size() - 1;
    std::string line = transcript.substr(at, end + 1 - at);
    if (!line.starts_with("mmap ") && !line.starts_with("read sees mapping") &&
        !line.starts_with("pwrite ") && !line.starts_with("mapping sees"))
      out += line;
    at = end + 1;
  }
  return out;
}

TEST_P(DoFdSemanticsTest, TranscriptMatchesTheHost) {
  // The host's answers on a tmpfs (the sandbox's /tmp is one), mounted in
  // a mount namespace of the probe's own.
  ShellResult host = Shell(
      "unshare -m sh -c " +
      Quote("mount -t tmpfs veil-fdsem " + Quote(dir_ + "/host") + " && " +
            Quote(dir_ + "/root/bin/fd_semantics_probe") + " " +
            Quote(dir_ + "/host")) +
      " 2>&1");
  ASSERT_EQ(host.status, 0) << host.output;
  ShellResult sandbox = Shell(
      std::string(VEIL_BINARY) + " do " + GetParam() + " --rootfs " +
          Quote(dir_ + "/root") +
          " -- /bin/fd_semantics_probe /tmp 2>&1 | grep -v 'falling back'",
      60);
  if (std::string(GetParam()) == "--strict") {
    EXPECT_EQ(WithoutMappings(sandbox.output), WithoutMappings(host.output));
  } else {
    EXPECT_EQ(sandbox.output, host.output);
  }
  // The probe's steps really ran (a transcript of errors would also match
  // one of errors).
  EXPECT_NE(host.output.find("contents 'helloXYZ'"), std::string::npos)
      << host.output;
  EXPECT_NE(host.output.find("exec cloexec read -EBADF"), std::string::npos)
      << host.output;
}

INSTANTIATE_TEST_SUITE_P(Modes, DoFdSemanticsTest,
                         ::testing::Values("", "--strict"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(*p.param ? "Strict" : "Default");
                         });

}  // namespace
