// SPDX-License-Identifier: Apache-2.0
//
// Tracer: the ptrace side of the platform. One thread of its own (the
// tracer thread) forks the first task, seizes it (PTRACE_SEIZE with
// TRACESECCOMP | TRACEEXEC | TRACEFORK | TRACEVFORK | TRACECLONE |
// EXITKILL), and then serves every ptrace stop of that task and of all its
// descendants, which the kernel attaches automatically, until none is
// left:
//
// - group-stop (PTRACE_EVENT_STOP with a stopping signal): PTRACE_LISTEN,
//   so job control works (the task stays stopped until SIGCONT);
// - other PTRACE_EVENT_STOPs (a new child's first stop, the wake-up after
//   a LISTEN): resumed; a new child is held stopped until its parent's
//   fork/vfork/clone event has been reported, so OnClone always comes
//   before the child runs (a child whose parent process is killed before
//   reporting it is killed too: README.md);
// - signal-delivery-stop: the signal is re-injected (PTRACE_CONT with it);
//   a trapped call the signal interrupted before the sentry received it
//   is made to restart first (RestartUnreceived below);
// - PTRACE_EVENT_FORK/VFORK/CLONE: OnClone(parent, child, kind);
// - PTRACE_EVENT_SECCOMP (the filter's RET_TRACE, execve/execveat):
//   OnExecStop, with the task's registers at hand;
// - PTRACE_EVENT_EXEC: OnExec(tid, former_tid);
// - exit or death: OnExit(tid, wait status).
//
// Why a thread of its own: ptrace requests must come from the thread that
// attached, and waiting for stops must not wait behind a syscall handler.
// The tracer thread runs nothing but this loop (waitid/waitpid with
// __WALL | __WNOTHREAD, which see only this thread's tracees and
// children: other children of the process are not reaped here); notification handlers
// run on other threads, so a slow handler never delays a ptrace stop. The
// observer's callbacks run on the tracer thread and must not wait for
// anything a task does (they delay every task's ptrace stops while they
// run).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/result.h"
#include "sentry/platform/registers.h"

namespace veil::sentry {

enum class CloneKind : uint8_t { kFork, kVfork, kClone };

// A task stopped by the filter's RET_TRACE (PTRACE_EVENT_SECCOMP): only
// valid during TaskObserver::OnExecStop, on the tracer thread. The task
// resumes when the callback returns, with the registers last set.
class ExecStop final {
 public:
  pid_t tid() const { return tid_; }
  // The filter's RET_DATA (SeccompAction::Trace's data).
  uint16_t data() const { return data_; }
  // PTRACE_GETREGS / PTRACE_SETREGS; ESRCH if the task was killed.
  Result<Registers> GetRegisters() const;
  Result<void> SetRegisters(const Registers& regs);
  // Makes the stopped execve/execveat run execve(path, argv, {}) instead:
  // `path` is a host path (the sentry's exec stub), never a sandbox one.
  // The strings and pointer arrays are written below the task's stack
  // pointer, past the 128-byte red zone (the task's memory is replaced if
  // the exec succeeds), and the registers point at them. Copy the task's
  // own arguments in first: the registers no longer name them after.
  // E2BIG beyond 64 KiB; EFAULT if the stack cannot take it; ESRCH.
  Result<void> RedirectExec(std::string_view path,
                            std::span<const std::string> argv);

 private:
  friend class Tracer;
  ExecStop(pid_t tid, uint16_t data) : tid_(tid), data_(data) {}
  pid_t tid_;
  uint16_t data_;
};

// What the tracer reports. All calls come from the tracer thread, one at
// a time. The observer must outlive the Tracer.
class TaskObserver {
 public:
  virtual ~TaskObserver() = default;
  // `parent` made `child`; the child is stopped until this returns.
  virtual void OnClone(pid_t parent, pid_t child, CloneKind kind) = 0;
  // execve/execveat stopped by RET_TRACE (the first task's own exec
  // included). Setting the syscall number to -1 skips the call.
  virtual void OnExecStop(ExecStop& stop) = 0;
  // An exec succeeded. `former_tid` differs from `tid` when a thread other
  // than the leader exec'd: it took the leader's tid, and its old tid is
  // gone without an exit report.
  virtual void OnExec(pid_t tid, pid_t former_tid) = 0;
  // The task exited or died; `wait_status` as waitpid(2) gives it.
  virtual void OnExit(pid_t tid, int wait_status) = 0;
  // A signal-delivery-stop of `tid` while its last call was a notified
  // one. True if the sentry itself answered that call with -ERESTARTSYS
  // (a blocking call it interrupted for a signal: Linux's SA_RESTART rule
  // must then stand); the observer forgets that mark here, whatever the
  // registers say. The default: the sentry never answers restart codes.
  virtual bool TakeRestartAnswer(pid_t tid) {
    (void)tid;
    return false;
  }
};

// Which syscall numbers the filter notifies (hands to the sentry).
using NotifiedCall = std::function<bool(int64_t nr)>;

class Tracer final {
 public:
  // Starts the tracer thread, which calls `spawn` to fork the first task:
  // spawn returns the pid of a child of the calling thread that has
  // stopped itself (SIGSTOP, untraced). The thread seizes it, sends it
  // SIGCONT and serves stops until no task is left. Returns spawn's error,
  // or PTRACE_SEIZE's (the child is then killed and reaped).
  //
  // `notified` (may be empty: then nothing below happens) names the
  // filter's notified calls. A signal that comes while such a call waits
  // for the sentry to receive it ends the call with -ERESTARTSYS (the
  // seccomp wait is interruptible until the receive), so without help a
  // handler without SA_RESTART would see EINTR from calls Linux never
  // interrupts (close, stat, mkdir). At that signal-delivery-stop the
  // tracer sets the result to -ERESTARTNOINTR instead, unless the
  // observer's TakeRestartAnswer says the sentry answered it: the kernel
  // then runs the handler and makes the call again, as if the signal had
  // come just before it (it had: the sentry never saw the call).
  static Result<std::unique_ptr<Tracer>> Start(
      TaskObserver& observer, std::function<Result<pid_t>()> spawn,
      NotifiedCall notified = {});
  // Kills every task still alive (SIGKILL) and joins the thread.
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  pid_t first_task() const { return first_task_; }
  // Blocks until no task is left; returns the first task's wait status.
  int Wait() VEIL_EXCLUDES(mu_);
  // SIGKILLs every task the tracer knows (and each one it learns of later).
  void KillAll() VEIL_EXCLUDES(mu_);

  // Freezes the tasks for a live snapshot: every task is stopped
  // (PTRACE_INTERRUPT: a ptrace-stop, which the task's parent does not
  // see, unlike SIGSTOP), so none runs a native call (a write to a memfd
  // on the data plane, say) until Thaw. Returns once each live task has
  // reported a stop, or `busy(tid)` says it waits in a call the sentry
  // holds (a received notification cannot be interrupted: it returns
  // only when answered, and then stops). Every resume the tracer would
  // make meanwhile is held back until Thaw. ETIMEDOUT (thawed again) if
  // that takes longer than `timeout`; ESRCH once no task is left. One
  // freeze at a time; any thread but the tracer's. `busy` must not call
  // back into the tracer.
  Result<void> Freeze(const std::function<bool(pid_t)>& busy,
                      std::chrono::milliseconds timeout) VEIL_EXCLUDES(mu_);
  // Ends a Freeze: the held-back resumes are made. Waits for the tracer
  // thread to make them.
  void Thaw() VEIL_EXCLUDES(mu_);

 private:
  Tracer(TaskObserver& observer, NotifiedCall notified)
      : observer_(observer), notified_(std::move(notified)) {}
  void Run(const std::function<Result<pid_t>()>& spawn) VEIL_EXCLUDES(mu_);
  void Serve() VEIL_EXCLUDES(mu_);
  // Records a live task; false if the tracer is stopping (it was killed).
  bool AddLive(pid_t tid) VEIL_EXCLUDES(mu_);
  void RemoveLive(pid_t tid) VEIL_EXCLUDES(mu_);
  // The next stop or exit of a task (waitpid's status), -1 once no task
  // is left.
  pid_t NextReport(int* status) VEIL_EXCLUDES(mu_);
  // At a signal-delivery-stop of `tid`: a notified call the signal ended
  // before the sentry received it restarts (Start's comment).
  void RestartUnreceived(pid_t tid, int sig);
  // Resumes `tid` (delivering `sig`), or while frozen notes it stopped
  // and holds the resume back for Thaw.
  void Continue(pid_t tid, int sig) VEIL_EXCLUDES(mu_);
  // Notes a task left stopped (a group-stop's LISTEN, a held child).
  void NoteStopped(pid_t tid) VEIL_EXCLUDES(mu_);
  // On the tracer thread: carries out a Freeze or Thaw asked for.
  // `held`: the children stopped before their parent's event.
  void ApplyFreeze(const std::unordered_map<pid_t, pid_t>& held)
      VEIL_EXCLUDES(mu_);
  // Makes the tracer thread leave waitid (EINTR) to look at requests.
  void WakeTracer() VEIL_EXCLUDES(mu_);

  TaskObserver& observer_;
  const NotifiedCall notified_;  // immutable
  pid_t first_task_ = -1;  // set before Start returns, then immutable

  Mutex mu_;
  CondVar cv_;
  bool started_ VEIL_GUARDED_BY(mu_) = false;
  Errno start_error_ VEIL_GUARDED_BY(mu_) = Errno(0);
  bool finished_ VEIL_GUARDED_BY(mu_) = false;
  bool stopping_ VEIL_GUARDED_BY(mu_) = false;
  int first_status_ VEIL_GUARDED_BY(mu_) = 0;
  std::set<pid_t> live_ VEIL_GUARDED_BY(mu_);
  // Freeze: asked for (Freeze/Thaw), in force (the tracer thread
  // interrupted the tasks), the tasks seen stopped since, and the resumes
  // held back.
  bool freeze_asked_ VEIL_GUARDED_BY(mu_) = false;
  bool frozen_ VEIL_GUARDED_BY(mu_) = false;
  // Freeze asks the tracer thread to interrupt again the tasks that have
  // not stopped (a stop of theirs may have taken the first interrupt's
  // trap without a report the tracer held back).
  bool repoke_ VEIL_GUARDED_BY(mu_) = false;
  // vfork parents waiting for their child's exec or exit (parent ->
  // child): such a parent runs nothing until then, and a freeze counts it
  // stopped once its child is (it cannot stop itself: the wait is
  // killable only).
  std::unordered_map<pid_t, pid_t> vfork_child_ VEIL_GUARDED_BY(mu_);
  std::set<pid_t> stopped_ VEIL_GUARDED_BY(mu_);
  std::vector<std::pair<pid_t, int>> deferred_ VEIL_GUARDED_BY(mu_);
  pid_t tracer_tid_ VEIL_GUARDED_BY(mu_) = 0;

  std::thread thread_;
};

}  // namespace veil::sentry
