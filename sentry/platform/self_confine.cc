// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/self_confine.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/unique_fd.h"
#include "sentry/platform/empty_root.h"
#include "base/proc_dir.h"
#include "sentry/platform/sentry_allowlist.h"

#if defined(__SANITIZE_ADDRESS__)
#define VEIL_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VEIL_LSAN 1
#endif
#endif
#if VEIL_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace veil::sentry {
namespace {

Errno StepFailed(const char* step) { return Errno(errno, step); }

// Writes `text` to a file of /proc/self (the id maps).
Result<void> WriteProcSelf(const char* name, const char* text,
                           const char* step) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/%s", name);
  UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) return StepFailed(step);
  const size_t len = std::strlen(text);
  if (write(fd.get(), text, len) != static_cast<ssize_t>(len)) {
    return StepFailed(step);
  }
  return Ok();
}

struct SeccompContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using SeccompContext = std::unique_ptr<void, SeccompContextDeleter>;

// libseccomp answers -errno.
Result<void> Check(int rc, const char* step) {
  if (rc < 0) return Errno(-rc, step);
  return Ok();
}

// VEIL_SENTRY_FILTER=log: the filter traps (SIGSYS) instead of killing;
// this reports the call on stderr and makes it fail with ENOSYS. Only
// write(2) and arithmetic: it runs in a signal handler.
void ReportTrappedCall(int, siginfo_t* info, void* context) {
  char msg[80] = "veil: sentry filter: syscall ";
  size_t len = std::strlen(msg);
  char digits[12];
  size_t n = 0;
  unsigned nr = static_cast<unsigned>(info->si_syscall);
  do {
    digits[n++] = static_cast<char>('0' + nr % 10);
    nr /= 10;
  } while (nr != 0 && n < sizeof digits);
  while (n > 0) msg[len++] = digits[--n];
  const char tail[] = " is not on the allowlist (ENOSYS)\n";
  std::memcpy(msg + len, tail, sizeof tail - 1);
  len += sizeof tail - 1;
  (void)!write(STDERR_FILENO, msg, len);
  // The path of a call that names one (openat's second argument, the
  // first of the rest), which usually says who made it.
  const greg_t* regs = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
  const char* path = reinterpret_cast<const char*>(
      info->si_syscall == SYS_openat ? regs[REG_RSI] : regs[REG_RDI]);
  if (info->si_syscall == SYS_openat || info->si_syscall == SYS_open) {
    size_t plen = 0;
    while (path && plen < 200 && path[plen] != '\0') ++plen;
    (void)!write(STDERR_FILENO, "  path: ", 8);
    (void)!write(STDERR_FILENO, path, plen);
    (void)!write(STDERR_FILENO, "\n", 1);
  }
  static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
}

// The new network namespace's loopback, up (DESIGN.md: the sandbox's
// network is loopback only by default): its own 127.0.0.1, not the
// host's.
Result<void> LoopbackUp() {
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return StepFailed("sentry: socket (loopback)");
  struct ifreq ifr = {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) {
    return StepFailed("sentry: SIOCGIFFLAGS(lo)");
  }
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) {
    return StepFailed("sentry: SIOCSIFFLAGS(lo, IFF_UP)");
  }
  return Ok();
}

}  // namespace

Confinement ConfinementFromEnvironment() {
  const char* v = std::getenv("VEIL_UNCONFINED");
  return v != nullptr && std::strcmp(v, "1") == 0 ? Confinement::kUnconfined
                                                  : Confinement::kConfined;
}

FilterMode FilterModeFromEnvironment() {
  const char* v = std::getenv("VEIL_SENTRY_FILTER");
  return v != nullptr && std::strcmp(v, "log") == 0 ? FilterMode::kLog
                                                    : FilterMode::kKill;
}

Result<SentryFork> EnterSentryNamespaces(const std::string& hostname) {
  const uid_t uid = geteuid();
  const gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER) != 0) {
    return StepFailed("sentry: unshare(CLONE_NEWUSER)");
  }
  char map[64];
  std::snprintf(map, sizeof map, "0 %u 1\n", static_cast<unsigned>(uid));
  VEIL_TRY_VOID(WriteProcSelf("uid_map", map, "sentry: write uid_map"));
  VEIL_TRY_VOID(
      WriteProcSelf("setgroups", "deny", "sentry: write setgroups (deny)"));
  std::snprintf(map, sizeof map, "0 %u 1\n", static_cast<unsigned>(gid));
  VEIL_TRY_VOID(WriteProcSelf("gid_map", map, "sentry: write gid_map"));
  if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC |
              CLONE_NEWUTS) != 0) {
    return StepFailed(
        "sentry: unshare(CLONE_NEWNS|CLONE_NEWNET|CLONE_NEWPID|CLONE_NEWIPC|"
        "CLONE_NEWUTS)");
  }
  // The sandbox's own name: uname(2), which runs natively, and /proc
  // report it, never the host's.
  if (sethostname(hostname.data(), hostname.size()) != 0)
    return StepFailed("sentry: sethostname");
  VEIL_TRY_VOID(LoopbackUp());
  const pid_t pid = fork();
  if (pid < 0) return StepFailed("sentry: fork");
  if (pid == 0) {
    // The sentry dies with veil (an init ignores the terminal's signals
    // it has no handler for; SIGKILL is forced), and its tasks with it
    // (PTRACE_O_EXITKILL). NOTE: veil dying between fork and this call
    // leaves the sentry to run to its end unsupervised (getppid() is 0
    // for an init whose parent is outside its namespace: no check).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
      return StepFailed("sentry: prctl(PR_SET_PDEATHSIG)");
    }
  }
  return SentryFork{pid};
}

Result<void> ConfineSentryMounts() {
  // A procfs of the sentry's own pid namespace (it must be mounted from
  // inside: a procfs shows the mounter's namespace), pid directories
  // only (subset=pid), detached: reached through its fd alone.
  UniqueFd fs(static_cast<int>(syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC)));
  if (!fs) return StepFailed("sentry: fsopen(proc)");
  if (syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "subset", "pid",
              0) != 0) {
    return StepFailed("sentry: fsconfig(proc, subset=pid)");
  }
  if (syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr,
              0) != 0) {
    return StepFailed("sentry: fsconfig(proc, FSCONFIG_CMD_CREATE)");
  }
  UniqueFd proc(static_cast<int>(
      syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC,
              MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                  MOUNT_ATTR_NOEXEC)));
  if (!proc) return StepFailed("sentry: fsmount(proc)");
  VEIL_TRY_VOID(EnterEmptyRoot(nullptr));
  SetProcDir(std::move(proc));
  return Ok();
}

Result<void> InstallSentryFilter(FilterMode mode, int fifo_dir_fd) {
  // glibc's malloc counts the CPUs (opening /sys/devices/system/cpu/online,
  // then /proc/stat) the first time threads need more arenas than its
  // test allows; fixed here to what it would compute (8 per CPU), so the
  // sentry never opens a path for it under the filter.
  if (mallopt(M_ARENA_MAX, 8 * get_nprocs()) != 1) {
    return Errno(EINVAL, "sentry: mallopt(M_ARENA_MAX)");
  }
  if (mode == FilterMode::kLog) {
    struct sigaction sa = {};
    sa.sa_sigaction = ReportTrappedCall;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, nullptr) != 0) {
      return StepFailed("sentry: sigaction(SIGSYS)");
    }
  }
  SeccompContext ctx(seccomp_init(mode == FilterMode::kLog
                                      ? SCMP_ACT_TRAP
                                      : SCMP_ACT_KILL_PROCESS));
  if (!ctx) return Errno(ENOMEM, "sentry: seccomp_init");
  // Every thread of the sentry (the gofer clients', the tracer) gets it.
  VEIL_TRY_VOID(Check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1),
                      "sentry: seccomp TSYNC"));
  // A binary tree over the numbers rather than a linear list: every call
  // the sentry makes runs the filter.
  VEIL_TRY_VOID(Check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2),
                      "sentry: seccomp binary tree"));
  VEIL_TRY_VOID(AddSentryAllowlist(ctx.get(), ProcDirFd(), fifo_dir_fd));
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return StepFailed("sentry: prctl(PR_SET_NO_NEW_PRIVS)");
  }
#if VEIL_LSAN
  // LeakSanitizer's check at exit stops the world with a clone that is no
  // thread and reads /proc/self/maps: calls the allowlist kills. Checked
  // now instead (then never again), while they are still allowed.
  __lsan_do_leak_check();
#endif
  return Check(seccomp_load(ctx.get()), "sentry: seccomp_load");
}

Result<int> WaitForSentry(pid_t sentry) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(sentry, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Errno::FromErrno();
  return status;
}

}  // namespace veil::sentry
