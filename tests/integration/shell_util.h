// SPDX-License-Identifier: Apache-2.0
//
// What the integration tests share: running shell commands and looking at
// FUSE mounts from the outside.
#pragma once

#include <stdio.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace veil::integration
