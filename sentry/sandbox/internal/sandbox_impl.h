// SPDX-License-Identifier: Apache-2.0
//
// The Sandbox's moving parts (sandbox.h has the picture): the live tasks,
// each with its worker thread, and the TaskObserver the tracer reports to.
//
// Thread-safety: `mu_` guards the task map, `pool_mu_` the receiver
// threads' counts; each TaskSlot has its own mutex for its exec state.
// Lock order: SandboxImpl::mu_ before TaskSlot::mu; pool_mu_ is a leaf.
// None is held across a VFS call or a platform call that waits.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <span>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "sentry/kernel/host_twins.h"
#include "sentry/kernel/procfs.h"
#include "sentry/kernel/task.h"
#include "sentry/loader/load_plan.h"
#include "sentry/loader/stub_server.h"
#include "sentry/platform/seccomp_platform.h"
#include "sentry/platform/tracer.h"
#include "sentry/sandbox/cpu_placer.h"
#include "sentry/sandbox/sandbox.h"
#include "sentry/sandbox/signal_watch.h"

namespace veil::sentry::internal {

// The platform tasks are made with: the first task exists (at its first
// exec stop, on the tracer thread) before Launch has returned the real
// one, so tasks hold this forwarder, which is pointed at it before any
// call is received.
class ForwardingPlatform final : public Platform {
 public:
  void Set(Platform* target) { target_.store(target); }
  Result<SyscallRequest> Receive() override { return target_.load()->Receive(); }
  int ReceiveFd() const override { return target_.load()->ReceiveFd(); }
  Result<size_t> ReadMemory(const SyscallRequest& req, TaskAddr addr,
                            std::span<uint8_t> out) override {
    return target_.load()->ReadMemory(req, addr, out);
  }
  Result<size_t> WriteMemory(const SyscallRequest& req, TaskAddr addr,
                             std::span<const uint8_t> in) override {
    return target_.load()->WriteMemory(req, addr, in);
  }
  bool StillPending(const SyscallRequest& req) override {
    return target_.load()->StillPending(req);
  }
  Result<int64_t> Answer(const SyscallRequest& req,
                         const SyscallAnswer& answer) override {
    return target_.load()->Answer(req, answer);
  }
  Result<void> AddFd(const SyscallRequest& req, int host_fd, int number,
                     CloseOnExec cloexec) override {
    return target_.load()->AddFd(req, host_fd, number, cloexec);
  }
  Result<UniqueFd> GetTaskFd(const SyscallRequest& req, int number) override {
    return target_.load()->GetTaskFd(req, number);
  }

 private:
  std::atomic<Platform*> target_{nullptr};
};

// An exec between its stop and the stub's jump: the plan and, once the
// exec happened, the server answering the stub.
class SandboxImpl;

// /proc's view of a sandbox's tasks (proc_tasks.cc): answers from the
// SandboxImpl until Detach, nothing after (the VFS, and so /proc, may
// outlive the run).
class SandboxProcTasks final : public ProcTasks {
 public:
  explicit SandboxProcTasks(SandboxImpl* impl) : impl_(impl) {}
  void Detach() VEIL_EXCLUDES(mu_);

  std::vector<pid_t> Pids() override;
  std::optional<ProcTask> Find(pid_t pid) override;
  std::optional<std::pair<pid_t, pid_t>> Caller() override;
  Result<std::string> ReadMemory(pid_t host_tid, uint64_t addr,
                                 size_t length) override;
  Result<std::string> HostFile(pid_t host_tid, const char* name) override;
  pid_t SandboxPidOf(pid_t host_pid) override;
  Result<UniqueFd> TaskFd(pid_t host_tid, int fd) override;

 private:
  // The threads of each thread group, by sandbox pid.
  std::map<pid_t, ProcTask> Groups() VEIL_EXCLUDES(mu_);

  Mutex mu_;  // held while impl_ is used
  SandboxImpl* impl_ VEIL_GUARDED_BY(mu_);
};

struct PendingExec {
  loader::LoadPlan plan;
  TaskCreds creds;  // the task's from the exec on
  std::optional<loader::StubServer> server;  // borrows `plan`
};

// One task. Its calls come one at a time (a task has at most one
// pending), each served by whichever receiver thread took it.
struct TaskSlot {
  std::unique_ptr<Task> task;
  // Tells the signal watcher when the task's serving thread waits (set
  // before the slot is published, then fixed).
  std::unique_ptr<SlotSleep> sleep;
  // The sentry answered the task's call with -ERESTARTSYS: set before the
  // answer, taken (and cleared) by the tracer at the signal-delivery-stop
  // that follows (TaskObserver::TakeRestartAnswer).
  std::atomic<bool> answered_restart{false};
  // The task's tid in the sandbox's pid namespace, looked up once (0: not
  // yet).
  std::atomic<pid_t> sandbox_tid{0};
  // The CPU the task is pinned to (null: not pinned); released with the
  // slot.
  std::unique_ptr<CpuPlacer::Claim> cpu;
  // A call of the task was received and is not answered yet (a frozen
  // task waiting in it counts as stopped: Tracer::Freeze).
  std::atomic<bool> in_call{false};
  Mutex mu;
  // Prepared at the exec stop, armed at the exec, gone after the stub.
  std::unique_ptr<PendingExec> exec VEIL_GUARDED_BY(mu);
};

class SandboxImpl final : public TaskObserver {
 public:
  SandboxImpl(vfs::Vfs& vfs, const SandboxSpec& spec)
      : vfs_(vfs), spec_(spec) {}
  ~SandboxImpl() override;

  // Prepares the first program and starts it; then serves until every
  // task has exited. Returns the first task's wait status.
  Result<int> Run();

  // What /proc reads (proc_tasks.cc): every task now.
  std::vector<std::shared_ptr<TaskSlot>> AllTasks() VEIL_EXCLUDES(mu_);
  // A STATUS reply's lines (sentry/control/control_protocol.h).
  std::string StatusLines() VEIL_EXCLUDES(mu_);
  // A SNAPSHOT: the rootfs's upper layer written to `fd` as an image,
  // with every call held at the gate and every task frozen meanwhile
  // (sentry/README.md, "Live snapshots"). Returns the reply's lines.
  Result<std::string> Snapshot(int fd) VEIL_EXCLUDES(snapshot_mu_);
  Platform& platform() { return platform_; }

  // ^TaskObserver (tracer thread)
  void OnClone(pid_t parent, pid_t child, CloneKind kind) override;
  void OnExecStop(ExecStop& stop) override;
  void OnExec(pid_t tid, pid_t former_tid) override;
  void OnExit(pid_t tid, int wait_status) override;
  bool TakeRestartAnswer(pid_t tid) override;

 private:
  // The first task, made at its first exec stop (the launcher's exec of
  // the stub), with stdio and the spec's cwd.
  Result<std::shared_ptr<TaskSlot>> MakeFirstTask(pid_t tid);
  std::shared_ptr<TaskSlot> AddTask(std::unique_ptr<Task> task)
      VEIL_EXCLUDES(mu_);
  std::shared_ptr<TaskSlot> FindTask(pid_t tid) VEIL_EXCLUDES(mu_);
  // A receiver thread: takes a call from the platform and serves it
  // itself, so the task's wake-up and its answer stay on the CPU the
  // kernel woke us on (SYNC_WAKE_UP) with no second hand-off. Before
  // serving (which may block: a pipe read), it makes sure another
  // receiver is waiting, so no task waits behind a blocked one; receivers
  // beyond kSpareReceivers idle ones leave. (The margin matters: a task
  // whose answer just went out makes its next call before the thread that
  // answered is back in Receive, so with one spare a thread was started
  // and ended every dozen calls: 12,000 in a 140,000-call run.)
  void ReceiverLoop() VEIL_EXCLUDES(pool_mu_);
  void StartReceiver() VEIL_REQUIRES(pool_mu_);
  // The lead's holder gives it up (it may block, or more calls wait):
  // a follower takes it, or a new receiver if none is idle.
  void HandOffLead() VEIL_EXCLUDES(pool_mu_);
  // base/blocking.h's hook in a receiver: the call being served may
  // block, so the lead this thread holds goes to another.
  static void GiveUpLead();
  // Whether another call waits to be received (a poll of the listener).
  bool MoreCallsWaiting();
  void ServeOne(TaskSlot& slot, const SyscallRequest& req);
  // Dispatch, with a call a signal interrupted answered by Linux's
  // restart code (sentry/kernel/restart.h) when the task has a signal
  // pending, and served again when it has none (a stale interrupt).
  std::optional<SyscallAnswer> DispatchInterruptible(TaskSlot& slot,
                                                     const SyscallRequest& req);

  // exec.cc: the plan for an exec stop of `task`, or the errno the call
  // must fail with.
  Result<loader::LoadPlan> PlanExec(Task& task, ExecStop& stop,
                                    TaskCreds* creds);
  // Opens `path` from `start` as open_exec does, following #!. `creds`
  // holds the caller's credentials and receives the program's (set-id
  // bits, capabilities: TaskCreds::ApplyExec), which the plan's auxv
  // (AT_UID ... AT_SECURE) describes.
  Result<loader::LoadPlan> PlanFor(const vfs::Context& ctx,
                                   const vfs::Location& start,
                                   const std::string& path,
                                   std::vector<std::string> argv,
                                   std::vector<std::string> envp,
                                   TaskCreds* creds);

  vfs::Vfs& vfs_;            // borrowed: outlives Run
  const SandboxSpec& spec_;  // borrowed: outlives Run
  // What tasks and the receive loop use; points at Launch's platform
  // before the first call is received.
  ForwardingPlatform platform_;
  // The data plane's host side (Mode::kDefault), or null (--strict).
  std::shared_ptr<HostTwins> twins_;
  // Interrupts waiting calls of tasks that have a signal pending.
  SignalWatcher watcher_;
  // Held by every call being served (and by the live views' requests);
  // paused by a live snapshot.
  CallGate gate_;
  // One snapshot at a time; the tracer while the control socket serves.
  Mutex snapshot_mu_;
  std::atomic<Tracer*> tracer_{nullptr};
  // Where each task runs (declared before tasks_: outlives every claim).
  CpuPlacer cpus_;
  // /proc's view of the tasks (proc_tasks.cc), detached when Run ends.
  std::shared_ptr<SandboxProcTasks> proc_;

  // The receivers (sandbox.cc, "leader and followers"): one thread at a
  // time holds the lead: it receives the next call and serves it itself,
  // keeping the lead, unless the call may block (base/blocking.h) or
  // another call is already waiting; then it hands the lead to an idle
  // follower. At most kSpareReceivers followers stay idle.
  static constexpr int kSpareReceivers = 4;
  // How long a live snapshot waits for the calls to come to rest and the
  // tasks to stop.
  static constexpr std::chrono::seconds kSnapshotWait{10};
  Mutex pool_mu_;
  CondVar pool_cv_;  // receivers_ went down
  CondVar lead_cv_;  // the lead is free, or draining_
  int receivers_ VEIL_GUARDED_BY(pool_mu_) = 0;  // threads alive
  int followers_ VEIL_GUARDED_BY(pool_mu_) = 0;  // of them, idle
  bool lead_taken_ VEIL_GUARDED_BY(pool_mu_) = false;
  bool draining_ VEIL_GUARDED_BY(pool_mu_) = false;  // no task is left

  Mutex mu_;
  std::map<pid_t, std::shared_ptr<TaskSlot>> tasks_ VEIL_GUARDED_BY(mu_);
  std::atomic<size_t> task_count_{0};  // tasks_.size(), read without mu_
  bool first_made_ VEIL_GUARDED_BY(mu_) = false;
  // The first program's plan, made before the launch (so a missing
  // command fails before anything starts).
  std::unique_ptr<PendingExec> first_exec_ VEIL_GUARDED_BY(mu_);
};

}  // namespace veil::sentry::internal
