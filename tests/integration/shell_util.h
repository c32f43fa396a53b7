// SPDX-License-Identifier: Apache-2.0
//
// What the FUSE tests share: running shell commands, starting `veil fuse`
// and looking at its mounts from the outside.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace veil::integration {

inline constexpr long kFuseSuperMagic = 0x65735546;  // FUSE_SUPER_MAGIC

struct ShellResult {
  int status = -1;     // exit status, or -1 if it did not exit normally
  std::string output;  // stdout and stderr, interleaved
};

// Runs `script` with /bin/sh -c and captures its output. With
// `kill_after_seconds` > 0 the shell is killed (SIGKILL, which also ends a
// process waiting on FUSE) after that long, so a hung mount fails the test
// instead of hanging it.
inline ShellResult Shell(const std::string& script,
                         int kill_after_seconds = 0) {
  ShellResult r;
  std::string cmd;
  if (kill_after_seconds > 0)
    cmd = "timeout -s KILL " + std::to_string(kill_after_seconds) + " ";
  cmd += "/bin/sh -c '";
  for (char c : script) {
    if (c == '\'')
      cmd += "'\\''";
    else
      cmd += c;
  }
  cmd += "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
  return r;
}

// Quotes `s` for /bin/sh.
inline std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

inline bool IsFuseMount(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A `veil fuse -f ARGS MNT` child, as StartVeilFuse left it.
struct VeilFuse {
  pid_t pid = -1;          // still running (mounted, or timed out)
  bool exited = false;     // it exited before MNT was a FUSE mount
  int status = 0;          // its wait status then
  bool timed_out = false;  // no mount, and still running, after the timeout
  // veil's "cannot mount MNT" (no FUSE here, or not allowed).
  bool cannot_mount() const {
    return exited && WIFEXITED(status) && WEXITSTATUS(status) == 1;
  }
};

// Forks `binary fuse -f ARGS MNT`, its stdout and stderr in `log`, and
// waits until MNT is a FUSE mount, the child exits, or `timeout` passes.
// The child gets SIGTERM (and so unmounts) if this process dies first: a
// crashed test leaves no dead mount behind.
inline VeilFuse StartVeilFuse(const char* binary,
                              const std::vector<std::string>& args,
                              const std::string& mnt, const std::string& log,
                              std::chrono::milliseconds timeout) {
  VeilFuse child;
  const pid_t parent = getpid();
  child.pid = fork();
  if (child.pid < 0) {
    child.exited = true;
    return child;
  }
  if (child.pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<const char*> argv = {"veil", "fuse", "-f"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(mnt.c_str());
    argv.push_back(nullptr);
    execv(binary, const_cast<char**>(argv.data()));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!IsFuseMount(mnt)) {
    if (waitpid(child.pid, &child.status, WNOHANG) == child.pid) {
      child.pid = -1;
      child.exited = true;
      return child;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      child.timed_out = true;
      return child;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return child;
}

}  // namespace veil::integration
