// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/launcher.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cerrno>
#include <cstring>

#include "sentry/platform/empty_root.h"

namespace veil::sentry {
namespace {

constexpr int32_t kBeforeExec[] = {SYS_sendmsg,       SYS_getpid,
                                   SYS_kill,          SYS_exit_group,
                                   SYS_rt_sigprocmask, SYS_rt_sigsuspend,
                                   SYS_rt_sigreturn};

// Set by the SIGCONT handler of a child that is the init of a new pid
// namespace (PidNamespace::kNew).
volatile sig_atomic_t g_continued = 0;
void OnContinue(int) { g_continued = 1; }

// One message from child to parent: an errno (0 on success) and, on
// success, the listener as SCM_RIGHTS. Raw syscalls only: this runs
// between fork and exec.
void SendResult(int sock, int32_t error, int fd) {
  iovec iov{&error, sizeof error};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  syscall(SYS_sendmsg, sock, &msg, MSG_NOSIGNAL);
}

[[noreturn]] void Fail(int sock, int error) {
  SendResult(sock, error, -1);
  syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

// The child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void RunChild(const SeccompFilter& filter, int sock,
                           const LaunchSpec& spec, char* const* argv,
                           char* const* envp) {
  // The sentry's signal handling is not the app's: exec keeps ignored
  // signals ignored and the mask as it was.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  // The init of a pid namespace ignores a signal it sends itself without a
  // handler (SIGNAL_UNKILLABLE), so such a child cannot stop itself: it
  // waits for the tracer's SIGCONT in sigsuspend instead, with SIGCONT
  // blocked until then so none is lost.
  sigset_t cont;
  sigemptyset(&cont);
  if (spec.pid_namespace == PidNamespace::kNew) {
    struct sigaction on_cont {};
    on_cont.sa_handler = OnContinue;
    sigaction(SIGCONT, &on_cont, nullptr);
    sigaddset(&cont, SIGCONT);
  }
  sigprocmask(SIG_SETMASK, &cont, nullptr);
  // Move each source above 2 first, so that stdio = {1, 0, ...} swaps
  // rather than clobbers.
  int moved[3] = {-1, -1, -1};
  for (int i = 0; i < 3; ++i) {
    if (spec.stdio[i] < 0 || spec.stdio[i] == i) continue;
    moved[i] = fcntl(spec.stdio[i], F_DUPFD_CLOEXEC, 3);
    if (moved[i] < 0) Fail(sock, errno);
  }
  for (int i = 0; i < 3; ++i) {
    if (moved[i] >= 0 && dup2(moved[i], i) < 0) Fail(sock, errno);
    // stdio[i] == i: keep it, and across exec.
    if (spec.stdio[i] == i && fcntl(i, F_SETFD, 0) < 0) Fail(sock, errno);
  }
  // Nothing of the sentry's but stdio reaches the program, even an fd
  // someone forgot to open O_CLOEXEC.
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    Fail(sock, errno);
  }
  if (spec.mount_namespace == MountNamespace::kEmptyRoot) {
    // Defence in depth under the filter: a path call that slipped past it
    // would find nothing (DESIGN.md). No /proc, no host file, no device.
    if (unshare(CLONE_NEWNS) != 0) Fail(sock, errno);
    const EmptyRootFile program{spec.path.c_str() + 1, spec.program_fd};
    if (Result<void> root = EnterEmptyRoot(&program); !root) {
      Fail(sock, root.error().code());
    }
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(sock, errno);
  Result<UniqueFd> listener = filter.Install(FilterListener::kNewListener);
  if (!listener) Fail(sock, listener.error().code());
  // From here on only the calls SyscallsBeforeExec names.
  SendResult(sock, 0, listener->get());
  if (spec.pid_namespace == PidNamespace::kNew) {
    // Seized by now or soon; the tracer's SIGCONT (after PTRACE_SEIZE)
    // ends the wait. Raw calls: the mask is the kernel's 8 bytes.
    uint64_t unblocked = 0;
    while (!g_continued) syscall(SYS_rt_sigsuspend, &unblocked, 8);
    uint64_t empty = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, 8);
  } else {
    syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
  }
  syscall(SYS_execve, spec.path.c_str(), argv, envp);
  syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

// Parent side: the child's listener, or its errno.
Result<UniqueFd> ReceiveListener(int sock) {
  int32_t error = 0;
  iovec iov{&error, sizeof error};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Errno::FromErrno();
  UniqueFd fd;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int raw;
      memcpy(&raw, CMSG_DATA(c), sizeof raw);
      fd.reset(raw);
    }
  }
  if (n != sizeof error) return Errno(ECHILD, "launcher: the child died early");
  if (error != 0) return Errno(error);
  if (!fd) return Errno(EPROTO, "launcher: no listener from the child");
  return fd;
}

// Reaps a child that will not be traced.
void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  int status;
  while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
}

}  // namespace

std::span<const int32_t> SyscallsBeforeExec() { return kBeforeExec; }

Result<Launched> Launch(const SeccompFilter& filter, const LaunchSpec& spec,
                        TaskObserver& observer, SyncWakeUp wake) {
  // EINVAL for a request that cannot work, as execve(2) answers for bad
  // arguments (Linux: do_execveat_common); the rest are the host calls'.
  for (int32_t nr : kBeforeExec) {
    if (filter.ActionFor(nr).kind() != SeccompAction::Kind::kAllow) {
      return Errno(EINVAL, "launcher: the filter must allow sendmsg, getpid, "
                           "kill, exit_group and the signal calls");
    }
  }
  SeccompAction::Kind exec = filter.ActionFor(SYS_execve).kind();
  if (exec != SeccompAction::Kind::kAllow && exec != SeccompAction::Kind::kTrace) {
    return Errno(EINVAL, "launcher: the filter must allow or trace execve");
  }
  if (spec.argv.empty()) return Errno(EINVAL, "launcher: empty argv");
  if (spec.mount_namespace == MountNamespace::kEmptyRoot &&
      (spec.program_fd < 0 || spec.path.size() < 2 || spec.path[0] != '/' ||
       spec.path.find('/', 1) != std::string::npos)) {
    return Errno(EINVAL, "launcher: an empty root needs /NAME and its fd");
  }

  // Everything the child needs, built before fork (it may not allocate).
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : spec.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  UniqueFd listener;
  auto spawn = [&]() -> Result<pid_t> {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
      return Errno::FromErrno();
    }
    UniqueFd mine(pair[0]);
    UniqueFd theirs(pair[1]);
    // On the tracer thread, which makes no thread after this (a thread
    // whose children go to another pid namespace cannot make threads:
    // clone(CLONE_THREAD) is EINVAL then).
    if (spec.pid_namespace == PidNamespace::kNew &&
        unshare(CLONE_NEWPID) != 0) {
      return Errno::FromErrno();
    }
    pid_t pid = fork();
    if (pid < 0) return Errno::FromErrno();
    if (pid == 0) RunChild(filter, theirs.get(), spec, argv.data(), envp.data());
    theirs.reset();
    Result<UniqueFd> got = ReceiveListener(mine.get());
    if (!got) {
      KillAndReap(pid);
      return got.error();
    }
    int status = 0;
    pid_t r = pid;
    // A namespace's init does not stop itself (RunChild): it waits for
    // the SIGCONT, so there is no stop to wait for.
    if (spec.pid_namespace == PidNamespace::kNew) {
      listener = std::move(*got);
      return pid;
    }
    do {
      r = waitpid(pid, &status, WUNTRACED | __WALL);
    } while (r < 0 && errno == EINTR);
    if (r != pid || !WIFSTOPPED(status)) {
      if (r == pid) return Errno(ECHILD, "launcher: the child died before exec");
      KillAndReap(pid);
      return Errno(ECHILD, "launcher: lost the child");
    }
    listener = std::move(*got);
    return pid;
  };
  Launched out;
  // The tracer makes notified calls a signal interrupted before the
  // sentry received them restart: it needs to know which are notified.
  NotifiedCall notified = [filter](int64_t nr) {
    return nr >= 0 && nr <= INT32_MAX &&
           filter.ActionFor(static_cast<int32_t>(nr)).kind() ==
               SeccompAction::Kind::kNotify;
  };
  out.tracer = VEIL_TRY(Tracer::Start(observer, spawn, std::move(notified)));
  out.pid = out.tracer->first_task();
  out.platform = SeccompPlatform::Create(std::move(listener), wake);
  return out;
}

}  // namespace veil::sentry
