// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/tracer.h"

#include "base/proc_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <stddef.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/logging.h"
#include "base/unique_fd.h"

namespace veil::sentry {
namespace {

constexpr long kOptions = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEEXEC |
                          PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                          PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL;

// Resumes a stopped tracee, delivering `sig` (0: none). ESRCH (the task
// was killed meanwhile) is not an error: its exit comes next.
void Resume(pid_t tid, int sig) {
  ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(long{sig}));
}

// What wakes the tracer thread from waitid for a Freeze or Thaw: a
// handler that does nothing, installed without SA_RESTART.
int WakeSignal() { return SIGRTMIN + 7; }
void IgnoreWake(int) {}

unsigned long EventMessage(pid_t tid) {
  unsigned long msg = 0;
  ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &msg);
  return msg;
}

// The parent process of `tid` if it is a process of its own (not a
// thread: a thread dies with its group), from /proc; -1 if it is a
// thread or unknown (no /proc, or the task is gone).
pid_t ParentProcess(pid_t tid) {
  UniqueFd fd = OpenProcStatus(tid);
  if (!fd) return -1;
  char buf[4096];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // The name line comes first and may hold anything: look for the
  // fields at the start of a line only.
  int tgid = -1;
  int ppid = -1;
  for (const char* line = buf; line != nullptr && *line != '\0';) {
    sscanf(line, "Tgid: %d", &tgid);
    sscanf(line, "PPid: %d", &ppid);
    line = strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return tgid == tid ? ppid : -1;
}

// Whether `tid` runs no code of its own: a zombie (a thread-group leader
// that exited before its threads: its exit is reported only with the
// group's, and PTRACE_INTERRUPT does nothing to it) or gone.
bool Dead(pid_t tid) {
  UniqueFd fd = OpenProcStatus(tid);
  if (!fd) return true;
  char buf[4096];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return true;
  buf[n] = '\0';
  for (const char* line = buf; line != nullptr && *line != '\0';) {
    char state = 0;
    if (sscanf(line, "State: %c", &state) == 1)
      return state == 'Z' || state == 'X';
    line = strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return false;
}

// The kernel's restart codes (include/linux/errno.h: never seen by a
// program).
constexpr int64_t kErestartSys = 512;
constexpr int64_t kErestartNoIntr = 513;

bool IsStoppingSignal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

// Whether `tid`'s process has a handler for `sig` (SigCgt of
// /proc/TID/status); SIGSTOP never has one. Unknown counts as caught.
bool Catches(pid_t tid, int sig) {
  if (sig == SIGSTOP) return false;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return true;
  char buf[8192];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return true;
  buf[n] = '\0';
  // Matched at the start of a line only (the name line may hold anything).
  for (const char* line = buf; line != nullptr && *line != '\0';) {
    unsigned long long caught = 0;
    if (sscanf(line, "SigCgt: %llx", &caught) == 1)
      return (caught >> (sig - 1)) & 1;
    line = strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return true;
}

}  // namespace

Result<Registers> ExecStop::GetRegisters() const {
  user_regs_struct raw;
  if (ptrace(PTRACE_GETREGS, tid_, nullptr, &raw) != 0) {
    return Errno::FromErrno();
  }
  return Registers(raw);
}

Result<void> ExecStop::SetRegisters(const Registers& regs) {
  user_regs_struct raw = regs.raw();
  return FromSyscall(ptrace(PTRACE_SETREGS, tid_, nullptr, &raw));
}

Result<void> ExecStop::RedirectExec(std::string_view path,
                                    std::span<const std::string> argv) {
  constexpr uint64_t kRedZone = 128;
  constexpr size_t kMaxBlock = 64 * 1024;
  Registers regs = VEIL_TRY(GetRegisters());
  // The block, from its (16-byte aligned) start: argv pointers, NULL, the
  // envp NULL, then the path and the argv strings.
  size_t pointers = (argv.size() + 2) * sizeof(uint64_t);
  size_t total = pointers + path.size() + 1;
  for (const std::string& a : argv) total += a.size() + 1;
  // Linux: execve answers E2BIG for arguments beyond its limit.
  if (total > kMaxBlock) return Errno(E2BIG);
  uint64_t sp = regs.stack_pointer();
  // Linux: a stack the block does not fit under is a fault (EFAULT).
  if (sp < kRedZone + total + 16) return Errno(EFAULT);
  uint64_t base = (sp - kRedZone - total) & ~uint64_t{15};
  std::vector<uint8_t> block(total, 0);
  uint64_t at = base + pointers;
  auto put_string = [&](std::string_view text) {
    memcpy(block.data() + (at - base), text.data(), text.size());
    uint64_t where = at;
    at += text.size() + 1;
    return where;
  };
  uint64_t path_addr = put_string(path);
  for (size_t i = 0; i < argv.size(); ++i) {
    uint64_t where = put_string(argv[i]);
    memcpy(block.data() + i * sizeof(uint64_t), &where, sizeof where);
  }
  iovec mine{block.data(), block.size()};
  iovec theirs{reinterpret_cast<void*>(base), block.size()};
  ssize_t n = process_vm_writev(tid_, &mine, 1, &theirs, 1, 0);
  if (n < 0) return Errno::FromErrno();
  // Linux: copy_to_user() short of the whole block is EFAULT.
  if (static_cast<size_t>(n) != block.size()) return Errno(EFAULT);
  regs.set_syscall_nr(SYS_execve);
  regs.set_arg(0, path_addr);
  regs.set_arg(1, base);
  regs.set_arg(2, base + (argv.size() + 1) * sizeof(uint64_t));
  return SetRegisters(regs);
}

Result<std::unique_ptr<Tracer>> Tracer::Start(
    TaskObserver& observer, std::function<Result<pid_t>()> spawn,
    NotifiedCall notified) {
  std::unique_ptr<Tracer> tracer(new Tracer(observer, std::move(notified)));
  Tracer* t = tracer.get();
  t->thread_ = std::thread([t, spawn = std::move(spawn)] { t->Run(spawn); });
  Errno error(0);
  {
    MutexLock lock(t->mu_);
    while (!t->started_) t->cv_.Wait(t->mu_);
    error = t->start_error_;
  }
  if (error.code() != 0) {
    t->thread_.join();
    return error;
  }
  return tracer;
}

Tracer::~Tracer() {
  KillAll();
  if (thread_.joinable()) thread_.join();
}

int Tracer::Wait() {
  MutexLock lock(mu_);
  while (!finished_) cv_.Wait(mu_);
  return first_status_;
}

void Tracer::KillAll() {
  MutexLock lock(mu_);
  stopping_ = true;
  for (pid_t tid : live_) kill(tid, SIGKILL);
}

bool Tracer::AddLive(pid_t tid) {
  MutexLock lock(mu_);
  live_.insert(tid);
  return !stopping_;
}

void Tracer::RemoveLive(pid_t tid) {
  MutexLock lock(mu_);
  live_.erase(tid);
}

pid_t Tracer::NextReport(int* status) {
  for (;;) {
    // Look first (WNOWAIT): an exit is reaped under mu_ together with its
    // removal from live_, so KillAll never signals a reaped, maybe reused,
    // pid.
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info,
               WEXITED | WSTOPPED | WNOWAIT | __WALL | __WNOTHREAD) != 0) {
      if (errno == EINTR) return 0;  // WakeTracer: look at the requests
      if (errno != ECHILD) {
        VEIL_LOG(kError) << "tracer: waitid: " << strerror(errno);
      }
      return -1;  // ECHILD: no task left
    }
    pid_t tid = info.si_pid;
    bool exit = info.si_code == CLD_EXITED || info.si_code == CLD_KILLED ||
                info.si_code == CLD_DUMPED;
    pid_t got;
    if (exit) {
      MutexLock lock(mu_);
      live_.erase(tid);
      got = waitpid(tid, status, __WALL | __WNOTHREAD);
    } else {
      got = waitpid(tid, status, __WALL | __WNOTHREAD);
    }
    if (got == tid) return tid;
    // EINTR, or the report went (SIGKILL turned a stop into an exit
    // before we took it): look again.
  }
}

void Tracer::RestartUnreceived(pid_t tid, int sig) {
  if (!notified_) return;
  user_regs_struct regs;
  // ESRCH: killed meanwhile; its exit comes next.
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return;
  // orig_rax is the number of the call the task stopped in, or -1 when
  // the signal came while it ran its own code (an interrupt entry).
  const auto nr = static_cast<int64_t>(regs.orig_rax);
  if (nr < 0 || !notified_(nr)) return;
  const bool interrupted = static_cast<int64_t>(regs.rax) == -kErestartSys;
  // A stopping signal without a handler stops the task inside get_signal
  // (do_signal_stop) and changes nothing: the call's fate is decided at
  // the next stop (SIGCONT's, whose handler's SA_RESTART counts, as in
  // Linux), so leave the registers and the sentry's mark for it. With
  // SIGCONT blocked no stop comes, no handler runs, and the call restarts
  // either way (the sandbox drops the mark at the task's next call).
  if (interrupted && IsStoppingSignal(sig) && !Catches(tid, sig)) return;
  // Asked (and the sentry's mark dropped) at every other such stop, so a
  // mark is never left for a later call.
  const bool sentry_answered = observer_.TakeRestartAnswer(tid);
  if (!interrupted || sentry_answered) return;
  // kernel/seccomp.c seccomp_do_user_notification: a signal before the
  // listener's NOTIF_RECV ends wait_for_completion_interruptible with
  // -ERESTARTSYS (after the receive the wait is killable only:
  // should_sleep_killable), which syscall_set_return_value puts in rax,
  // and the call is skipped. The sentry never saw it; Linux would have
  // served it after the handler. arch/x86/kernel/signal.c: handle_signal
  // turns -ERESTARTSYS into -EINTR for a handler without SA_RESTART but
  // re-executes the call for -ERESTARTNOINTR whatever the handler's flags
  // (rax = orig_rax, rip -= 2), and arch_do_signal_or_restart restarts it
  // when no handler runs (an ignored or stopping signal) either way.
  // Only rax changes; the stop's registers are what get_signal resumes
  // with (ptrace_signal).
  ptrace(PTRACE_POKEUSER, tid,
         reinterpret_cast<void*>(offsetof(user_regs_struct, rax)),
         reinterpret_cast<void*>(-kErestartNoIntr));
}

void Tracer::Run(const std::function<Result<pid_t>()>& spawn) {
  Result<pid_t> child = spawn();
  Errno error(0);
  if (!child) {
    error = child.error();
  } else if (ptrace(PTRACE_SEIZE, *child, nullptr,
                    reinterpret_cast<void*>(kOptions)) != 0) {
    error = Errno::FromErrno();
    kill(*child, SIGKILL);
    int status;
    waitpid(*child, &status, __WALL);
  } else {
    first_task_ = *child;
    AddLive(*child);
    {
      MutexLock lock(mu_);
      tracer_tid_ = static_cast<pid_t>(syscall(SYS_gettid));
    }
    // The task stopped itself before exec; SIGCONT lets it go on to exec
    // under the tracer.
    kill(*child, SIGCONT);
  }
  {
    MutexLock lock(mu_);
    started_ = true;
    start_error_ = error;
    if (error.code() != 0) finished_ = true;
  }
  cv_.SignalAll();
  if (error.code() != 0) return;
  Serve();
  MutexLock lock(mu_);
  finished_ = true;
  tracer_tid_ = 0;
  cv_.SignalAll();
}

void Tracer::Continue(pid_t tid, int sig) {
  {
    MutexLock lock(mu_);
    if (frozen_) {
      deferred_.emplace_back(tid, sig);
      stopped_.insert(tid);
      cv_.SignalAll();
      return;
    }
  }
  Resume(tid, sig);
}

void Tracer::NoteStopped(pid_t tid) {
  MutexLock lock(mu_);
  if (!frozen_) return;
  stopped_.insert(tid);
  cv_.SignalAll();
}

void Tracer::ApplyFreeze(const std::unordered_map<pid_t, pid_t>& held) {
  MutexLock lock(mu_);
  if (freeze_asked_ && !frozen_) {
    frozen_ = true;
    stopped_.clear();
    for (const auto& [child, parent] : held) stopped_.insert(child);
    // A task in a stop already (a LISTEN'd group-stop) reports a new
    // PTRACE_EVENT_STOP; one running stops at once; one in a notified
    // call the sentry has not received leaves it (the call restarts
    // after the stop); one whose call was received stops once answered.
    for (pid_t tid : live_) ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    cv_.SignalAll();
  } else if (freeze_asked_ && frozen_ && repoke_) {
    repoke_ = false;
    for (pid_t tid : live_) {
      if (!stopped_.contains(tid))
        ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    }
  } else if (!freeze_asked_ && frozen_) {
    frozen_ = false;
    for (const auto& [tid, sig] : deferred_) Resume(tid, sig);
    deferred_.clear();
    stopped_.clear();
    cv_.SignalAll();
  }
}

void Tracer::WakeTracer() {
  // Under mu_: the thread clears tracer_tid_ under it before it ends, so
  // a reused tid is never signalled.
  MutexLock lock(mu_);
  if (tracer_tid_ > 0) syscall(SYS_tgkill, getpid(), tracer_tid_, WakeSignal());
}

Result<void> Tracer::Freeze(const std::function<bool(pid_t)>& busy,
                            std::chrono::milliseconds timeout) {
  static const bool installed = [] {
    struct sigaction sa = {};
    sa.sa_handler = IgnoreWake;  // no SA_RESTART: waitid returns EINTR
    sigemptyset(&sa.sa_mask);
    return sigaction(WakeSignal(), &sa, nullptr) == 0;
  }();
  if (!installed) return Errno(ENOSYS);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    MutexLock lock(mu_);
    if (finished_ || stopping_) return Errno(ESRCH);
    freeze_asked_ = true;
    repoke_ = false;
  }
  int polls = 0;
  for (;;) {
    std::vector<pid_t> running;  // live, not seen stopped
    // Of them, vfork parents whose child is stopped (parent, child).
    std::unordered_map<pid_t, pid_t> vforks;
    bool frozen;
    {
      MutexLock lock(mu_);
      if (finished_) {
        freeze_asked_ = false;
        return Errno(ESRCH);
      }
      frozen = frozen_;
      for (pid_t tid : live_) {
        if (stopped_.contains(tid)) continue;
        running.push_back(tid);
        auto v = vfork_child_.find(tid);
        if (v != vfork_child_.end()) vforks.emplace(tid, v->second);
      }
    }
    // Asked without the lock: `busy` takes the sandbox's.
    auto at_rest = [&](pid_t tid) {
      if (busy(tid) || Dead(tid)) return true;
      auto v = vforks.find(tid);
      if (v == vforks.end()) return false;
      if (busy(v->second)) return true;
      MutexLock lock(mu_);
      return stopped_.contains(v->second);
    };
    if (frozen && std::all_of(running.begin(), running.end(), at_rest))
      return Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      for (pid_t tid : running) {
        if (!at_rest(tid)) {
          std::string state = "?";
          if (UniqueFd f = OpenProcFile(tid, "stat")) {
            char buf[512];
            ssize_t n = read(f.get(), buf, sizeof buf - 1);
            if (n > 0) state.assign(buf, static_cast<size_t>(n));
          }
          std::string sys = "?";
          if (UniqueFd f = OpenProcFile(tid, "syscall")) {
            char buf[256];
            ssize_t n = read(f.get(), buf, sizeof buf - 1);
            if (n > 0) sys.assign(buf, static_cast<size_t>(n));
          }
          VEIL_LOG(kWarning) << "tracer: freeze: task " << tid
                             << " did not stop ("
                             << (frozen ? "frozen" : "not frozen") << "): "
                             << state << " syscall " << sys;
        }
      }
      break;
    }
    if (frozen) {
      {
        MutexLock lock(mu_);
        cv_.WaitUntil(mu_, std::min(deadline, std::chrono::steady_clock::now() +
                                                  std::chrono::milliseconds(1)));
        // Every 50 ms without the freeze done: interrupt the others again.
        if (++polls % 50 == 0) repoke_ = true;
        if (!repoke_) continue;
      }
      WakeTracer();
      continue;
    }
    // The signal may come just before the tracer enters waitid and be
    // lost: it is sent again until the freeze is in force.
    WakeTracer();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  Thaw();
  return Errno(ETIMEDOUT);
}

void Tracer::Thaw() {
  {
    MutexLock lock(mu_);
    freeze_asked_ = false;
  }
  for (;;) {
    {
      MutexLock lock(mu_);
      if (!frozen_ || finished_) return;
      cv_.WaitUntil(mu_, std::chrono::steady_clock::now() +
                             std::chrono::milliseconds(1));
      if (!frozen_ || finished_) return;
    }
    WakeTracer();
  }
}

void Tracer::Serve() {
  // Owned by this thread: every task seen stopped at least once; children
  // stopped before their parent's clone event was reported (held), and
  // children reported whose first stop has not come yet (announced).
  std::unordered_set<pid_t> known{first_task_};
  std::unordered_map<pid_t, pid_t> held;  // child -> its parent process
  std::unordered_set<pid_t> announced;
  for (;;) {
    ApplyFreeze(held);
    int status = 0;
    pid_t tid = NextReport(&status);
    if (tid < 0) return;  // no task left
    if (tid == 0) continue;  // woken for a request
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      known.erase(tid);
      held.erase(tid);
      announced.erase(tid);
      {
        // A resume held back for a thaw is for a task that is gone.
        MutexLock lock(mu_);
        std::erase_if(deferred_, [tid](const std::pair<pid_t, int>& d) {
          return d.first == tid;
        });
        stopped_.erase(tid);
        std::erase_if(vfork_child_, [tid](const std::pair<const pid_t, pid_t>& v) {
          return v.first == tid || v.second == tid;
        });
      }
      if (tid == first_task_) {
        MutexLock lock(mu_);
        first_status_ = status;
      }
      observer_.OnExit(tid, status);
      // A parent killed (SIGKILL) between creating a child and reporting
      // it never reports it: the child would stay held for ever. It has
      // not run one instruction and its parent's fork never returned, so
      // it dies too.
      for (auto it = held.begin(); it != held.end();) {
        if (it->second == tid) {
          kill(it->first, SIGKILL);
          Continue(it->first, 0);
          it = held.erase(it);
        } else {
          ++it;
        }
      }
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (!known.contains(tid)) {
      known.insert(tid);
      if (!AddLive(tid)) kill(tid, SIGKILL);
      if (event == PTRACE_EVENT_STOP) {
        // An auto-attached child's first stop: it runs once its parent's
        // event has been reported.
        if (announced.erase(tid) != 0) {
          Continue(tid, 0);
        } else {
          held.emplace(tid, ParentProcess(tid));
          NoteStopped(tid);
        }
        continue;
      }
    }
    switch (event) {
      case PTRACE_EVENT_FORK:
      case PTRACE_EVENT_VFORK:
      case PTRACE_EVENT_CLONE: {
        auto child = static_cast<pid_t>(EventMessage(tid));
        if (event == PTRACE_EVENT_VFORK) {
          MutexLock lock(mu_);
          vfork_child_[tid] = child;
        }
        CloneKind kind = event == PTRACE_EVENT_FORK    ? CloneKind::kFork
                         : event == PTRACE_EVENT_VFORK ? CloneKind::kVfork
                                                       : CloneKind::kClone;
        observer_.OnClone(tid, child, kind);
        if (held.erase(child) != 0) {
          Continue(child, 0);
        } else {
          announced.insert(child);
        }
        Continue(tid, 0);
        break;
      }
      case PTRACE_EVENT_EXEC: {
        auto former = static_cast<pid_t>(EventMessage(tid));
        {
          // A vfork child's exec ends its parent's wait.
          MutexLock lock(mu_);
          std::erase_if(vfork_child_, [&](const std::pair<const pid_t, pid_t>& v) {
            return v.second == tid || v.second == former;
          });
        }
        if (former != tid) {
          known.erase(former);
          RemoveLive(former);
        }
        observer_.OnExec(tid, former);
        Continue(tid, 0);
        break;
      }
      case PTRACE_EVENT_SECCOMP: {
        ExecStop stop(tid, static_cast<uint16_t>(EventMessage(tid)));
        observer_.OnExecStop(stop);
        Continue(tid, 0);
        break;
      }
      case PTRACE_EVENT_STOP:
        if (IsStoppingSignal(sig)) {
          // Group-stop: stay stopped, but let the tracer see the SIGCONT.
          ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
          NoteStopped(tid);
        } else {
          Continue(tid, 0);
        }
        break;
      case 0:
        // Signal-delivery-stop: pass the signal on (a child's SIGCHLD,
        // job-control and app signals alike), a trapped call it cut
        // short before the sentry saw it made to restart.
        RestartUnreceived(tid, sig);
        Continue(tid, sig);
        break;
      default:
        Continue(tid, 0);
        break;
    }
  }
}

}  // namespace veil::sentry
