// SPDX-License-Identifier: Apache-2.0
//
// Exec in the sandbox (Linux: do_execveat_common up to the point of no
// return, then begin_new_exec's file-table part). The tracer stops every
// execve/execveat (RET_TRACE); this file reads the call's arguments from
// the stopped task, opens and parses the program in the VFS, and either
// fails the call with Linux's errno or redirects it to our stub, which
// the StubServer then feeds with the plan.
#include <fcntl.h>
#include <linux/limits.h>
#include <sys/stat.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/task_memory.h"
#include "sentry/loader/prepare_exec.h"
#include "sentry/sandbox/internal/sandbox_impl.h"

namespace veil::sentry::internal {
namespace {

constexpr int kExecve = 59;
constexpr int kExecveat = 322;
// Linux MAX_ARG_STRLEN (32 pages) and MAX_ARG_STRINGS.
constexpr size_t kMaxArgStrlen = 32 * 4096;
constexpr size_t kMaxArgStrings = 0x7fffffff;

// A NULL-terminated array of string pointers (copy_strings): E2BIG for a
// string over MAX_ARG_STRLEN or once the strings and their pointers pass
// a quarter of the stack limit (Linux's bound for argv and envp, which the
// loader checks again exactly), so a task cannot make the sentry copy
// more; EFAULT for an unreadable pointer or string. A NULL array is empty
// (Linux allows it, with a warning).
Result<std::vector<std::string>> CopyInStrings(TaskMemory& mem,
                                               TaskAddr array) {
  std::vector<std::string> out;
  if (array.IsNull()) return out;
  size_t total = 0;
  for (size_t i = 0; i < kMaxArgStrings; ++i) {
    TaskAddr slot = VEIL_TRY(array.Offset(i * sizeof(uint64_t)));
    uint64_t ptr = VEIL_TRY(CopyIn<uint64_t>(mem, slot));
    if (ptr == 0) return out;
    Result<std::string> s = CopyInString(mem, TaskAddr(ptr), kMaxArgStrlen - 1);
    if (!s) {
      if (s.error().code() == ENAMETOOLONG) return Errno(E2BIG);
      return s.error();
    }
    total += s->size() + 1 + sizeof(uint64_t);
    if (total > loader::kStkLim / 4) return Errno(E2BIG);
    out.push_back(std::move(*s));
  }
  return Errno(E2BIG);
}

}  // namespace

Result<loader::LoadPlan> SandboxImpl::PlanFor(const vfs::Context& ctx,
                                              const vfs::Location& start,
                                              const std::string& path,
                                              std::vector<std::string> argv,
                                              std::vector<std::string> envp,
                                              TaskCreds* creds) {
  // open_exec: the file the path names (symlinks followed), which must be
  // a regular file (EACCES otherwise, as may_open for exec) that the
  // caller may execute (MAY_EXEC: EACCES), opened for reading.
  loader::OpenExecFn open_exec =
      [&](std::string_view p) -> Result<Ref<vfs::FileDescription>> {
    vfs::Location loc = VEIL_TRY(vfs_.ResolveAt(ctx, start, p, 0));
    if (!loc.dentry->inode().IsRegular()) return Errno(EACCES);
    VEIL_TRY_VOID(vfs_.AccessAt(ctx, start, p, X_OK, 0));
    vfs::OpenHow how;
    how.flags = O_RDONLY | O_CLOEXEC;
    return vfs_.OpenAt(ctx, start, p, how);
  };
  auto options_for = [](const TaskCreds& c, bool secure) {
    loader::LoadOptions options;
    options.uid = c.uid;
    options.euid = c.euid;
    options.gid = c.gid;
    options.egid = c.egid;
    options.secure = secure ? loader::SecureExec::kYes : loader::SecureExec::kNo;
    options.vdso = loader::VdsoSource::kFromStub;
    return options;
  };
  const TaskCreds before = *creds;
  loader::LoadPlan plan = VEIL_TRY(loader::PrepareExec(
      open_exec, {path, argv, envp}, options_for(before, false)));
  // bprm_fill_uid and cap_bprm_creds_from_file on the program itself (a
  // script's interpreter, never the script; never its PT_INTERP).
  vfs::FileDescription& file = *plan.files.front();
  const vfs::Attr attr = VEIL_TRY(file.Stat());
  const bool nosuid = file.location().mount->flags() & vfs::kMountNoSuid;
  const TaskCreds::Exec exec =
      creds->ApplyExec(attr.mode, attr.uid, attr.gid, nosuid);
  if (creds->euid != before.euid || creds->egid != before.egid ||
      exec.secure) {
    // A set-id program: its auxv tells it so (rare enough to plan twice).
    plan = VEIL_TRY(loader::PrepareExec(
        open_exec, {path, std::move(argv), std::move(envp)},
        options_for(*creds, exec.secure)));
  }
  return plan;
}

Result<loader::LoadPlan> SandboxImpl::PlanExec(Task& task, ExecStop& stop,
                                               TaskCreds* creds) {
  Registers regs = VEIL_TRY(stop.GetRegisters());
  // Read through the platform with the stopped task's tid; there is no
  // notification to re-check (the task is stopped by ptrace).
  SyscallRequest req;
  req.tid = stop.tid();
  TaskMemory mem(platform_, req);
  vfs::Context ctx = task.Context();
  const bool at = regs.syscall_nr() == kExecveat;
  const int dirfd = at ? static_cast<int>(regs.arg(0)) : AT_FDCWD;
  const int flags = at ? static_cast<int>(regs.arg(4)) : 0;
  // execveat: only AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW (EINVAL).
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return Errno(EINVAL);
  std::string path = VEIL_TRY(CopyInPath(
      mem, TaskAddr(regs.arg(at ? 1 : 0)),
      (flags & AT_EMPTY_PATH) ? EmptyPath::kAllow : EmptyPath::kDeny));
  std::vector<std::string> argv =
      VEIL_TRY(CopyInStrings(mem, TaskAddr(regs.arg(at ? 2 : 1))));
  std::vector<std::string> envp =
      VEIL_TRY(CopyInStrings(mem, TaskAddr(regs.arg(at ? 3 : 2))));
  vfs::Location start = VEIL_TRY(StartDir(task, ctx, dirfd, path));
  // execveat(fd, "", AT_EMPTY_PATH): the open file itself.
  if (path.empty()) return Errno(ENOSYS);  // TODO(#12): exec of an open file
  *creds = task.task_creds();
  return PlanFor(ctx, start, path, std::move(argv), std::move(envp), creds);
}

void SandboxImpl::OnExecStop(ExecStop& stop) {
  std::shared_ptr<TaskSlot> slot = FindTask(stop.tid());
  if (!slot) {
    // The launcher's own exec of the stub, made by the first task: it
    // goes ahead, with the first program's plan.
    bool first = false;
    {
      MutexLock lock(mu_);
      first = !first_made_;
      first_made_ = true;
    }
    Result<std::shared_ptr<TaskSlot>> made =
        first ? MakeFirstTask(stop.tid()) : Errno(ESRCH);
    if (made) {
      std::unique_ptr<PendingExec> exec;
      {
        MutexLock lock(mu_);
        exec = std::move(first_exec_);
      }
      MutexLock lock((*made)->mu);
      (*made)->exec = std::move(exec);
      return;
    }
    // Nothing can run it: fail the exec.
    if (Result<Registers> regs = stop.GetRegisters()) {
      regs->set_syscall_nr(-1);
      regs->set_return_value(-(made ? ESRCH : made.error().code()));
      (void)stop.SetRegisters(*regs);
    }
    return;
  }
  TaskCreds creds;
  Result<loader::LoadPlan> plan = PlanExec(*slot->task, stop, &creds);
  if (plan) {
    auto exec = std::make_unique<PendingExec>();
    exec->plan = std::move(*plan);
    exec->creds = std::move(creds);
    const std::vector<std::string> stub_argv = {kTaskStubPath};
    Result<void> redirected = stop.RedirectExec(kTaskStubPath, stub_argv);
    if (redirected) {
      MutexLock lock(slot->mu);
      slot->exec = std::move(exec);
      return;
    }
    plan = redirected.error();
  }
  // The call fails with the errno, as execve does before its point of no
  // return: the program goes on.
  Result<Registers> regs = stop.GetRegisters();
  if (!regs) return;
  regs->set_syscall_nr(-1);
  regs->set_return_value(-plan.error().code());
  (void)stop.SetRegisters(*regs);
}

void SandboxImpl::OnExec(pid_t tid, pid_t former_tid) {
  std::shared_ptr<TaskSlot> slot;
  {
    MutexLock lock(mu_);
    auto it = tasks_.find(former_tid);
    if (it == tasks_.end()) return;
    slot = it->second;
    if (former_tid != tid) {
      // A thread other than the leader exec'd: it now has the leader's
      // tid (de_thread), and the leader's slot is gone.
      tasks_.erase(it);
      tasks_[tid] = slot;
    }
  }
  // begin_new_exec: the file table is unshared, then close-on-exec fds
  // go. The stub's calls are served from now on.
  CloseFilesOnExec(*slot->task);
  MutexLock lock(slot->mu);
  if (!slot->exec) return;
  const loader::LoadPlan& plan = slot->exec->plan;
  // The point of no return: the program's credentials (commit_creds).
  slot->task->set_task_creds(slot->exec->creds);
  slot->task->set_image(ExecImage{plan.files.front(), plan.comm,
                                  plan.arg_start, plan.arg_end,
                                  plan.env_start, plan.env_end});
  Result<loader::StubServer> server =
      loader::StubServer::Create(platform_, slot->exec->plan);
  if (!server) {
    // The stub will ask and be told nothing: it reports the failure
    // and exits 127 (nothing else can run in a replaced image).
    slot->exec.reset();
    return;
  }
  slot->exec->server.emplace(std::move(*server));
}

}  // namespace veil::sentry::internal
