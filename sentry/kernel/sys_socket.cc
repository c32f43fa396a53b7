// SPDX-License-Identifier: Apache-2.0
//
// Sockets, the part served so far: socketpair(2) in the default mode, a
// host socket pair the sentry makes and installs at the task's numbers
// (keeping neither end), on which send, recv, sendmsg, recvmsg, shutdown,
// getsockopt and the name calls run natively. Descriptors cannot travel
// over them: SO_PASSRIGHTS (Linux 6.16+) is off on both ends, so an
// SCM_RIGHTS message is refused (EPERM) and no fd ever reaches a task
// behind the sentry's fd table; setsockopt(SO_PASSRIGHTS) is trapped to
// keep it off. socket(2), bind, connect, listen and accept are not served
// yet (ENOSYS), nor anything under --strict.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>

#include "base/unique_fd.h"
#include "sentry/kernel/anon_fs.h"
#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/task_memory.h"

namespace veil::sentry {
namespace {

constexpr int kSoPassRights = 83;  // asm-generic/socket.h, Linux 6.16
constexpr int kSockTypeMask = 0xf;  // SOCK_TYPE_MASK

}  // namespace

Result<int64_t> SysSocketpair(Task& task, SyscallArgs& args) {
  const int domain = args.Int(0);
  const int type = args.Int(1);
  const int protocol = args.Int(2);
  if (!task.twins()) return Errno(ENOSYS);
  // __sys_socketpair: the flags in `type`, then the family's own checks
  // (made by the host's socketpair below).
  if (type & ~(kSockTypeMask | SOCK_CLOEXEC | SOCK_NONBLOCK))
    return Errno(EINVAL);
  if (domain != AF_UNIX) return Errno(EOPNOTSUPP);  // the only family here
  FdReservation fd0 = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  FdReservation fd1 = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  int sv[2];
  if (::socketpair(domain, type | SOCK_CLOEXEC, protocol, sv) != 0)
    return Errno::FromErrno();
  UniqueFd end0(sv[0]), end1(sv[1]);
  const int off = 0;
  for (int end : sv) {
    if (::setsockopt(end, SOL_SOCKET, kSoPassRights, &off, sizeof off) != 0)
      return Errno(ENOSYS);  // a kernel without SO_PASSRIGHTS: not served
  }
  const CloseOnExec cloexec =
      (type & SOCK_CLOEXEC) ? CloseOnExec::kYes : CloseOnExec::kNo;
  const int status = (type & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
  int numbers[2] = {fd0.fd(), fd1.fd()};
  // __sys_socketpair: copy_to_user fails -> EFAULT, nothing installed.
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(3), numbers));
  task.effects().installs.push_back({std::move(end0), fd0.fd(), cloexec});
  task.effects().installs.push_back({std::move(end1), fd1.fd(), cloexec});
  std::move(fd0).Install(
      MakeTwinAnonFile(task.creds(), O_RDWR | status, "socket",
                       S_IFSOCK | 0777),
      cloexec);
  std::move(fd1).Install(
      MakeTwinAnonFile(task.creds(), O_RDWR | status, "socket",
                       S_IFSOCK | 0777),
      cloexec);
  return 0;
}

Result<int64_t> SysSetsockopt(Task& task, SyscallArgs& args) {
  if (!task.twins()) return Errno(ENOSYS);
  const int level = args.Int(1);
  const int name = args.Int(2);
  if (level == SOL_SOCKET && name == kSoPassRights) {
    // Off may be asked again; on would let descriptors in behind the
    // sentry's table.
    if (args.UInt(4) < sizeof(int)) return Errno(EINVAL);
    const int value = VEIL_TRY(CopyIn<int>(args.mem, args.Addr(3)));
    if (value != 0) return Errno(EPERM);
    return 0;
  }
  // Every other option: the task's own socket, natively (the values
  // checked here are registers).
  task.effects().continue_natively = true;
  return 0;
}

}  // namespace veil::sentry
