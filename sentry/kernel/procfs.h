// SPDX-License-Identifier: Apache-2.0
//
// The sandbox's /proc: a synthetic filesystem describing the sandbox (its
// tasks, their fds, cwd and mounts), never the host. Linux analogue:
// fs/proc (base.c, fd.c, array.c, the generic files); gVisor:
// pkg/sentry/fsimpl/proc.
//
// What is there (each generated when opened or read, so it is current):
//   /proc/self -> PID, /proc/thread-self -> PID/task/TID, /proc/PID/ for
//   each thread group (pids of the sandbox's namespace): cmdline,
//   environ (read from the task's memory where exec put them, as Linux
//   reads mm->arg_start..), comm, exe, cwd, root, fd/ (links named by the
//   sandbox paths, "pipe:[INO]" and the like for the rest), mounts,
//   mountinfo, status, stat, statm, maps (from the host's view of the
//   task, with the ids translated and file names left out: host names
//   never show), limits, task/TID/ (the same for each thread);
//   cpuinfo, meminfo, version (the host's, captured before the sentry
//   confined itself), stat, uptime, loadavg, filesystems, mounts ->
//   self/mounts, sys/kernel/{hostname,ostype,osrelease,pid_max,
//   random/boot_id,random/uuid}, sys/vm/overcommit_memory,
//   sys/fs/{file-max,nr_open}.
// Everything is read-only (open for writing: EACCES).
//
// Not Linux: the fd links are symlinks to paths, not magic links (a pipe's
// "pipe:[INO]" cannot be opened through them); maps shows no file names.
//
// Thread-safety: the filesystem's mutex guards nothing but the VFS's
// name cache; every answer is built from ProcTasks, which locks itself.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/ref.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "sentry/kernel/task.h"
#include "vfs/filesystem.h"
#include "vfs/vfs.h"

namespace veil::sentry {

// One thread of the sandbox as /proc shows it.
struct ProcThread {
  pid_t tid = 0;       // in the sandbox's pid namespace
  pid_t host_tid = 0;  // in the sentry's (for the host's view of it)
  TaskView view;
};

// One thread group.
struct ProcTask {
  pid_t pid = 0;   // in the sandbox's pid namespace
  pid_t ppid = 0;  // 0 when the parent is outside the sandbox
  std::vector<ProcThread> threads;  // the leader first
};

// Where /proc's answers come from: the sandbox's tasks.
class ProcTasks {
 public:
  virtual ~ProcTasks() = default;
  // The thread groups alive now, ascending.
  virtual std::vector<pid_t> Pids() = 0;
  virtual std::optional<ProcTask> Find(pid_t pid) = 0;
  // The calling task's pid and tid (CurrentTask()), if it is one of ours.
  virtual std::optional<std::pair<pid_t, pid_t>> Caller() = 0;
  // Up to `length` bytes of the memory of host thread `host_tid` at
  // `addr`; fewer where the range runs into unmapped memory.
  virtual Result<std::string> ReadMemory(pid_t host_tid, uint64_t addr,
                                         size_t length) = 0;
  // The host's /proc/HOST_TID/`name` as the sentry reads it.
  virtual Result<std::string> HostFile(pid_t host_tid, const char* name) = 0;
  // A pid of the sentry's namespace in the sandbox's, or 0.
  virtual pid_t SandboxPidOf(pid_t host_pid) = 0;
  // The host fd `fd` of thread `host_tid` (pidfd_getfd): a new reference
  // to its open file. EBADF if it has none there.
  virtual Result<UniqueFd> TaskFd(pid_t host_tid, int fd) = 0;
};

// What the confined sentry can no longer read: captured at startup.
struct ProcHostInfo {
  std::string cpuinfo;
  std::string meminfo;
  std::string version;
  std::string osrelease;
  std::string boot_id;
  std::string hostname = "veil";
};

// Reads the host's /proc for ProcHostInfo (before confinement). Missing
// files leave their fields empty.
ProcHostInfo CaptureProcHostInfo();

// The filesystem; mount it on /proc. `vfs` names paths (fd links, cwd,
// mounts) and must outlive it.
Ref<vfs::Filesystem> MakeProcFs(vfs::Vfs& vfs,
                                std::shared_ptr<ProcTasks> tasks,
                                ProcHostInfo host);

}  // namespace veil::sentry
