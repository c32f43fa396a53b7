// SPDX-License-Identifier: Apache-2.0
//
// The FUSE session lifecycle shared by the `veil fuse` modes (see
// fuse_serve.h).
#include "tools/fuse/fuse_serve.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/logging.h"
#include "tools/fuse/fuse_adapter.h"

namespace veil::tools {
namespace {

// SIGUSR1 while the session runs: a handler turns it into a byte on a
// pipe, and a thread of its own waits for that byte and runs the hook
// with requests paused. (A handler, not a blocked signal and sigwait: the
// gofer client's threads exist before the session and would take the
// signal's default action, which ends the process.) The handler stays
// installed afterwards: a late SIGUSR1 must not kill the process while it
// writes its final snapshot. The pipe is made once and never closed.
int g_usr1_pipe[2] = {-1, -1};

extern "C" void OnUsr1(int) {
  const int saved = errno;
  const char byte = 1;
  (void)!write(g_usr1_pipe[1], &byte, 1);  // full pipe: one is pending
  errno = saved;
}

class Usr1Watcher {
 public:
  Usr1Watcher(FuseAdapter& adapter, const std::string& mountpoint,
              const std::function<void()>& on_paused) {
    if (!on_paused) return;
    if (g_usr1_pipe[0] < 0 &&
        pipe2(g_usr1_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      std::fprintf(stderr, "veil fuse: SIGUSR1 snapshots are off: pipe: %s\n",
                   std::strerror(errno));
      return;
    }
    struct sigaction sa = {};
    sa.sa_handler = OnUsr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, nullptr);
    thread_ = std::thread([this, &adapter, mountpoint, on_paused] {
      while (!stop_.load()) {
        pollfd p = {g_usr1_pipe[0], POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        char drain[64];
        while (read(g_usr1_pipe[0], drain, sizeof drain) > 0) {
        }
        // Before the pause: flushing goes through the mount's requests.
        int dir = open(mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
          (void)syncfs(dir);
          close(dir);
        }
        adapter.RunPaused(on_paused);
      }
    });
  }
  ~Usr1Watcher() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    thread_.join();
  }
  Usr1Watcher(const Usr1Watcher&) = delete;
  Usr1Watcher& operator=(const Usr1Watcher&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Ends the adapter's waits once the session is exiting (a signal, or an
// unmount seen by a request thread): the loop then joins its request
// threads, and one waiting for a FIFO's peer would never return. libfuse
// offers no hook between "exited" and the join, so this looks every
// 200 ms, as Usr1Watcher does.
class ExitWatcher {
 public:
  ExitWatcher(FuseAdapter& adapter, fuse_session* se)
      : thread_([this, &adapter, se] {
          while (!stop_.load()) {
            if (fuse_session_exited(se)) {
              adapter.InterruptWaits();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
          }
        }) {}
  ~ExitWatcher() {
    stop_.store(true);
    thread_.join();
  }
  ExitWatcher(const ExitWatcher&) = delete;
  ExitWatcher& operator=(const ExitWatcher&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

int Serve(vfs::Vfs& vfs, const std::string& mountpoint,
          const ServeOptions& options, const char* subtype,
          const ServeHooks& hooks) {
  FuseAdapter adapter(vfs, options.exclusive, options.synthetic);
  const size_t budget =
      options.dcache != 0 ? options.dcache : vfs::DentryCache::kDefaultBudget;
  vfs.RootLocation().mount->fs().SetDentryCacheBudget(budget);
  for (const Ref<vfs::Mount>& mount : vfs.mounts().All())
    mount->fs().SetDentryCacheBudget(budget);
  std::string mount_opts = std::string("fsname=veil,subtype=") + subtype;
  // allow_other needs root (or user_allow_other in /etc/fuse.conf); without
  // it only the mounting user may enter the mount at all.
  if (geteuid() == 0) mount_opts += ",allow_other";
  // The kernel checks permission too, against the Vfs's fresh attributes
  // (timeouts are 0), before its own type checks and for the FIFOs it
  // opens without asking: see fuse_adapter.h. The Vfs still checks every
  // request with the caller's credentials.
  mount_opts += ",default_permissions";
  // A view of a sandbox's files never grants host privileges: a setuid
  // binary or a device node a sandbox made stays inert on the host
  // (libfuse's default too; said here so it cannot silently change).
  mount_opts += ",nosuid,nodev";
  // A read-only mount: the kernel itself answers EROFS to every change, as
  // for any `mount -o ro`, before a request reaches the Vfs.
  if (options.read_only) mount_opts += ",ro";
  std::vector<const char*> argv = {"veil-fuse", "-o", mount_opts.c_str()};
  if (options.debug) argv.push_back("-d");
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()),
                                  const_cast<char**>(argv.data()));
  fuse_session* se = fuse_session_new(&args, &FuseAdapter::Ops(),
                                      sizeof(fuse_lowlevel_ops), &adapter);
  if (!se) {
    std::fprintf(stderr, "veil fuse: cannot create a FUSE session\n");
    return 1;
  }
  int status = 1;
  if (fuse_set_signal_handlers(se) != 0) {
    std::fprintf(stderr, "veil fuse: cannot install signal handlers\n");
  } else {
    if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
      // libfuse has printed the kernel's or fusermount3's reason above.
      std::fprintf(stderr, "veil fuse: cannot mount on %s\n",
                   mountpoint.c_str());
    } else {
      VEIL_LOG(kInfo) << "veil fuse: serving " << subtype << " on "
                      << mountpoint;
      if (hooks.on_mounted) hooks.on_mounted();
      ServeOutcome outcome = ServeOutcome::kFailed;
      // Joined only after the unmount below: a snapshot it has begun may
      // be waiting on the mount (opendir, syncfs), whose requests nobody
      // serves once the loop has ended until the unmount aborts them.
      std::optional<Usr1Watcher> usr1;
      bool foreground = options.foreground || options.debug;
      if (fuse_daemonize(foreground ? 1 : 0) != 0) {
        std::fprintf(stderr, "veil fuse: cannot detach from the terminal\n");
      } else {
        int rc;
        usr1.emplace(adapter, mountpoint, hooks.on_usr1_paused);
        ExitWatcher exit_watcher(adapter, se);
        adapter.StartTrimming(se, budget);
        if (options.single_thread) {
          rc = fuse_session_loop(se);
        } else {
          fuse_loop_config* config = fuse_loop_cfg_create();
          fuse_loop_cfg_set_clone_fd(config, 0);
          rc = fuse_session_loop_mt(se, config);
          fuse_loop_cfg_destroy(config);
        }
        // A positive result is the signal that ended the loop (SIGINT,
        // SIGTERM, SIGHUP): a requested, clean stop. 0 is an unmount from
        // outside (fusermount3 -u).
        if (rc < 0) {
          std::fprintf(stderr, "veil fuse: session on %s failed: %s\n",
                       mountpoint.c_str(), std::strerror(-rc));
        } else {
          outcome = ServeOutcome::kClean;
        }
      }
      // The loop has joined its workers: from here on no request reaches
      // the Vfs, and after the unmount none can arrive.
      fuse_session_unmount(se);
      usr1.reset();
      adapter.StopTrimming();
      if (hooks.after_unmount) {
        status = hooks.after_unmount(outcome);
      } else {
        status = outcome == ServeOutcome::kClean ? 0 : 1;
      }
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return status;
}

std::optional<int> DetachBeforeThreads(const ServeOptions& options,
                                       UniqueFd* ready) {
  ready->reset();
  if (options.foreground || options.debug) return std::nullopt;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "veil fuse: pipe: %s\n", std::strerror(errno));
    return 1;
  }
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "veil fuse: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (pid > 0) {
    write_end.reset();
    char byte;
    ssize_t n;
    do {
      n = read(read_end.get(), &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) return 0;
    // The child failed before mounting and said why on our stderr.
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status)
                                                         : 1;
  }
  setsid();
  *ready = std::move(write_end);
  return std::nullopt;
}

void ReleaseParent(UniqueFd& ready) {
  if (!ready) return;
  (void)!chdir("/");
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  char byte = 1;
  (void)!write(ready.get(), &byte, 1);
  ready.reset();
}

}  // namespace veil::tools
