// SPDX-License-Identifier: Apache-2.0
//
// The runtime directory of running sandboxes (/run/veil, or --root DIR):
// one directory per sandbox, named after it, holding
//   state    what `veil ps` shows (written crash-safely: a temporary
//            file, fsync'd, renamed over it)
//   control  the control socket (sentry/control/control_protocol.h),
//            which veil serves and hands on to its sentry
// The runtime directory and each sandbox's directory are root's (the
// caller's), mode 0711; the socket belongs to the sandbox's owner (the
// uid that ran `veil do`), mode 0600, so only root and the owner reach
// it, and veil checks SO_PEERCRED on every connection as well. Names are
// claimed and stopped sandboxes' directories removed under a lock (flock
// on the runtime directory).
//
// A sandbox's directory appears whole: it is made under a temporary name
// with its socket bound, then renamed to the sandbox's name (a name in
// use stays taken). It goes when `veil do` ends. A sandbox whose veil
// died (SIGKILL: its sentry dies with it) leaves its directory behind:
// it is reported "stopped", and `veil delete NAME` or the next `veil ps`
// removes it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace veil::tools {

inline constexpr char kDefaultRuntimeRoot[] = "/run/veil";

struct SandboxRecord {
  std::string name;
  pid_t veil_pid = 0;
  uint64_t veil_start = 0;  // /proc/PID/stat starttime: tells a reused pid
  pid_t sentry_pid = 0;     // 0: not started yet
  uid_t owner = 0;
  std::string rootfs;
  std::vector<std::string> command;
  int64_t created = 0;  // Unix time, seconds
};

// 1 to 64 of [A-Za-z0-9_.-], not starting with '.' or '-'.
bool ValidSandboxName(const std::string& name);
// A short random name: 8 hex digits.
std::string GenerateSandboxName();
// /proc/PID/stat's starttime, or 0 if PID is gone.
uint64_t ProcessStartTime(pid_t pid);

// veil do's entry: claims the name and listens on the control socket.
class SandboxRegistration final {
 public:
  // Makes `root` if missing, then the sandbox's directory with its
  // control socket, and writes the state (sentry_pid 0). EEXIST if a
  // running sandbox has the name (a stopped one's leftovers are removed
  // first). The error's message says what failed.
  static Result<SandboxRegistration> Create(const std::string& root,
                                            SandboxRecord record);
  SandboxRegistration(SandboxRegistration&&) noexcept = default;
  SandboxRegistration& operator=(SandboxRegistration&&) = delete;
  ~SandboxRegistration();  // removes the directory

  // Records the sentry's pid (the sandbox is running). Works by
  // descriptor, as every later step: the sentry's pivot_root changes the
  // root of the mount namespace veil shares with it.
  Result<void> SetSentry(pid_t sentry);
  int listen_fd() const { return listen_.get(); }
  // The listening socket is the veil process's alone: closed in the
  // sentry after the fork.
  void CloseListener() { listen_.reset(); }
  // Forgets the directory without removing it, and closes every host
  // descriptor of it (the sentry's copy: it keeps none).
  void Abandon() {
    root_.reset();
    dir_.reset();
    listen_.reset();
  }
  const SandboxRecord& record() const { return record_; }

 private:
  SandboxRegistration() = default;
  UniqueFd root_;  // the runtime directory
  UniqueFd dir_;   // the sandbox's
  SandboxRecord record_;
  UniqueFd listen_;
};

enum class SandboxState : uint8_t { kRunning, kStopped };
struct SandboxEntry {
  SandboxRecord record;
  SandboxState state = SandboxState::kStopped;
};

// Every sandbox under `root` (none if `root` does not exist), by name.
Result<std::vector<SandboxEntry>> ListSandboxes(const std::string& root);
// One sandbox's entry: ENOENT if there is none of that name.
Result<SandboxEntry> FindSandbox(const std::string& root,
                                 const std::string& name);
// Removes a stopped sandbox's directory; EBUSY if it runs.
Result<void> DeleteSandbox(const std::string& root, const std::string& name);

// Sends `request` ("STATUS", "VIEW ro" ...) to the sandbox's control
// socket, with descriptor `send_fd` unless -1, and returns the reply after
// "OK" (and its descriptor in *fd, if given). A refusal is its errno;
// ETIMEDOUT if no reply came within `timeout_ms` (-1: no limit).
Result<std::string> AskSandbox(const std::string& root,
                               const std::string& name,
                               const std::string& request,
                               UniqueFd* fd = nullptr, int send_fd = -1,
                               int timeout_ms = 10000);

// veil's side of the control socket while its sentry runs: accepts each
// connection, checks the peer (root or the owner; others get an EACCES
// reply) and passes it to the sentry over `link`.
//
// RelayUntilExit does it on the calling thread until process `sentry`
// (veil's child) has exited, then returns: once veil has unshared its
// pid namespace it cannot start a thread (clone(CLONE_THREAD) is EINVAL
// while its children's pid namespace differs from its own). It reaps
// nothing: the caller waits for the sentry next.
void RelayUntilExit(int listen_fd, int link, uid_t owner, pid_t sentry);

// The same on a thread of its own, for a sentry in veil's own process
// (VEIL_UNCONFINED): until destroyed.
class ControlRelay final {
 public:
  ControlRelay(int listen_fd, UniqueFd link, uid_t owner);
  ~ControlRelay();
  ControlRelay(const ControlRelay&) = delete;
  ControlRelay& operator=(const ControlRelay&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace veil::tools
