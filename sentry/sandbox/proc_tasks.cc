// SPDX-License-Identifier: Apache-2.0
//
// /proc's view of the sandbox's tasks (sentry/kernel/procfs.h): the
// SandboxImpl's task table, with each thread's ids translated into the
// sandbox's pid namespace through the sentry's own procfs (NSpid).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "base/proc_dir.h"
#include "sentry/sandbox/internal/sandbox_impl.h"

namespace veil::sentry::internal {
namespace {

Result<std::string> ReadAll(UniqueFd fd) {
  if (!fd) return Errno::FromErrno();
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::FromErrno();
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// The innermost pid of "NSpid:" in a status text when the thread lives in
// a namespace below the sentry's (the sandbox's), else 0.
pid_t InnerPid(const std::string& status, const char* key) {
  const std::string k = std::string("\n") + key + ":";
  size_t at = status.find(k);
  if (at == std::string::npos) return 0;
  at += k.size();
  const size_t end = status.find('\n', at);
  std::istringstream in(status.substr(at, end - at));
  std::vector<long> ids;
  for (long v; in >> v;) ids.push_back(v);
  return ids.size() >= 2 ? static_cast<pid_t>(ids.back()) : 0;
}

pid_t SandboxTidOf(TaskSlot& slot) {
  pid_t cached = slot.sandbox_tid.load();
  if (cached != 0) return cached;
  Result<std::string> status = ReadAll(OpenProcStatus(slot.task->tid()));
  if (!status) return 0;
  const pid_t tid = InnerPid(*status, "NSpid");
  if (tid != 0) slot.sandbox_tid.store(tid);
  return tid;
}

}  // namespace

void SandboxProcTasks::Detach() {
  MutexLock lock(mu_);
  impl_ = nullptr;
}

std::map<pid_t, ProcTask> SandboxProcTasks::Groups() {
  std::vector<std::shared_ptr<TaskSlot>> slots;
  {
    MutexLock lock(mu_);
    if (impl_ == nullptr) return {};
    slots = impl_->AllTasks();
  }
  // Host tgid -> sandbox pid, from each group's leader.
  std::map<pid_t, pid_t> leaders;
  for (const auto& slot : slots) {
    if (slot->task->tid() == slot->task->tgid())
      leaders[slot->task->tgid()] = SandboxTidOf(*slot);
  }
  std::map<pid_t, ProcTask> groups;
  for (const auto& slot : slots) {
    auto leader = leaders.find(slot->task->tgid());
    if (leader == leaders.end() || leader->second == 0) continue;
    const pid_t tid = SandboxTidOf(*slot);
    if (tid == 0) continue;
    ProcTask& group = groups[leader->second];
    group.pid = leader->second;
    ProcThread thread{tid, slot->task->tid(), slot->task->View()};
    if (tid == group.pid) {
      group.threads.insert(group.threads.begin(), std::move(thread));
    } else {
      group.threads.push_back(std::move(thread));
    }
  }
  return groups;
}

std::vector<pid_t> SandboxProcTasks::Pids() {
  std::vector<pid_t> out;
  for (const auto& [pid, group] : Groups()) out.push_back(pid);
  return out;
}

std::optional<ProcTask> SandboxProcTasks::Find(pid_t pid) {
  std::map<pid_t, ProcTask> groups = Groups();
  auto it = groups.find(pid);
  if (it == groups.end() || it->second.threads.empty() ||
      it->second.threads.front().tid != pid)
    return std::nullopt;
  ProcTask task = std::move(it->second);
  Result<std::string> status = HostFile(task.threads.front().host_tid, "status");
  if (status) {
    const size_t at = status->find("\nPPid:");
    if (at != std::string::npos)
      task.ppid = SandboxPidOf(std::atoi(status->c_str() + at + 6));
  }
  return task;
}

std::optional<std::pair<pid_t, pid_t>> SandboxProcTasks::Caller() {
  Task* current = CurrentTask();
  if (current == nullptr) return std::nullopt;
  const pid_t pid = SandboxPidOf(current->tgid());
  const pid_t tid = SandboxPidOf(current->tid());
  if (pid == 0 || tid == 0) return std::nullopt;
  return std::make_pair(pid, tid);
}

Result<std::string> SandboxProcTasks::ReadMemory(pid_t host_tid,
                                                 uint64_t addr,
                                                 size_t length) {
  MutexLock lock(mu_);
  if (impl_ == nullptr) return Errno(ESRCH);
  std::string out(length, '\0');
  SyscallRequest req;
  req.tid = host_tid;
  size_t done = 0;
  while (done < length) {
    Result<size_t> n = impl_->platform().ReadMemory(
        req, TaskAddr(addr + done),
        std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()) + done,
                           length - done));
    if (!n || *n == 0) break;
    done += *n;
  }
  out.resize(done);
  return out;
}

Result<std::string> SandboxProcTasks::HostFile(pid_t host_tid,
                                               const char* name) {
  return ReadAll(OpenProcFile(host_tid, name));
}

Result<UniqueFd> SandboxProcTasks::TaskFd(pid_t host_tid, int fd) {
  constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD (Linux 6.9)
  UniqueFd pidfd(
      static_cast<int>(syscall(SYS_pidfd_open, host_tid, kPidfdThread)));
  if (!pidfd) return Errno::FromErrno();
  UniqueFd got(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
  if (!got) return Errno::FromErrno();
  return got;
}

pid_t SandboxProcTasks::SandboxPidOf(pid_t host_pid) {
  if (host_pid <= 0) return 0;
  Result<std::string> status = ReadAll(OpenProcStatus(host_pid));
  if (!status) return 0;
  return InnerPid(*status, "NSpid");
}

}  // namespace veil::sentry::internal
