// SPDX-License-Identifier: Apache-2.0
#include "sentry/sandbox/sandbox.h"

#include <poll.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/blocking.h"
#include "base/host_io.h"
#include "base/unique_fd.h"
#include "base/logging.h"
#include "overlay/snapshot/io.h"
#include "overlay/snapshot/snapshot.h"
#include "sentry/control/control_server.h"
#include "sentry/kernel/anon_fs.h"
#include "sentry/kernel/fd_table.h"
#include "sentry/kernel/fs_context.h"
#include "sentry/kernel/restart.h"
#include "sentry/loader/stub_protocol.h"
#include "sentry/platform/launcher.h"
#include "base/proc_dir.h"
#include "sentry/platform/seccomp_filter.h"
#include "sentry/sandbox/internal/sandbox_impl.h"

namespace veil::sentry {
namespace internal {
namespace {

// Calls the host kernel runs for the sandbox in part 1 of the sentry:
// processes and their groups are real host processes (the tracer reports
// each clone, so the sentry's tasks follow them).
constexpr int32_t kHostProcessCalls[] = {
    56,   // clone
    57,   // fork
    58,   // vfork
    61,   // wait4
    109,  // setpgid
    111,  // getpgrp
    112,  // setsid
    121,  // getpgid
    124,  // getsid
    247,  // waitid
};

// The filter of every task: the syscall table, with exec traced and the
// stub's calls notified.
Result<SeccompFilter> MakeFilter(Mode mode) {
  std::vector<SeccompRule> rules;
  for (const SyscallEntry& entry : SyscallTable()) {
    SeccompAction action = SeccompAction::Notify();
    if (entry.nr == 59 || entry.nr == 322) {  // execve, execveat
      action = SeccompAction::Trace(0);
    } else if (entry.nr == 9) {
      // mmap: native, but for file mappings in the default mode (the
      // guard below).
      action = SeccompAction::Allow();
    } else if (std::find(std::begin(kHostProcessCalls),
                         std::end(kHostProcessCalls),
                         entry.nr) != std::end(kHostProcessCalls)) {
      action = SeccompAction::Allow();
    } else if (Trapped(entry, mode)) {
      action = SeccompAction::Notify();
    } else if (entry.kind == SyscallKind::kDenied) {
      action = SeccompAction::Error(static_cast<uint16_t>(entry.error));
    } else {
      action = SeccompAction::Allow();
    }
    rules.push_back({entry.nr, action});
  }
  // The launcher's child sends the listener with sendmsg before its exec
  // (launcher.h); until sockets are served, sendmsg runs on host fds.
  for (int32_t nr : SyscallsBeforeExec()) {
    for (SeccompRule& rule : rules) {
      if (rule.nr == nr && rule.action.kind() != SeccompAction::Kind::kTrace)
        rule.action = SeccompAction::Allow();
    }
  }
  for (int32_t nr : {VEIL_STUB_NR_GET_PLAN, VEIL_STUB_NR_GET_FD,
                     VEIL_STUB_NR_FAIL})
    rules.push_back({nr, SeccompAction::Notify()});
  // clone(2) runs natively, but not with the flags that make namespaces
  // (Linux answers EPERM to a caller without the capability: the sandbox
  // has its namespaces, and unshare and setns are denied too).
  constexpr uint32_t kCloneNewAny = CLONE_NEWNS | CLONE_NEWCGROUP |
                                    CLONE_NEWUTS | CLONE_NEWIPC |
                                    CLONE_NEWUSER | CLONE_NEWPID |
                                    CLONE_NEWNET;
  std::vector<SeccompArgGuard> guards = {
      {56, 0, kCloneNewAny, SeccompAction::Error(EPERM)},
  };
  // A file mapping (mmap without MAP_ANONYMOUS) is the sentry's to see
  // first in the default mode: it keeps the file's host memory for the
  // mapping's life (SysMmap), then lets the host map the task's own fd.
  if (mode == Mode::kDefault) {
    guards.push_back({9, 3, MAP_ANONYMOUS, SeccompAction::Notify(),
                      GuardWhen::kNoneSet});
    // sendto with an address: a unix path in it is the VFS's to resolve
    // (SysSendto); without one (the usual send on a connected socket) it
    // stays native. A filter sees the pointer's low 32 bits only; an
    // address whose low half is 0 runs natively and, resolved by the
    // host in the task's empty root, reaches no host socket.
    guards.push_back({44, 4, 0xffffffffu, SeccompAction::Notify()});
  }
  return SeccompFilter::Create(rules, SeccompAction::Error(ENOSYS), guards);
}

// The calls whose EPIPE comes with SIGPIPE (pipe_write; sockets' send
// without MSG_NOSIGNAL once they are served).
bool RaisesSigpipe(int nr) {
  switch (nr) {
    case 1:    // write
    case 18:   // pwrite64
    case 20:   // writev
    case 296:  // pwritev
    case 328:  // pwritev2
      return true;
    default:
      return false;
  }
}

// The thread group of `tid` (/proc/TID/status, through the sentry's
// procfs: base/proc_dir.h), or `tid`.
pid_t ThreadGroupOf(pid_t tid) {
  UniqueFd status = OpenProcStatus(tid);
  if (!status) return tid;
  char buf[4096];
  const ssize_t n = read(status.get(), buf, sizeof buf - 1);
  if (n <= 0) return tid;
  buf[n] = '\0';
  // Fields at the start of a line only (the name line may hold anything).
  for (const char* line = buf; line != nullptr && *line != '\0';) {
    int tgid = -1;
    if (std::sscanf(line, "Tgid: %d", &tgid) == 1 && tgid > 0) return tgid;
    line = std::strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return tid;
}

void PrintTrace(const SyscallRequest& req, const SyscallAnswer& answer) {
  const SyscallEntry* entry = FindSyscall(req.nr);
  std::string line = "[" + std::to_string(req.tid) + "] " +
                     (entry ? entry->name : "syscall_" + std::to_string(req.nr)) +
                     "(";
  char buf[32];
  for (size_t i = 0; i < req.args.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%#" PRIx64, i ? ", " : "", req.args[i]);
    line += buf;
  }
  line += ") = ";
  switch (answer.kind()) {
    case SyscallAnswer::Kind::kError:
      line += "-1 errno " + std::to_string(answer.error()) + " (" +
              (answer.error() == kErestartSys     ? "ERESTARTSYS"
               : answer.error() == kErestartNoHand ? "ERESTARTNOHAND"
                                                   : std::strerror(answer.error())) +
              ")";
      break;
    case SyscallAnswer::Kind::kInstallFd:
      line += "fd";
      break;
    case SyscallAnswer::Kind::kContinue:
      line += "(continued)";
      break;
    case SyscallAnswer::Kind::kValue:
      line += std::to_string(answer.value());
      break;
  }
  line += "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

std::vector<std::shared_ptr<TaskSlot>> SandboxImpl::AllTasks() {
  MutexLock lock(mu_);
  std::vector<std::shared_ptr<TaskSlot>> out;
  out.reserve(tasks_.size());
  for (const auto& [tid, slot] : tasks_) out.push_back(slot);
  return out;
}

std::string SandboxImpl::StatusLines() {
  std::set<pid_t> processes;
  std::set<const FdTable*> tables;
  size_t tasks = 0, fds = 0;
  for (const std::shared_ptr<TaskSlot>& slot : AllTasks()) {
    if (!slot->task) continue;
    TaskView view = slot->task->View();
    ++tasks;
    processes.insert(view.tgid);
    if (tables.insert(view.fds.get()).second) fds += view.fds->Snapshot().size();
  }
  return "tasks " + std::to_string(tasks) + "\nprocesses " +
         std::to_string(processes.size()) + "\nopen_fds " +
         std::to_string(fds) + "\n";
}

namespace {

// The whole of memfd `from` into `to` (an empty regular file), from the
// start of each.
Result<void> CopyImage(int from, int to) {
  std::vector<uint8_t> buffer(1 << 20);
  for (uint64_t at = 0;;) {
    const HostIo in = PReadFull(from, buffer, at);
    if (in.error != 0) return Errno(in.error);
    if (in.done == 0) return Ok();
    const HostIo out =
        PWriteFull(to, std::span<const uint8_t>(buffer.data(), in.done), at);
    if (out.error != 0) return Errno(out.error);
    at += in.done;
  }
}

}  // namespace

Result<std::string> SandboxImpl::Snapshot(int fd) {
  // A regular file only: nothing the copy could wait on for ever.
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno::FromErrno();
  if (!S_ISREG(st.st_mode)) return Errno(EINVAL);
  MutexLock one(snapshot_mu_);
  Tracer* tracer = tracer_.load();
  if (tracer == nullptr) return Errno(ESRCH);
  // Bounded: a call that never comes to rest (a FIFO's open waiting for a
  // peer held at the gate, say) fails the snapshot, not the sandbox.
  const auto deadline = std::chrono::steady_clock::now() + kSnapshotWait;
  if (!gate_.Pause(deadline)) return Errno(EBUSY);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  Result<void> frozen = tracer->Freeze(
      [this](pid_t tid) {
        std::shared_ptr<TaskSlot> slot = FindTask(tid);
        return slot && slot->in_call.load(std::memory_order_acquire);
      },
      std::max(left, std::chrono::milliseconds(1)));
  if (!frozen) {
    gate_.Resume();
    return frozen.error();
  }
  // At rest: no call is served, no task runs. A Vfs of the layer's own
  // (the overlay's is idle), as `veil fuse --rootfs` does on SIGUSR1. The
  // image goes to a memfd of ours first: the client's file could be one
  // the sandbox serves (in a view of it), whose writes would wait for the
  // gate, or a pipe nobody reads; nothing outside may hold the sandbox.
  UniqueFd image(memfd_create("veil-snapshot", MFD_CLOEXEC));
  snapshot::SnapshotResult<snapshot::WriteStats> stats =
      snapshot::SnapshotError{image ? 0 : errno, "cannot make a memfd"};
  if (image) {
    vfs::Vfs layer(Ref<vfs::Filesystem>(*spec_.snapshot_layer));
    snapshot::FdSink sink(image.get());
    stats = snapshot::WriteImage(layer, layer.RootLocation(), sink, {});
  }
  tracer->Thaw();
  gate_.Resume();
  if (!stats) {
    VEIL_LOG(kWarning) << "sentry: snapshot: " << stats.error().message;
    return Errno(stats.error().code ? stats.error().code : EIO);
  }
  VEIL_TRY_VOID(CopyImage(image.get(), fd));
  return "entries " + std::to_string(stats->entries) + "\ndata_bytes " +
         std::to_string(stats->data_bytes) + "\nimage_bytes " +
         std::to_string(stats->image_bytes) + "\n";
}

SandboxImpl::~SandboxImpl() {
  if (proc_) proc_->Detach();
  // Receivers leave once Receive fails (no task left); wait for them.
  MutexLock lock(pool_mu_);
  while (receivers_ > 0) pool_cv_.Wait(pool_mu_);
}

std::shared_ptr<TaskSlot> SandboxImpl::AddTask(std::unique_ptr<Task> task) {
  auto slot = std::make_shared<TaskSlot>();
  slot->task = std::move(task);
  slot->sleep =
      std::make_unique<SlotSleep>(watcher_, gate_, slot, slot.get());
  slot->task->waiter().set_sleep_observer(slot->sleep.get());
  // Pinned before it runs (a clone is reported before the child runs).
  slot->cpu = cpus_.Place(slot->task->tid());
  MutexLock lock(mu_);
  tasks_[slot->task->tid()] = slot;
  task_count_.store(tasks_.size(), std::memory_order_relaxed);
  return slot;
}

std::shared_ptr<TaskSlot> SandboxImpl::FindTask(pid_t tid) {
  MutexLock lock(mu_);
  auto it = tasks_.find(tid);
  return it == tasks_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<TaskSlot>> SandboxImpl::MakeFirstTask(pid_t tid) {
  vfs::Context ctx = vfs_.RootContext();
  vfs::Location cwd =
      VEIL_TRY(vfs_.ResolveAt(ctx, ctx.root, spec_.cwd, 0));
  Ref<FdTable> fds = FdTable::Create();
  for (int fd = 0; fd < 3; ++fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) continue;  // veil itself has no such fd
    UniqueFd copy(fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!copy) return Errno::FromErrno();
    auto reserved = VEIL_TRY(fds->Allocate(fd, fd + 1));
    std::move(reserved).Install(
        MakeHostFdFile(std::move(copy), flags & O_ACCMODE), CloseOnExec::kNo);
  }
  auto task = std::make_unique<Task>(
      platform_, vfs_, tid, tid, vfs::Credentials::Root(), std::move(fds),
      FsContext::Create(ctx.root, std::move(cwd), 022));
  task->set_twins(twins_.get());
  return AddTask(std::move(task));
}

void SandboxImpl::OnClone(pid_t parent, pid_t child, CloneKind kind) {
  std::shared_ptr<TaskSlot> from = FindTask(parent);
  if (!from) return;  // a task we never knew (cannot happen: all traced)
  Task& p = *from->task;
  const pid_t tgid = kind == CloneKind::kClone ? ThreadGroupOf(child) : child;
  const bool thread = tgid == p.tgid();
  // A thread shares the table and fs context (CLONE_FILES | CLONE_FS, as
  // every thread library asks); a process gets copies (dup_fd,
  // copy_fs_struct).
  auto task = std::make_unique<Task>(
      platform_, vfs_, child, tgid, p.creds(),
      thread ? p.fds_ref() : p.fds().Fork(),
      thread ? p.fs_ref() : p.fs().Fork());
  task->set_nofile_limit(p.nofile_limit());
  task->set_twins(twins_.get());
  task->set_image(p.View().image);  // the same memory (or a copy of it)
  AddTask(std::move(task));
}

void SandboxImpl::OnExit(pid_t tid, int /*wait_status*/) {
  std::shared_ptr<TaskSlot> slot;
  {
    MutexLock lock(mu_);
    auto it = tasks_.find(tid);
    if (it == tasks_.end()) return;
    slot = std::move(it->second);
    tasks_.erase(it);
    task_count_.store(tasks_.size(), std::memory_order_relaxed);
  }
  // A call it was blocked in ends (EINTR); its answer goes nowhere.
  slot->task->Interrupt();
}

bool SandboxImpl::TakeRestartAnswer(pid_t tid) {
  std::shared_ptr<TaskSlot> slot = FindTask(tid);
  return slot && slot->answered_restart.exchange(false);
}

void SandboxImpl::StartReceiver() {
  ++receivers_;
  std::thread([this] { ReceiverLoop(); }).detach();
}

namespace {

// The pool whose lead this thread holds while it serves a call, or null.
thread_local SandboxImpl* held_lead = nullptr;

}  // namespace

void SandboxImpl::GiveUpLead() {
  if (SandboxImpl* pool = std::exchange(held_lead, nullptr))
    pool->HandOffLead();
}

void SandboxImpl::HandOffLead() {
  MutexLock lock(pool_mu_);
  lead_taken_ = false;
  if (draining_) return;
  if (followers_ > 0) {
    lead_cv_.Signal();
  } else {
    StartReceiver();
  }
}

bool SandboxImpl::MoreCallsWaiting() {
  pollfd p{platform_.ReceiveFd(), POLLIN, 0};
  return p.fd >= 0 && ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

void SandboxImpl::ReceiverLoop() {
  // Leader and followers: a thread serves the calls it receives itself,
  // so a task's quick call costs one hand-off between the task and one
  // sentry thread, on one CPU (a pool that woke a thread per call, or
  // made one, cost two to three times the floor: sentry/README.md).
  SetMayBlockHook(&GiveUpLead);
  bool lead = false;
  for (;;) {
    if (!lead) {
      MutexLock lock(pool_mu_);
      ++followers_;
      while (lead_taken_ && !draining_) lead_cv_.Wait(pool_mu_);
      --followers_;
      if (draining_) {
        --receivers_;
        pool_cv_.SignalAll();
        return;
      }
      lead_taken_ = true;
      lead = true;
    }
    Result<SyscallRequest> req = platform_.Receive();
    if (!req) {
      if (req.error().code() == EINTR) continue;  // still the leader
      MutexLock lock(pool_mu_);
      draining_ = true;  // ECANCELED: no task is left
      lead_taken_ = false;
      lead_cv_.SignalAll();
      --receivers_;
      pool_cv_.SignalAll();
      return;
    }
    held_lead = this;
    // Calls of other tasks already waiting are served alongside this one
    // (a lone task's next call cannot be waiting: the poll is saved).
    if (task_count_.load(std::memory_order_relaxed) > 1 && MoreCallsWaiting())
      GiveUpLead();
    std::shared_ptr<TaskSlot> slot = FindTask(req->tid);
    if (!slot) {
      // Not a task of ours (cannot happen: every clone is reported
      // before the child runs). It must not hang.
      (void)platform_.Answer(*req, SyscallAnswer::Error(Errno(ENOSYS)));
    } else {
      ServeOne(*slot, *req);
    }
    lead = std::exchange(held_lead, nullptr) == this;
    if (!lead) {
      MutexLock lock(pool_mu_);
      if (followers_ >= kSpareReceivers) {
        --receivers_;
        pool_cv_.SignalAll();
        return;
      }
    }
  }
}

void SandboxImpl::ServeOne(TaskSlot& slot, const SyscallRequest& req) {
  // The call holds the gate until answered (but while it sleeps), and is
  // the task's call in hand meanwhile.
  slot.in_call.store(true, std::memory_order_release);
  gate_.Enter();
  struct Done {
    TaskSlot& slot;
    CallGate& gate;
    ~Done() {
      // Not in a call any more before leaving the gate: once a pause
      // holds the gate, a task it counts as in a call must be one.
      slot.in_call.store(false, std::memory_order_release);
      gate.Leave();
    }
  } done{slot, gate_};
  // A new call: the last answer's stops are over, so a restart mark the
  // tracer did not take (SIGCONT blocked after a stop) is dropped.
  slot.answered_restart.store(false, std::memory_order_relaxed);
  {
    MutexLock lock(slot.mu);
    if (slot.exec && slot.exec->server) {
      auto outcome = slot.exec->server->Serve(req);
      if (outcome && *outcome != loader::StubServer::Outcome::kNotStub) {
        if (*outcome == loader::StubServer::Outcome::kFailed) {
          const auto& f = *slot.exec->server->failure();
          std::fprintf(stderr, "veil: exec failed in the stub (step %d): %s\n",
                       f.step, std::strerror(f.error));
          slot.exec.reset();
        } else if (req.nr == 3 && slot.exec->server->open_fds().empty()) {
          slot.exec.reset();  // the stub closed what it got: it is done
        }
        return;
      }
      if (!outcome) return;  // the platform's error: the task is gone
    }
  }
  Task& task = *slot.task;
  std::optional<SyscallAnswer> answer = DispatchInterruptible(slot, req);
  // The host fds the answer installs, kept open until it is sent. Taken
  // out of the task now: once answered, the task's next call may be
  // served by another receiver (which starts with fresh effects) before
  // this thread is done here.
  CallEffects effects = std::exchange(task.effects(), CallEffects{});
  if (!answer) return;  // no longer pending
  if (spec_.strace == StraceOutput::kStderr) PrintTrace(req, *answer);
  if (answer->kind() == SyscallAnswer::Kind::kError &&
      answer->error() == EPIPE && RaisesSigpipe(req.nr)) {
    // pipe_write: a write with no reader left raises SIGPIPE in the
    // writer, then fails with EPIPE. Queued before the answer, the signal
    // is delivered as the call returns, as Linux does.
    (void)syscall(SYS_tgkill, task.tgid(), task.tid(), SIGPIPE);
  }
  // An interrupted call (ENOENT) comes again; nothing else can be done
  // for a task the platform can no longer answer.
  (void)platform_.Answer(req, *answer);
}

std::optional<SyscallAnswer> SandboxImpl::DispatchInterruptible(
    TaskSlot& slot, const SyscallRequest& req) {
  for (;;) {
    std::optional<SyscallAnswer> answer = Dispatch(*slot.task, req);
    // Only a wait ends with EINTR, and only Task::Interrupt ends one so:
    // the watcher saw a signal pending, or the task exited (OnExit).
    if (!answer || answer->kind() != SyscallAnswer::Kind::kError ||
        answer->error() != EINTR) {
      return answer;
    }
    switch (PendingSignal(slot.task->tid())) {
      case SignalState::kGone:
        return answer;  // goes nowhere
      case SignalState::kPending: {
        const int code = InterruptedAnswer(req.nr);
        // The tracer must leave this -ERESTARTSYS alone: the handler's
        // SA_RESTART decides (it turns an unreceived call's into
        // -ERESTARTNOINTR, tracer.h). Marked before the answer: the
        // signal-delivery-stop comes after it.
        if (code == kErestartSys) slot.answered_restart.store(true);
        return SyscallAnswer::Error(Errno(code));
      }
      case SignalState::kNone:
        // A stale interrupt (the watcher's came as the wait ended, and
        // the signal was taken since): nothing would act on a restart
        // code, so serve the call again (handlers are safe to run twice;
        // an interrupted one did nothing).
        slot.task->effects() = CallEffects{};
        break;
    }
  }
}

Result<int> SandboxImpl::Run() {
  {
    vfs::Context ctx = vfs_.RootContext();
    vfs::Location cwd = VEIL_TRY(vfs_.ResolveAt(ctx, ctx.root, spec_.cwd, 0));
    ctx.cwd = cwd;
    TaskCreds creds = spec_.creds ? *spec_.creds : TaskCreds::Root();
    ctx.creds = creds.Vfs();
    auto plan = VEIL_TRY(
        PlanFor(ctx, cwd, spec_.path, spec_.argv, spec_.envp, &creds));
    MutexLock lock(mu_);
    first_exec_ = std::make_unique<PendingExec>();
    first_exec_->plan = std::move(plan);
    first_exec_->creds = std::move(creds);
  }
  if (spec_.proc) {
    // The sandbox's /proc, over the rootfs's /proc (made if missing).
    proc_ = std::make_shared<SandboxProcTasks>(this);
    vfs::Context ctx = vfs_.RootContext();
    ctx.umask = 0;
    if (Result<void> made = vfs_.MkdirAt(ctx, ctx.root, "/proc", 0555);
        !made && made.error().code() != EEXIST)
      return made.error();
    VEIL_TRY_VOID(vfs_.MountAt(ctx, MakeProcFs(vfs_, proc_, *spec_.proc),
                               ctx.root, "/proc", 0));
  }
  SeccompFilter filter = VEIL_TRY(MakeFilter(spec_.mode));
  if (spec_.mode == Mode::kDefault) {
    twins_ = spec_.twins ? spec_.twins
                         : std::shared_ptr<HostTwins>(
                               VEIL_TRY(HostTwins::Create()));
  }
  watcher_.Start();

  LaunchSpec launch;
  // The stub by its name in the tasks' own root, which holds nothing else
  // (a mount namespace of their own: sentry/platform/empty_root.h).
  launch.path = kTaskStubPath;
  launch.argv = {kTaskStubPath};
  launch.mount_namespace = MountNamespace::kEmptyRoot;
  launch.program_fd = spec_.stub_fd;
  // A pid namespace of their own (the first task is its init, as in a
  // container): a task's native kill, wait4 and getpid name only the
  // sandbox's processes, never the host's.
  launch.pid_namespace = PidNamespace::kNew;
  // The platform exists before the first notification: Launch returns it,
  // and the first task's calls wait until Receive runs.
  Result<Launched> launched = Launch(filter, launch, *this, SyncWakeUp::kOn);
  if (!launched) return launched.error();
  if (spec_.before_serving) {
    if (Result<void> ready = spec_.before_serving(); !ready) {
      launched->tracer.reset();  // kills the first task
      return ready.error();
    }
  }
  platform_.Set(launched->platform.get());
  {
    MutexLock lock(pool_mu_);
    StartReceiver();
  }
  // The control socket (veil ps, veil fuse SANDBOX) for the whole run;
  // stopped, its views ended, before the Vfs can go.
  std::optional<ControlServer> control;
  if (spec_.control_fd >= 0) {
    tracer_.store(launched->tracer.get());
    ControlServer::Hooks hooks;
    hooks.status = [this] { return StatusLines(); };
    if (spec_.snapshot_layer)
      hooks.snapshot = [this](int fd) { return Snapshot(fd); };
    hooks.gate = &gate_;
    control.emplace(vfs_, std::move(hooks));
    control->Start(spec_.control_fd);
  }
  const int status = launched->tracer->Wait();
  {
    // Every task is gone: Receive fails in each receiver now.
    MutexLock lock(pool_mu_);
    while (receivers_ > 0) pool_cv_.Wait(pool_mu_);
  }
  if (control) control->Stop();
  tracer_.store(nullptr);
  launched->tracer.reset();
  watcher_.Stop();
  return status;
}

}  // namespace internal

Result<int> RunSandbox(vfs::Vfs& vfs, const SandboxSpec& spec) {
  internal::SandboxImpl impl(vfs, spec);
  return impl.Run();
}

}  // namespace veil::sentry
