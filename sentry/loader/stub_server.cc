// SPDX-License-Identifier: Apache-2.0
#include "sentry/loader/stub_server.h"

#include <sys/syscall.h>

#include <algorithm>

#include "sentry/loader/plan_codec.h"
#include "sentry/loader/stub_protocol.h"

namespace veil::sentry::loader {

Result<StubServer> StubServer::Create(Platform& platform,
                                      const LoadPlan& plan) {
  std::vector<vfs::HostMemory> memory;
  for (const Ref<vfs::FileDescription>& file : plan.files) {
    auto mem = file->GetHostMemory();
    if (!mem) return Errno(EACCES);  // open_exec: no ->mmap
    if (mem->offset % kPageSize != 0) return Errno(EINVAL);
    file->NoteMapped();  // the stub maps it into the task for good
    memory.push_back(*mem);
  }
  return StubServer(platform, plan, std::move(memory));
}

Result<StubServer::Outcome> StubServer::Serve(const SyscallRequest& req) {
  switch (req.nr) {
    case VEIL_STUB_NR_GET_PLAN:
      return ServeGetPlan(req);
    case VEIL_STUB_NR_GET_FD:
      return ServeGetFd(req);
    case VEIL_STUB_NR_FAIL:
      failure_ = StubFailure{static_cast<int>(req.args[0]),
                             static_cast<int>(req.args[1])};
      VEIL_TRY_VOID(Reply(req, SyscallAnswer::Value(0)));
      return Outcome::kFailed;
    case SYS_close:
      return ServeClose(req);
    case SYS_mmap: {
      // The data plane traps file mappings (a guard on MAP_ANONYMOUS);
      // the stub's own, of the fds it was given, run as asked: every
      // argument is a register, and the file was noted as mapped above.
      const int fd = static_cast<int>(req.args[4]);
      if (std::find(open_fds_.begin(), open_fds_.end(), fd) ==
          open_fds_.end())
        return Outcome::kNotStub;
      int64_t unused = 0;
      VEIL_TRY_VOID(Reply(req, SyscallAnswer::Continue(), &unused));
      return Outcome::kServed;
    }
    default:
      return Outcome::kNotStub;
  }
}

Result<StubServer::Outcome> StubServer::ServeGetPlan(
    const SyscallRequest& req) {
  const TaskAddr buf(req.args[0]);
  const uint64_t cap = req.args[1];
  uint64_t vdso = req.args[2];
  // A vDSO the stub cannot have been given is reported as none.
  if (vdso % kPageSize != 0 || vdso >= kTaskSize) vdso = 0;

  std::vector<uint64_t> offsets;
  for (const vfs::HostMemory& m : memory_) offsets.push_back(m.offset);
  auto wire = EncodePlan(*plan_, offsets, vdso);
  if (!wire) {
    VEIL_TRY_VOID(Reply(req, SyscallAnswer::Error(wire.error())));
    return Outcome::kServed;
  }
  if (cap >= wire->size()) {
    // copy_to_user: a range that wraps, or a write cut short, is EFAULT.
    if (!buf.Offset(wire->size())) {
      VEIL_TRY_VOID(Reply(req, SyscallAnswer::Error(Errno(EFAULT))));
      return Outcome::kServed;
    }
    auto written = platform_->WriteMemory(req, buf, *wire);
    if (!written || *written != wire->size()) {
      if (!written && written.error().code() == ESRCH) return written.error();
      VEIL_TRY_VOID(Reply(req, SyscallAnswer::Error(Errno(EFAULT))));
      return Outcome::kServed;
    }
  }
  VEIL_TRY_VOID(
      Reply(req, SyscallAnswer::Value(static_cast<int64_t>(wire->size()))));
  return Outcome::kServed;
}

Result<StubServer::Outcome> StubServer::ServeGetFd(const SyscallRequest& req) {
  const uint64_t index = req.args[0];
  if (index >= memory_.size()) {
    // As a bad fd number: there is no such file in the plan.
    VEIL_TRY_VOID(Reply(req, SyscallAnswer::Error(Errno(EBADF))));
    return Outcome::kServed;
  }
  int64_t installed = -1;
  VEIL_TRY_VOID(Reply(req,
                      SyscallAnswer::InstallFd(memory_[index].fd,
                                               FdPlacement::kLowest, 0,
                                               CloseOnExec::kYes),
                      &installed));
  if (installed >= 0) open_fds_.push_back(static_cast<int>(installed));
  return Outcome::kServed;
}

Result<StubServer::Outcome> StubServer::ServeClose(const SyscallRequest& req) {
  // close(2) takes an unsigned int: the upper half of the register is
  // ignored, as the kernel ignores it.
  const int fd = static_cast<int>(static_cast<uint32_t>(req.args[0]));
  auto it = std::find(open_fds_.begin(), open_fds_.end(), fd);
  if (it == open_fds_.end()) return Outcome::kNotStub;
  int64_t unused = 0;
  VEIL_TRY_VOID(Reply(req, SyscallAnswer::Continue(), &unused));
  if (unused >= 0) open_fds_.erase(it);
  return Outcome::kServed;
}

Result<void> StubServer::Reply(const SyscallRequest& req,
                               const SyscallAnswer& answer,
                               int64_t* installed) {
  auto r = platform_->Answer(req, answer);
  if (!r) {
    if (installed) *installed = -1;
    if (r.error().code() == ENOENT) return Ok();  // it will come again
    return r.error();
  }
  if (installed) *installed = *r;
  return Ok();
}

}  // namespace veil::sentry::loader
