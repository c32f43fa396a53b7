// SPDX-License-Identifier: Apache-2.0
//
// StubServer: the sentry's side of the exec stub's protocol
// (stub_protocol.h) for one exec of one task. The caller routes to Serve
// every trapped call the task makes while it runs the stub (from the
// exec's start until the stub jumps to the program); Serve answers the
// stub's calls and says kNotStub for anything else, which the caller
// answers as usual.
//
// Trust boundary: the stub is our code, but it runs in a task the sandbox
// controls (a ptrace-free task still shares memory with nothing, yet the
// numbers are plain syscalls any program can make). So nothing the stub
// sends is trusted: GET_PLAN's buffer is bounds-checked (a wrapping range
// is EFAULT, a short write into it EFAULT), GET_FD's index must name one
// of the plan's files (EBADF), the reported vDSO must be a page-aligned
// user address (else the plan says "no vDSO"), and only the fds this
// server installed are let through close. The caller must route the
// reserved numbers here only while the task runs the stub; a program that
// makes them later must get ENOSYS from the syscall table.
//
// Lifetime: `platform` and `plan` are borrowed and must outlive the
// server (the exec that owns all three destroys the server first).
// Thread-safety: none; called by the one thread serving the task.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/result.h"
#include "sentry/loader/load_plan.h"
#include "sentry/platform/platform.h"
#include "vfs/file_description.h"

namespace veil::sentry::loader {

struct StubFailure {
  int step = 0;   // VEIL_STUB_STEP_*
  int error = 0;  // a positive errno, as the stub saw it
};

class StubServer final {
 public:
  enum class Outcome : uint8_t {
    kNotStub,  // not a stub call: the caller answers it
    kServed,   // answered (or interrupted: the stub will call again)
    kFailed,   // the stub reported a failure (failure()); it exits 127
  };

  // EACCES when a file of the plan has no host memory to map (Linux:
  // open_exec refuses a file without ->mmap with EACCES), EINVAL when its
  // memory does not start at a page boundary.
  static Result<StubServer> Create(Platform& platform, const LoadPlan& plan);

  // Serves `req` if it is one of the stub's. Errors are the platform's
  // (other than ENOENT: an interrupted call comes again).
  Result<Outcome> Serve(const SyscallRequest& req);

  const std::optional<StubFailure>& failure() const { return failure_; }
  // Task fd numbers installed by GET_FD and not yet closed.
  const std::vector<int>& open_fds() const { return open_fds_; }

 private:
  StubServer(Platform& platform, const LoadPlan& plan,
             std::vector<vfs::HostMemory> memory)
      : platform_(&platform), plan_(&plan), memory_(std::move(memory)) {}

  Result<Outcome> ServeGetPlan(const SyscallRequest& req);
  Result<Outcome> ServeGetFd(const SyscallRequest& req);
  Result<Outcome> ServeClose(const SyscallRequest& req);
  // Answers; an interrupted call (ENOENT) is not an error here.
  Result<void> Reply(const SyscallRequest& req, const SyscallAnswer& answer,
                     int64_t* installed = nullptr);

  Platform* platform_;     // borrowed, see the class comment
  const LoadPlan* plan_;   // borrowed, see the class comment
  std::vector<vfs::HostMemory> memory_;  // per plan file; fds borrowed
  std::vector<int> open_fds_;
  std::optional<StubFailure> failure_;
};

}  // namespace veil::sentry::loader
