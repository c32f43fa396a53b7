// SPDX-License-Identifier: Apache-2.0
//
// Dispatch: the one place a handler's Result becomes an answer.
#include <sys/stat.h>

#include "base/logging.h"
#include "sentry/kernel/syscall_table.h"
#include "sentry/kernel/task.h"
#include "vfs/wait.h"

namespace veil::sentry {

const SyscallEntry* FindSyscall(int nr) {
  if (nr < 0 || nr > kMaxSyscall) return nullptr;
  if (nr >= kGapFirst && nr < kGapEnd) return nullptr;
  int index = nr < kGapFirst ? nr : nr - (kGapEnd - kGapFirst);
  return &SyscallTable()[index];
}

bool Trapped(const SyscallEntry& entry, Mode mode) {
  switch (entry.kind) {
    case SyscallKind::kNative:
    case SyscallKind::kDenied:
      return false;
    case SyscallKind::kHandler:
      return entry.data_plane == DataPlane::kNo || mode == Mode::kStrict;
  }
  return true;
}

namespace {

// A successful call's answer with its data-plane effects: the fds it made
// installed at their numbers (the one the call returns with the answer,
// atomically; a second one, pipe(2)'s, first), or the call continued
// natively.
std::optional<SyscallAnswer> AnswerWithEffects(Task& task,
                                               const SyscallRequest& req,
                                               int64_t value) {
  CallEffects& fx = task.effects();
  if (fx.continue_natively) return SyscallAnswer::Continue();
  CallEffects::Install* with_answer = nullptr;
  for (CallEffects::Install& in : fx.installs) {
    // A pipe's or FIFO's end must not stay open in the sentry once the
    // task runs: a reader would miss end of file, a writer EPIPE. It is
    // installed first and our copy closed before the answer goes; any
    // other file goes with the answer, atomically (ADDFD SEND).
    struct stat st;
    const bool stream = fstat(in.fd.get(), &st) == 0 && S_ISFIFO(st.st_mode);
    if (in.number == value && !with_answer && !stream) {
      with_answer = &in;
      continue;
    }
    Result<void> added =
        task.platform().AddFd(req, in.fd.get(), in.number, in.cloexec);
    // The task is gone (ENOENT), or could not take the fd (EMFILE past
    // its host RLIMIT_NOFILE): the call fails as get_unused_fd would.
    if (!added) {
      if (added.error().code() == ENOENT) return std::nullopt;
      return SyscallAnswer::Error(added.error());
    }
    in.fd.reset();
  }
  if (with_answer) {
    // Kept open until the answer is sent: the Task holds the effects.
    return SyscallAnswer::InstallFd(with_answer->fd.get(), FdPlacement::kExact,
                                    with_answer->number, with_answer->cloexec);
  }
  return SyscallAnswer::Value(value);
}

}  // namespace

namespace {
thread_local Task* current_task = nullptr;

// Makes `task` current for the life of the scope.
class CurrentScope {
 public:
  explicit CurrentScope(Task& task) : previous_(current_task) {
    current_task = &task;
  }
  ~CurrentScope() { current_task = previous_; }
  CurrentScope(const CurrentScope&) = delete;
  CurrentScope& operator=(const CurrentScope&) = delete;

 private:
  Task* previous_;
};
}  // namespace

Task* CurrentTask() { return current_task; }

std::optional<SyscallAnswer> Dispatch(Task& task, const SyscallRequest& req) {
  const SyscallEntry* entry = FindSyscall(req.nr);
  // A number Linux does not assign: sys_ni_syscall.
  if (!entry) return SyscallAnswer::Error(Errno(ENOSYS));
  switch (entry->kind) {
    case SyscallKind::kDenied:
      return SyscallAnswer::Error(Errno(entry->error));
    case SyscallKind::kNative:
      // The filter should have let it run; the sentry never continues a
      // call, so it answers as a kernel without it would.
      return SyscallAnswer::Error(Errno(ENOSYS));
    case SyscallKind::kHandler:
      break;
  }
  if (!entry->handler) return SyscallAnswer::Error(Errno(entry->error));
  TaskMemory mem(task.platform(), req);
  SyscallArgs args{mem, req.args};
  // The task's last close has run natively by now (one call at a time).
  task.ReleaseClosing();
  task.effects() = CallEffects{};
  CurrentScope current(task);
  Result<int64_t> result = entry->handler(task, args);
  if (result) return AnswerWithEffects(task, req, *result);
  Errno error = result.error();
  if (error.code() == kNotPendingCode) return std::nullopt;
  if (vfs::IsWouldBlock(error)) {
    // A handler must wait itself; reaching here is a bug in veil, and the
    // task sees what a non-blocking call would.
    VEIL_LOG(kError) << entry->name << " answered kWouldBlock";
    return SyscallAnswer::Error(Errno(EAGAIN));
  }
  return SyscallAnswer::Error(error);
}

Result<void> Serve(Task& task, const SyscallRequest& req) {
  std::optional<SyscallAnswer> answer = Dispatch(task, req);
  if (!answer) return Ok();  // no longer pending: nothing to answer
  Result<int64_t> sent = task.platform().Answer(req, *answer);
  if (!sent && sent.error().code() != ENOENT) return sent.error();
  return Ok();
}

}  // namespace veil::sentry
