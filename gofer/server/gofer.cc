// SPDX-License-Identifier: Apache-2.0
#include "gofer/server/gofer.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <climits>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "gofer/server/confine.h"
#include "gofer/server/seccomp_filter.h"
#include "lisafs/channel.h"
#include "lisafs/server.h"

namespace veil::gofer {
namespace {

// malloc arenas: enough that the channels' threads rarely share one.
constexpr int kMallocArenas = 8;

// Closes every descriptor but stdin/stdout/stderr and `keep`.
Result<void> CloseInheritedFds(int keep) {
  std::vector<unsigned> kept = {0, 1, 2, static_cast<unsigned>(keep)};
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  unsigned from = 0;
  for (unsigned fd : kept) {
    if (fd > from && ::close_range(from, fd - 1, 0) != 0) {
      return Errno(errno, "gofer: close inherited descriptors");
    }
    from = fd + 1;
  }
  if (::close_range(from, UINT_MAX, 0) != 0) {
    return Errno(errno, "gofer: close inherited descriptors");
  }
  return Ok();
}

// The gofer holds one host descriptor per file the client has walked to
// (its FDIDs), and the client's dentry cache keeps them while the names
// are cached: raise the soft limit to the hard one and, as root, the hard
// one to the kernel's maximum (fs.nr_open), before the root is left.
void RaiseFdLimit() {
  struct rlimit limit = {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
    unsigned long long nr_open = 0;
    if (std::fscanf(f, "%llu", &nr_open) == 1 && nr_open > limit.rlim_max) {
      struct rlimit raised = {nr_open, nr_open};
      // EPERM without CAP_SYS_RESOURCE (some containers): keep the old.
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    std::fclose(f);
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      VEIL_LOG(kWarning) << "gofer: cannot raise RLIMIT_NOFILE, errno "
                         << errno;
    }
  }
}

Result<void> CheckRoot(const std::string& root) {
  struct stat st = {};
  if (::stat(root.c_str(), &st) != 0) {
    return Errno(errno, "gofer: cannot stat the root directory");
  }
  if (!S_ISDIR(st.st_mode)) {
    return Errno(ENOTDIR, "gofer: the root is not a directory");
  }
  return Ok();
}

}  // namespace

Result<void> RunGoferServer(const GoferOptions& options, UniqueFd socket) {
  VEIL_TRY_VOID(CheckRoot(options.root));
  Result<lisafs::Channel> channel = lisafs::Channel::Adopt(std::move(socket));
  if (!channel) {
    return Errno(channel.error().code(),
                 "gofer: the fd is not a usable AF_UNIX SOCK_SEQPACKET socket");
  }
  VEIL_TRY_VOID(CloseInheritedFds(channel->fd()));

  // The root descriptor is opened after pivot_root, so that it is on the
  // nosuid,nodev (and, with --ro, read-only) bind mount: those flags
  // belong to a mount, and a descriptor opened earlier would keep the
  // host's.
  const bool confine = options.confinement == Confinement::kFull;
  RaiseFdLimit();  // needs /proc, so before the root is left
  if (confine) VEIL_TRY_VOID(EnterRoot(options.root, options.access));
  const char* root_path = confine ? "/" : options.root.c_str();
  UniqueFd root(::open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Errno(errno, "gofer: open the root directory");

  ::umask(0);
  HostBackendOptions backend_options;
  backend_options.access = options.access;
  backend_options.donation = options.donation;
  backend_options.max_node_fds = options.max_node_fds;
  backend_options.setid = options.setid;
  backend_options.ids = options.ids;
  // Confined, "/" is the export, so mount points read from the namespace
  // are paths in it.
  if (confine) backend_options.mount_guard = MountGuard::kRootIsExport;
  backend_options.max_open_files = options.max_open_files;
  backend_options.max_nodes = options.max_nodes;
  Result<std::unique_ptr<HostBackend>> backend =
      HostBackend::Create(std::move(root), backend_options);
  if (!backend) {
    return Errno(backend.error().code(), "gofer: serve the root directory");
  }
  // glibc sizes its arena limit lazily, from sched_getaffinity(2), when the
  // ninth arena is wanted (one per concurrently allocating thread, up to
  // 8 * CPUs): under load, with channels' threads, that would be after the
  // filter is in place. A fixed limit means glibc never asks.
  if (::mallopt(M_ARENA_MAX, kMallocArenas) != 1) {
    VEIL_LOG(kWarning) << "gofer: mallopt(M_ARENA_MAX) failed";
  }
  if (confine) VEIL_TRY_VOID(RestrictSelf());
  VEIL_LOG(kInfo) << "gofer: serving " << options.root
                  << (options.access == Access::kReadOnly ? " read-only" : "")
                  << (confine ? "" : " WITHOUT confinement");

  lisafs::ServerOptions server_options;
  server_options.send_timeout = options.send_timeout;
  server_options.pin_channels = true;  // the sentry's per-CPU channels
  lisafs::Server server(**backend, server_options);
  Result<void> served = server.Serve(std::move(*channel));
  if (!served) {
    return Errno(served.error().code(), "gofer: the connection broke");
  }
  return Ok();
}

}  // namespace veil::gofer
