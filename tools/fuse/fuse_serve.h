// SPDX-License-Identifier: Apache-2.0
//
// The FUSE session lifecycle every `veil fuse` mode shares: mount a built
// Vfs on MNT, detach from the terminal, serve until unmounted or
// signalled, unwind. It follows libfuse's low-level examples: session new,
// signal handlers, mount, daemonize, loop, then unwind in reverse.
//
// Detaching. fuse_daemonize forks after the mount is in place, which is
// right for a Vfs that has no threads of its own (a veil tmpfs). A mode
// that runs threads before it mounts (the gofer client's receiver,
// GoferFs's reaper, the snapshot pipelines' workers) must not fork once
// they exist, so it calls DetachBeforeThreads first and ReleaseParent
// once mounted: the parent waits until the child says the
// mount is in place, and until then the child's errors still reach the
// terminal and its exit status becomes the parent's.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "vfs/vfs.h"

namespace veil::tools {

// The command line's session flags.
struct ServeOptions {
  bool foreground = false;     // -f: do not detach
  bool debug = false;          // -d: libfuse prints requests; implies -f
  bool single_thread = false;  // -s
  bool read_only = false;      // mount with MS_RDONLY: the kernel says EROFS
  // The Vfs changes only through this mount (--tmpfs, --rootfs, --image;
  // not --gofer, whose DIR the host shares): the kernel may keep a file's
  // page cache from one open to the next.
  bool exclusive = false;
  // --dcache N: the dentry cache budget of each of the Vfs's filesystems
  // (vfs/dentry_cache.h), and the most nodes the kernel is let keep
  // (FuseNodes::StartTrimming). 0: vfs::DentryCache::kDefaultBudget.
  size_t dcache = 0;
  // The Vfs has synthetic files (FuseAdapter's `synthetic`).
  bool synthetic = false;
};

// How a session ended.
enum class ServeOutcome {
  kNotMounted,  // nothing was mounted (the reason is on stderr)
  kFailed,      // mounted, then the session failed; now unmounted
  kClean,       // unmounted from outside, or stopped by SIGINT/SIGTERM/SIGHUP
};

struct ServeHooks {
  // Runs once the mount is in place, before detaching.
  std::function<void()> on_mounted;
  // Runs after a mounted session ended and MNT is unmounted, while the
  // Vfs still exists and no request can reach it any more. libfuse's
  // SIGINT/SIGTERM/SIGHUP handlers are still installed when it starts; a
  // hook may replace them (libfuse then leaves its replacement in place).
  // Returns the exit status.
  std::function<int(ServeOutcome)> after_unmount;
  // Runs on each SIGUSR1 while mounted, with every request paused
  // (FuseAdapter::RunPaused) after syncfs(2) of the mount has brought in
  // data the kernel still held (dirty pages of shared mappings). Null:
  // SIGUSR1 keeps its default action.
  std::function<void()> on_usr1_paused;
};

// Mounts `vfs` on `mountpoint` (absolute) as fsname=veil, type
// fuse.<subtype>, and serves it until unmounted or signalled. Returns the
// exit status: after_unmount's if it ran, else 0 for kClean, 1 otherwise.
int Serve(vfs::Vfs& vfs, const std::string& mountpoint,
          const ServeOptions& options, const char* subtype,
          const ServeHooks& hooks = {});

// Unless the options say to stay in the foreground, forks: the parent
// waits and returns the status to exit with (0 once the child released
// it, else the child's failure status); the child, a new session leader,
// returns std::nullopt with *ready holding its end of the pipe. In the
// foreground returns std::nullopt with *ready empty. Errors (pipe, fork)
// are printed and returned as status 1.
std::optional<int> DetachBeforeThreads(const ServeOptions& options,
                                       UniqueFd* ready);

// In the child once MNT is mounted: what fuse_daemonize does there (cwd
// "/", stdio on /dev/null), then one byte on `ready` lets the parent exit
// with status 0. Does nothing if `ready` is empty (foreground).
void ReleaseParent(UniqueFd& ready);

}  // namespace veil::tools
