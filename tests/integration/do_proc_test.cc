// SPDX-License-Identifier: Apache-2.0
//
// The sandbox's /proc under `veil do` (issue #13 item 3): it describes the
// sandbox (its pids, fds, cwd, mounts, argv) and never the host: no host
// path, no host process. Both modes, with the static busybox.
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace {

using veil::integration::Quote;
using veil::integration::Shell;
using veil::integration::ShellResult;

class DoProcTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "veil do needs root (the gofer)";
    if (access("/bin/busybox", X_OK) != 0)
      GTEST_SKIP() << "needs busybox-static (/bin/busybox)";
  }
  // `script` by busybox sh in the sandbox over the host's /.
  ShellResult InSandbox(const std::string& script) {
    return Shell(std::string(VEIL_BINARY) + " do " + GetParam() +
                     " -- /bin/busybox sh -c " + Quote(script) +
                     " 2>&1 | grep -v 'falling back to chroot'",
                 60);
  }
};

TEST_P(DoProcTest, DescribesTheCallersOwnProcess) {
  ShellResult r = InSandbox(
      "echo pid=$$;"
      " [ \"$(busybox readlink /proc/self/../$$/exe)\" ="
      "   \"$(busybox readlink -f /bin/busybox)\" ] && echo exe;"
      " busybox cat /proc/$$/comm;"
      " busybox cat /proc/self/cmdline | busybox tr '\\0' ' '; echo;"
      " exec 7</etc/hostname; busybox readlink /proc/$$/fd/7;"
      " cd /tmp && busybox readlink /proc/$$/cwd;"
      " cd /proc/self && busybox readlink /proc/$$/cwd;"
      " busybox grep -E '^(Name|Pid|PPid|TracerPid):' /proc/$$/status");
  EXPECT_EQ(r.output,
            "pid=1\nexe\nbusybox\nbusybox cat /proc/self/cmdline \n"
            "/etc/hostname\n/tmp\n/proc/1\nName:\tbusybox\nPid:\t1\n"
            "PPid:\t0\nTracerPid:\t0\n");
}

TEST_P(DoProcTest, ListsTheSandboxsProcessesOnly) {
  // The sandbox's pids start at 1; the host's processes (this test's
  // own, pid > 1 on the host) are not there.
  ShellResult r = InSandbox(
      "busybox sleep 7 & busybox ls /proc | busybox grep -E '^[0-9]+$' |"
      " busybox sort -n | busybox tr '\\n' ' '; echo;"
      " busybox ps -o args | busybox grep -cx 'busybox sleep 7'; kill $!");
  EXPECT_EQ(r.output.substr(0, 2), "1 ") << r.output;
  EXPECT_EQ(r.output.find(" " + std::to_string(getpid()) + " "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\n1\n"), std::string::npos) << r.output;
}

TEST_P(DoProcTest, MountsCpusAndKernelFacts) {
  ShellResult r = InSandbox(
      "busybox grep -c '^processor' /proc/cpuinfo;"
      " busybox grep -E '^(proc /proc|tmpfs /tmp)' /proc/mounts;"
      " busybox cat /proc/sys/kernel/ostype;"
      " busybox grep -c MemTotal /proc/meminfo;"
      " { echo x > /proc/cpuinfo; } 2>/dev/null || echo refused");
  EXPECT_EQ(r.output, std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
                          "\ntmpfs /tmp tmpfs rw,relatime 0 0\n"
                          "proc /proc proc rw,relatime 0 0\nLinux\n1\n"
                          "refused\n")
      << r.output;
}

// Nothing in /proc names a host file or a host process: the maps leave
// file names out, and no link or status line shows the sentry.
TEST_P(DoProcTest, ShowsNoHostPathOrProcess) {
  ShellResult r = InSandbox(
      "busybox cat /proc/self/maps | busybox grep -c /;"
      " busybox grep -h TracerPid /proc/[0-9]*/status | busybox sort -u;"
      " for l in /proc/$$/fd/* /proc/$$/exe /proc/$$/root; do"
      "   busybox readlink $l; done | busybox grep -c veil");
  EXPECT_EQ(r.output, "0\nTracerPid:\t0\n0\n") << r.output;
}

// The fd, cwd, exe and root links are magic links, as Linux's: they open
// the task's own file (a pipe, an unlinked file), not a path.
TEST_P(DoProcTest, FdLinksOpenTheFileItself) {
  ShellResult r = InSandbox(
      "echo piped | busybox cat /dev/stdin;"
      " echo x > /tmp/f; exec 5</tmp/f; busybox rm /tmp/f;"
      " busybox cat /proc/self/fd/5;"
      " cd /tmp && busybox mkdir d && cd d && busybox rmdir /tmp/d;"
      " cd /proc/$$/root/tmp && pwd");
  EXPECT_EQ(r.output, "piped\nx\n/proc/1/root/tmp\n") << r.output;
}

// veil do --user: the user from the sandbox's /etc/passwd, checked as that
// user by the VFS, with no capabilities; unknown names are refused.
TEST_P(DoProcTest, UserRunsAsThatUser) {
  ShellResult r = Shell(
      std::string(VEIL_BINARY) + " do " + GetParam() +
          " --user nobody -- /bin/busybox sh -c " +
          Quote("busybox id; echo $HOME; busybox touch /tmp/f;"
                " busybox stat -c '%u %g' /tmp/f;"
                " busybox cat /etc/shadow >/dev/null 2>&1 || echo denied;"
                " busybox grep CapEff /proc/self/status") +
          " 2>&1 | grep -v 'falling back to chroot'",
      60);
  EXPECT_EQ(r.output,
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
            "/nonexistent\n65534 65534\ndenied\nCapEff:\t0000000000000000\n")
      << r.output;
  ShellResult bad = Shell(std::string(VEIL_BINARY) + " do " + GetParam() +
                              " --user no-such-user -- /bin/busybox true 2>&1;"
                              " echo status $?",
                          60);
  EXPECT_NE(bad.output.find("no such user in the sandbox's /etc/passwd"),
            std::string::npos)
      << bad.output;
  EXPECT_NE(bad.output.find("status 125"), std::string::npos) << bad.output;
}

// The sandbox's hostname: "veil" unless --hostname says otherwise, the
// same from uname(2) (native), hostname and /proc; never the host's.
TEST_P(DoProcTest, HostnameIsTheSandboxs) {
  const std::string script =
      "busybox uname -n; busybox hostname;"
      " busybox cat /proc/sys/kernel/hostname";
  ShellResult r = InSandbox(script);
  EXPECT_EQ(r.output, "veil\nveil\nveil\n");
  ShellResult named = Shell(std::string(VEIL_BINARY) + " do " + GetParam() +
                                " --hostname db-1.example -- /bin/busybox sh -c " +
                                Quote(script) +
                                " 2>&1 | grep -v 'falling back to chroot'",
                            60);
  EXPECT_EQ(named.output, "db-1.example\ndb-1.example\ndb-1.example\n");
  ShellResult bad = Shell(std::string(VEIL_BINARY) + " do " + GetParam() +
                              " --hostname 'a b' -- /bin/busybox true 2>&1;"
                              " echo status $?",
                          60);
  EXPECT_NE(bad.output.find("--hostname needs 1 to 64 letters"),
            std::string::npos)
      << bad.output;
  EXPECT_NE(bad.output.find("status 2"), std::string::npos) << bad.output;
}

INSTANTIATE_TEST_SUITE_P(Modes, DoProcTest, ::testing::Values("", "--strict"),
                         [](const auto& info) {
                           return std::string(info.param[0] ? "Strict"
                                                            : "Default");
                         });

}  // namespace
