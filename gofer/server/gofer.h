// SPDX-License-Identifier: Apache-2.0
//
// RunGoferServer: the whole life of a gofer process, shared by `veil
// gofer` (tools/gofer_main.cc) and the tests, which run it in a forked
// child.
//
//   1. checks the export (a directory) and the socket (AF_UNIX
//      SOCK_SEQPACKET);
//   2. closes every other inherited descriptor: one left open by a careless
//      parent (a directory outside the export, say) would be a way out;
//   3. confines itself (confine.h): mount namespace, pivot_root, then, once
//      the root is open, no_new_privs, capabilities, seccomp;
//   4. serves one LISAFS connection with a HostBackend until the client
//      hangs up.
//
// It also sets umask 0 (the client sends the modes it wants, already
// masked by its own umask), raises RLIMIT_NOFILE to its hard limit (each
// FDID may hold a host descriptor) and fixes malloc's arena count before
// the seccomp filter is installed (glibc otherwise asks the kernel for the
// CPU count, sched_getaffinity, when a ninth thread first allocates).
//
// The process is changed for good (namespace, root, seccomp), so call it
// in a process that does nothing else, before it has any other thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "gofer/server/host_backend.h"

namespace veil::gofer {

enum class Confinement : uint8_t {
  kFull,  // Everything in confine.h. What `veil gofer` always does.
  // No namespace, pivot_root or seccomp: HostBackend's own containment
  // only. For tests that show the backend is safe by itself; never offered
  // on the command line.
  kNone,
};

struct GoferOptions {
  std::string root;  // The directory to export.
  Access access = Access::kReadWrite;
  // HostBackendOptions::donation.
  Donation donation = Donation::kReadOnlyFiles;
  Confinement confinement = Confinement::kFull;
  // HostBackendOptions::max_node_fds (0: half of RLIMIT_NOFILE).
  size_t max_node_fds = 0;
  // export_policy.h: set-id bits, and the ids files may be given (unset:
  // the owner of the root only).
  SetIdBits setid = SetIdBits::kStrip;
  std::optional<IdRange> ids;
  // lisafs::ServerOptions::send_timeout: a client that reads no reply for
  // this long is dropped.
  std::chrono::milliseconds send_timeout{60'000};
  // HostBackendOptions::max_open_files (0: a quarter of RLIMIT_NOFILE).
  size_t max_open_files = 0;
  // HostBackendOptions::max_nodes (0: its default).
  size_t max_nodes = 0;
};

// Returns Ok when the client disconnects. Errors carry the failing step in
// their message: ENOTDIR/ENOENT for the root, ENOTSOCK/EPROTOTYPE for the
// socket, the confinement steps' errnos, or the connection's (EPROTO for a
// client that sent a datagram without a readable header).
Result<void> RunGoferServer(const GoferOptions& options, UniqueFd socket);

}  // namespace veil::gofer
