// SPDX-License-Identifier: Apache-2.0
//
// `veil fuse --rootfs DIR` and `veil fuse --image IMG`: a sandbox's rootfs
// view (an overlay of a veil tmpfs over DIR, which is only read) and a
// snapshot image's layer, on a FUSE mount (see fuse_modes.h).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "lisafs/client.h"
#include "overlay/overlay.h"
#include "tools/fuse/fuse_modes.h"
#include "tools/snapshot_cli.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::tools {
namespace {

// Set by a SIGINT/SIGTERM/SIGHUP that arrives while the upper layer is
// being written at the end of a session: the user wants out now, so the
// write stops and IMG is left as it was. Lock-free, so a handler may set it.
std::atomic<bool> g_cancel_snapshot{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void CancelSnapshot(int) {
  g_cancel_snapshot.store(true, std::memory_order_relaxed);
}

// Prints a line to `out` and, when the process has detached (its stdio is
// /dev/null, so nobody would see it), to syslog: how the outcome of a
// snapshot written after `fusermount3 -u` still reaches someone.
__attribute__((format(printf, 4, 5))) void Report(FILE* out, bool detached,
                                                  int priority,
                                                  const char* format, ...) {
  va_list args;
  va_start(args, format);
  if (detached) {
    va_list copy;
    va_copy(copy, args);
    openlog("veil-fuse", LOG_PID, LOG_USER);
    vsyslog(priority, format, copy);
    closelog();
    va_end(copy);
  }
  std::vfprintf(out, format, args);
  std::fputc('\n', out);
  std::fflush(out);
  va_end(args);
}

// Where the changes go when --snapshot-out's IMG cannot be written at
// the end: $TMPDIR (else /var/tmp, which survives a reboot), named after
// this process.
std::string RecoveryImagePath() {
  const char* dir = std::getenv("TMPDIR");
  if (dir == nullptr || *dir != '/') dir = "/var/tmp";
  return std::string(dir) + "/veil-recovery-" + std::to_string(getpid()) +
         ".img";
}

// Writes the upper layer to `img` (WriteImageFile: a temporary name,
// fsync, rename) and reports the outcome; `cancel` may stop it. The layer
// must be quiescent: after the unmount, or with requests paused. True if
// the image was written.
bool WriteUpper(const Ref<vfs::Filesystem>& upper, const std::string& img,
                bool detached, const std::atomic<bool>* cancel) {
  // A second Vfs over the layer, for WriteImageFile: the overlay's own is
  // idle, and this one is made now, so it misses no name, and dropped
  // before anything can change.
  vfs::Vfs upper_vfs(upper);
  ImageFileOptions options;
  TtyProgress progress("fuse", "writing the snapshot");
  options.write.progress = progress.Fn();
  options.cancel = cancel;
  auto stats =
      WriteImageFile(upper_vfs, upper_vfs.RootLocation(), img, options);
  progress.Finish();
  if (!stats) {
    const bool cancelled =
        cancel != nullptr && cancel->load(std::memory_order_relaxed);
    // Not asked to stop: IMG's filesystem failed (full, gone read-only,
    // removed). The changes exist nowhere else, so they go to a recovery
    // image the user is told about.
    const std::string recovery = cancelled ? "" : RecoveryImagePath();
    if (!recovery.empty() &&
        WriteImageFile(upper_vfs, upper_vfs.RootLocation(), recovery,
                       options)) {
      Report(stderr, detached, LOG_ERR,
             "veil fuse: --snapshot-out: the session's changes were not "
             "saved to %s: %s; they were saved to %s instead",
             img.c_str(), stats.error().message.c_str(), recovery.c_str());
      return false;
    }
    Report(stderr, detached, LOG_ERR,
           "veil fuse: --snapshot-out: the session's changes were not "
           "saved: %s",
           stats.error().message.c_str());
    return false;
  }
  Report(stdout, detached, LOG_INFO,
         "%s: %llu entries, %.1f MiB of data in a %.1f MiB image", img.c_str(),
         static_cast<unsigned long long>(stats->entries),
         MiB(stats->data_bytes), MiB(stats->image_bytes));
  return true;
}

// --snapshot-out: writes the upper layer to `img` once the session is
// over. Runs after the unmount, when no request can reach the overlay any
// more (the FUSE loop has joined its workers), so the layer is quiescent
// and the image is one consistent state. Returns the exit status.
int SaveUpper(const Ref<vfs::Filesystem>& upper, const std::string& img,
              bool detached, ServeOutcome outcome) {
  // Replaces libfuse's handlers (which would only end a loop that has
  // already ended): a second signal cancels the write.
  struct sigaction sa = {};
  sa.sa_handler = CancelSnapshot;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  if (outcome == ServeOutcome::kFailed)
    Report(stderr, detached, LOG_WARNING,
           "veil fuse: the session failed; writing the upper layer to %s "
           "anyway",
           img.c_str());
  if (!WriteUpper(upper, img, detached, &g_cancel_snapshot)) return 1;
  return outcome == ServeOutcome::kClean ? 0 : 1;
}

// The thread of GoferStdio::kRelay. Deliberately never destroyed (a
// joinable std::thread would abort the exit); it ends when the gofer does.
std::thread* g_relay = nullptr;

// StartGofer with the child's stdio as GoferStdio::kRelay says. The
// child inherits descriptors 0-2, so they are pointed where it should
// have them while it starts, then put back; no other thread of ours
// exists yet to see the swap (the relay starts after it).
Result<gofer::GoferProcess> StartGoferRelayed(const std::string& dir,
                                              gofer::GoferAccess access) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Errno::FromErrno();
  UniqueFd relay_in(pipe_fds[0]), relay_out(pipe_fds[1]);
  UniqueFd null(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return Errno::FromErrno();
  UniqueFd saved[3];
  for (int fd = 0; fd < 3; ++fd) {
    saved[fd] = UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!saved[fd]) return Errno::FromErrno();
  }
  dup2(null.get(), 0);
  dup2(null.get(), 1);
  dup2(relay_out.get(), 2);  // without O_CLOEXEC: the child keeps it
  auto started = gofer::StartGofer("/proc/self/exe", dir, access, 0,
                                    gofer::GoferClient::kHostUsers);
  for (int fd = 0; fd < 3; ++fd) dup2(saved[fd].get(), fd);
  relay_out.reset();  // the child's copy is the only writer left
  if (!started) return started.error();
  // Copies until the gofer exits (EOF), to whatever our stderr is then.
  g_relay = new std::thread([in = std::move(relay_in)] {
    char buf[4096];
    for (;;) {
      ssize_t n = read(in.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      (void)!write(STDERR_FILENO, buf, static_cast<size_t>(n));
    }
  });
  return started;
}

// When the gofer failed to serve: reaps it, then waits until everything
// it printed (its reason) has reached our stderr, ahead of our message.
void StopGofer(std::optional<gofer::GoferProcess>* process) {
  process->reset();  // reaps the child (killing it after a grace period)
  if (g_relay && g_relay->joinable()) g_relay->join();
}

}  // namespace

std::optional<Ref<gofer::GoferFs>> ConnectGofer(
    const std::string& dir, gofer::GoferAccess access,
    const gofer::GoferFsOptions& options, GoferStdio stdio,
    std::optional<gofer::GoferProcess>* process,
    gofer::GoferDonation donation) {
  auto started = stdio == GoferStdio::kRelay
                     ? StartGoferRelayed(dir, access)
                     : gofer::StartGofer("/proc/self/exe", dir, access, 0,
                                         gofer::GoferClient::kHostUsers,
                                         donation);
  if (!started) {
    std::fprintf(stderr, "veil fuse: cannot start the gofer for %s: %s\n",
                 dir.c_str(), std::strerror(started.error().code()));
    return std::nullopt;
  }
  process->emplace(std::move(*started));
  auto channel = lisafs::Channel::Adopt((*process)->TakeSocket());
  Result<std::unique_ptr<lisafs::Client>> client =
      channel ? lisafs::Client::Create(std::move(*channel))
              : Result<std::unique_ptr<lisafs::Client>>(channel.error());
  if (!client) {
    // The gofer has printed its own reason (not root, say) above.
    StopGofer(process);
    std::fprintf(stderr, "veil fuse: the gofer for %s did not serve: %s\n",
                 dir.c_str(), std::strerror(client.error().code()));
    return std::nullopt;
  }
  auto fs = gofer::GoferFs::Create(std::move(*client), options);
  if (!fs) {
    StopGofer(process);
    std::fprintf(stderr, "veil fuse: cannot use the gofer for %s: %s\n",
                 dir.c_str(), std::strerror(fs.error().code()));
    return std::nullopt;
  }
  return std::move(*fs);
}

// The overlay's threads (the gofer client's) rule out forking once it
// exists, so this detaches first, as --gofer does; see fuse_serve.h.
int ServeRootfs(const ServeOptions& options, const RootfsOptions& rootfs,
                const std::string& mountpoint) {
  struct stat dir_st;
  if (stat(rootfs.dir.c_str(), &dir_st) != 0) {
    std::fprintf(stderr, "veil fuse: --rootfs %s: %s\n", rootfs.dir.c_str(),
                 std::strerror(errno));
    return 1;
  }
  UniqueFd ready;  // the detached child's end: one byte once mounted
  if (std::optional<int> status = DetachBeforeThreads(options, &ready))
    return *status;
  const bool detached = static_cast<bool>(ready);
  RaiseFdLimit();

  // The merged root is the upper's root directory (as overlayfs's), so it
  // starts as a copy of DIR's mode, owner and times; a restored image
  // brings its own.
  vfs::tmpfs::TmpfsOptions upper_options;
  upper_options.root_mode = dir_st.st_mode & 07777;
  upper_options.root_uid = dir_st.st_uid;
  upper_options.root_gid = dir_st.st_gid;
  upper_options.store = rootfs.store;
  Ref<vfs::tmpfs::Tmpfs> upper = vfs::tmpfs::Tmpfs::Create(upper_options);
  {
    // Dropped before the overlay exists: the overlay must be the layer's
    // only user from then on (a second dentry tree would go stale).
    vfs::Vfs upper_vfs(upper);
    if (!rootfs.restore.empty()) {
      auto restored =
          RestoreImageFile(rootfs.restore, upper_vfs, upper_vfs.RootLocation(),
                           "fuse", rootfs.limits);
      if (!restored) {
        std::fprintf(stderr, "veil fuse: --restore %s\n",
                     restored.error().message.c_str());
        return 1;
      }
    } else {
      const timespec times[2] = {dir_st.st_atim, dir_st.st_mtim};
      // Cannot fail on a fresh tmpfs root, as root; if it did, the root
      // would merely show the time it was made.
      (void)upper_vfs.UtimensAt(upper_vfs.RootContext(),
                                upper_vfs.RootLocation(), "", times,
                                AT_EMPTY_PATH);
    }
  }

  // Declared before everything that uses the gofer, so destroyed after:
  // its destructor reaps the child once the connection has hung up.
  std::optional<gofer::GoferProcess> process;
  // DIR is the overlay's private lower layer: nothing else changes it
  // (the contract overlayfs states too), so attributes are cached exactly
  // and the gofer refuses every change.
  gofer::GoferFsOptions lower_options;
  // Served --ro, and DIR must not change while mounted (as for overlayfs):
  // no name or attribute is asked about again.
  lower_options.access = gofer::FileAccess::kImmutable;
  auto lower = ConnectGofer(
      rootfs.dir, gofer::GoferAccess::kReadOnly, lower_options,
      detached ? GoferStdio::kRelay : GoferStdio::kInherit, &process);
  if (!lower) return 1;
  auto overlay = overlay::OverlayFs::Create(upper, {*lower});
  if (!overlay) {
    std::fprintf(stderr, "veil fuse: cannot build the overlay over %s: %s\n",
                 rootfs.dir.c_str(), std::strerror(overlay.error().code()));
    return 1;
  }

  ServeOptions serve_options = options;
  serve_options.foreground = true;  // detached above already, if at all
  // DIR must not change while mounted (as for overlayfs), and the upper
  // changes only through the mount.
  serve_options.exclusive = true;
  ServeHooks hooks;
  hooks.on_mounted = [&] { ReleaseParent(ready); };
  if (!rootfs.snapshot_out.empty()) {
    hooks.after_unmount = [&](ServeOutcome outcome) {
      return SaveUpper(upper, rootfs.snapshot_out, detached, outcome);
    };
    // A snapshot of the running session, which goes on afterwards.
    hooks.on_usr1_paused = [&] {
      WriteUpper(upper, rootfs.snapshot_out, detached, nullptr);
    };
  }
  vfs::Vfs vfs(std::move(*overlay));
  return Serve(vfs, mountpoint, serve_options, "veil-rootfs", hooks);
}

int ServeImage(const ServeOptions& options, const std::string& img,
               std::shared_ptr<vfs::tmpfs::FileStore> store,
               const snapshot::ImageLimits& limits,
               const std::string& mountpoint) {
  // Detached first: verifying and unpacking run worker threads
  // (overlay/snapshot/pipeline.h), and a fork must not race them.
  UniqueFd ready;
  if (std::optional<int> status = DetachBeforeThreads(options, &ready))
    return *status;
  RaiseFdLimit();
  vfs::tmpfs::TmpfsOptions layer_options;
  layer_options.store = std::move(store);
  vfs::Vfs vfs(vfs::tmpfs::Tmpfs::Create(layer_options));
  auto restored =
      RestoreImageFile(img, vfs, vfs.RootLocation(), "fuse", limits);
  if (!restored) {
    std::fprintf(stderr, "veil fuse: --image %s\n",
                 restored.error().message.c_str());
    return 1;
  }
  ServeOptions serve_options = options;
  serve_options.foreground = true;  // detached above already, if at all
  serve_options.read_only = true;
  serve_options.exclusive = true;
  ServeHooks hooks;
  hooks.on_mounted = [&] { ReleaseParent(ready); };
  return Serve(vfs, mountpoint, serve_options, "veil-image", hooks);
}

}  // namespace veil::tools
