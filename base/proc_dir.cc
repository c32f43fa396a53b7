// SPDX-License-Identifier: Apache-2.0
#include "base/proc_dir.h"

#include <fcntl.h>

#include <atomic>
#include <cstdio>

namespace veil {
namespace {

std::atomic<int> g_proc_dir{-1};

}  // namespace

void SetProcDir(UniqueFd dir) {
  const int old = g_proc_dir.exchange(dir.release());
  // A second call leaks nothing: the old descriptor is closed.
  UniqueFd closing(old);
}

int ProcDirFd() { return g_proc_dir.load(); }

UniqueFd OpenProcStatus(pid_t tid) { return OpenProcFile(tid, "status"); }

UniqueFd OpenProcFile(pid_t tid, const char* name) {
  char path[48];
  const int dir = g_proc_dir.load();
  if (dir >= 0) {
    std::snprintf(path, sizeof path, "%d/%s", static_cast<int>(tid), name);
    return UniqueFd(openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  }
  std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(tid), name);
  return UniqueFd(open(path, O_RDONLY | O_CLOEXEC));
}

Result<UniqueFd> ReopenFd(int fd, int flags) {
  char path[48];
  const int dir = g_proc_dir.load();
  int got;
  if (dir >= 0) {
    std::snprintf(path, sizeof path, "self/fd/%d", fd);
    got = openat(dir, path, flags | O_CLOEXEC | O_NOCTTY);
  } else {
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    got = open(path, flags | O_CLOEXEC | O_NOCTTY);
  }
  if (got < 0) return Errno::FromErrno();
  return UniqueFd(got);
}

}  // namespace veil
