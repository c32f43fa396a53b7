// SPDX-License-Identifier: Apache-2.0
//
// GoferProcess: a `veil gofer` child process serving one host directory
// over a socketpair, for whoever will be its LISAFS client.
//
//   GoferProcess gofer = VEIL_TRY(StartGofer("/proc/self/exe", dir,
//                                            GoferAccess::kReadWrite));
//   auto channel = VEIL_TRY(lisafs::Channel::Adopt(gofer.TakeSocket()));
//   auto client = VEIL_TRY(lisafs::Client::Create(std::move(channel)));
//
// The gofer serves one connection and exits when the client hangs up, so
// the normal shutdown is: destroy the client (GoferFs), then the
// GoferProcess, whose destructor reaps the child, killing it if it has not
// exited within a grace period. The child gets the server end of the
// socketpair as descriptor 3 and nothing else of ours: every other
// descriptor is close-on-exec in the child, and its signal mask is reset.
//
// A process that forks after starting the gofer (fuse_daemonize) is no
// longer the gofer's parent in the child; the destructor then neither
// waits for nor signals a pid that is not its own child.
//
// Ownership: owns the child (until reaped) and, until TakeSocket(), the
// client end of the socket. Move-only. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace veil::gofer {

enum class GoferAccess : uint8_t {
  kReadWrite,
  kReadOnly,  // `veil gofer --ro`: every change fails with EROFS
};

// Whom the gofer's client speaks for, which sets the export's policy on
// owners and set-id bits (gofer/server/export_policy.h).
enum class GoferClient : uint8_t {
  // A sandbox (untrusted): the gofer's defaults, no set-id bits on
  // non-directories and only DIR's owner as an owner.
  kSandbox,
  // Host users through a FUSE view (`veil fuse`): the host kernel
  // (default_permissions) and the VFS already checked each caller's right
  // to chown or chmod, as on any file system, so every id and set-id bit
  // is applied as asked (`--allow-suid --ids 0:4294967296`).
  kHostUsers,
};

// Which host descriptors the gofer donates: those of regular files opened
// read-only (its default), or also of those opened for writing
// (`--donate-writable`: veil do's read-write binds, whose tasks write
// natively on them, DESIGN.md's data plane, so a database's writes and
// fsync reach the host file with no round trip).
enum class GoferDonation : uint8_t { kReadOnlyFiles, kWritableToo };

class GoferProcess final {
 public:
  // Starts `veil_binary gofer --root dir --fd 3 [--ro] [--max-node-fds
  // N]` (N: `max_node_fds` unless 0), with the policy options `client`
  // asks for. Errors: fork, socketpair errors; ENOENT/EACCES if
  // `veil_binary` cannot be executed (reported by the child through a
  // close-on-exec pipe).
  static Result<GoferProcess> Start(const std::string& veil_binary,
                                    const std::string& dir, GoferAccess access,
                                    size_t max_node_fds = 0,
                                    GoferClient client = GoferClient::kSandbox,
                                    GoferDonation donation =
                                        GoferDonation::kReadOnlyFiles);

  GoferProcess(GoferProcess&& other) noexcept;
  GoferProcess& operator=(GoferProcess&& other) noexcept;
  GoferProcess(const GoferProcess&) = delete;
  GoferProcess& operator=(const GoferProcess&) = delete;
  ~GoferProcess();

  pid_t pid() const { return pid_; }
  // The client end of the socketpair (AF_UNIX, SOCK_SEQPACKET). Once.
  UniqueFd TakeSocket() { return std::move(socket_); }

  // Waits up to `grace` for the child to exit, then SIGKILLs and reaps it.
  // Returns its wait(2) status. ECHILD if it was reaped already or is not
  // our child.
  Result<int> Stop(std::chrono::milliseconds grace);

 private:
  GoferProcess(pid_t pid, UniqueFd socket);

  pid_t pid_ = -1;
  pid_t parent_ = -1;  // getpid() at Start: only that process may reap
  UniqueFd socket_;
};

// StartGofer: GoferProcess::Start.
inline Result<GoferProcess> StartGofer(
    const std::string& veil_binary, const std::string& dir, GoferAccess access,
    size_t max_node_fds = 0, GoferClient client = GoferClient::kSandbox,
    GoferDonation donation = GoferDonation::kReadOnlyFiles) {
  return GoferProcess::Start(veil_binary, dir, access, max_node_fds, client,
                             donation);
}

}  // namespace veil::gofer
