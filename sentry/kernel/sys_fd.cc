// SPDX-License-Identifier: Apache-2.0
//
// The fd table and its files: dup(2), dup2(2), dup3(2), fcntl(2),
// flock(2), ioctl(2), pipe(2), pipe2(2).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <cstring>
#include <optional>

#include "sentry/kernel/anon_fs.h"
#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"
#include "vfs/fcntl_lock.h"

namespace veil::sentry {
namespace {

// In the default mode, the host description behind the task's `oldfd`,
// to install again at the new number (the same open file description, as
// dup's). Nothing under --strict.
Result<void> FetchTwin(Task& task, SyscallArgs& args, int oldfd, int newfd,
                       CloseOnExec cloexec) {
  if (!task.twins()) return Ok();
  UniqueFd twin =
      VEIL_TRY(task.platform().GetTaskFd(args.mem.request(), oldfd));
  task.effects().installs.push_back({std::move(twin), newfd, cloexec});
  return Ok();
}

// dup2/dup3's shared part (do_dup2): installs `file` at `newfd` and
// closes what was there.
Result<int64_t> DupTo(Task& task, SyscallArgs& args, int oldfd,
                      Ref<vfs::FileDescription> file, int newfd,
                      CloseOnExec cloexec) {
  VEIL_TRY_VOID(FetchTwin(task, args, oldfd, newfd, cloexec));
  RefPtr<vfs::FileDescription> old = VEIL_TRY(
      task.fds().Replace(newfd, std::move(file), cloexec, task.nofile_limit()));
  if (old) ReleaseClosed(task, *old);  // filp_close of the replaced file
  return newfd;
}

// F_DUPFD/F_DUPFD_CLOEXEC (f_dupfd): the lowest free fd >= `from`.
Result<int64_t> DupFrom(Task& task, SyscallArgs& args, int oldfd,
                        Ref<vfs::FileDescription> file, uint64_t from,
                        CloseOnExec cloexec) {
  // f_dupfd: from >= RLIMIT_NOFILE is EINVAL.
  if (from >= static_cast<uint64_t>(task.nofile_limit())) return Errno(EINVAL);
  FdReservation fd = VEIL_TRY(
      task.fds().Allocate(static_cast<int>(from), task.nofile_limit()));
  VEIL_TRY_VOID(FetchTwin(task, args, oldfd, fd.fd(), cloexec));
  return std::move(fd).Install(std::move(file), cloexec);
}

Result<int64_t> RecordLock(Task& task, SyscallArgs& args,
                           vfs::FileDescription& file, int cmd) {
  struct flock fl = VEIL_TRY(CopyIn<struct flock>(args.mem, args.Addr(2)));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  if (cmd == F_GETLK || cmd == F_OFD_GETLK) {
    VEIL_TRY_VOID(vfs::GetRecordLock(file, cmd, task.PosixLockOwner(), &fl));
    VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(2), fl));
    return 0;
  }
  VEIL_TRY_VOID(vfs::SetRecordLockBlocking(file, cmd, fl, task.PosixLockOwner(),
                                           task.waiter()));
  return 0;
}

// pipe_fcntl: F_GETPIPE_SZ/F_SETPIPE_SZ on a pipe or FIFO, whose data is
// a host pipe (either end answers for the pipe).
Result<int64_t> PipeSize(Task& task, vfs::FileDescription& file, int cmd,
                         uint64_t arg) {
  // get_pipe_info: not a pipe is EBADF.
  if (file.inode().type() != S_IFIFO) return Errno(EBADF);
  int host = -1;
  for (const vfs::HostPoll& h :
       file.WaitSourceFor(vfs::kEventIn | vfs::kEventOut).host)
    if (h.fd >= 0) host = h.fd;
  if (host < 0) return Errno(EBADF);
  if (cmd == F_SETPIPE_SZ) {
    // pipe_set_size: past fs.pipe-max-size (1 MiB by default) needs
    // CAP_SYS_RESOURCE (24), which the sentry's own call would have.
    constexpr uint64_t kPipeMaxSize = 1 << 20;
    constexpr unsigned kCapSysResource = 24;
    if (arg > kPipeMaxSize && !((task.creds().caps >> kCapSysResource) & 1))
      return Errno(EPERM);
    if (arg > (uint64_t{1} << 31)) return Errno(EINVAL);  // round_pipe_size
  }
  int r = ::fcntl(host, cmd, static_cast<int>(arg));
  if (r < 0) return Errno::FromErrno();
  return r;
}

}  // namespace

Result<int64_t> SysDup(Task& task, SyscallArgs& args) {
  // dup: fget_raw (O_PATH files too), then get_unused_fd.
  int oldfd = args.Int(0);
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(oldfd));
  return DupFrom(task, args, oldfd, std::move(file), 0, CloseOnExec::kNo);
}

Result<int64_t> SysDup3(Task& task, SyscallArgs& args) {
  int oldfd = args.Int(0), newfd = args.Int(1), flags = args.Int(2);
  // ksys_dup3: bad flags, then oldfd == newfd, are EINVAL; newfd past
  // RLIMIT_NOFILE is EBADF; then oldfd must be open (EBADF).
  if (flags & ~O_CLOEXEC) return Errno(EINVAL);
  if (oldfd == newfd) return Errno(EINVAL);
  if (newfd < 0 || newfd >= task.nofile_limit()) return Errno(EBADF);
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(oldfd));
  return DupTo(task, args, oldfd, std::move(file), newfd,
               (flags & O_CLOEXEC) ? CloseOnExec::kYes : CloseOnExec::kNo);
}

Result<int64_t> SysDup2(Task& task, SyscallArgs& args) {
  int oldfd = args.Int(0), newfd = args.Int(1);
  // ksys_dup2: onto itself, only checks that oldfd is open.
  if (oldfd == newfd) {
    VEIL_TRY(task.fds().Get(oldfd));
    return newfd;
  }
  if (newfd < 0 || newfd >= task.nofile_limit())
    return Errno(EBADF);  // ksys_dup3
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(oldfd));
  return DupTo(task, args, oldfd, std::move(file), newfd, CloseOnExec::kNo);
}

Result<int64_t> SysFcntl(Task& task, SyscallArgs& args) {
  int fd = args.Int(0), cmd = args.Int(1);
  FdEntry entry = VEIL_TRY(task.fds().GetEntry(fd));
  vfs::FileDescription& file = *entry.file;
  // check_fcntl_cmd: O_PATH files allow only these.
  if (file.is_path() && cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC &&
      cmd != F_GETFD && cmd != F_SETFD && cmd != F_GETFL)
    return Errno(EBADF);
  switch (cmd) {
    case F_DUPFD:
      return DupFrom(task, args, fd, entry.file, args.ULong(2),
                     CloseOnExec::kNo);
    case F_DUPFD_CLOEXEC:
      return DupFrom(task, args, fd, entry.file, args.ULong(2),
                     CloseOnExec::kYes);
    case F_GETFD:
      return entry.cloexec == CloseOnExec::kYes ? FD_CLOEXEC : 0;
    case F_SETFD:
      VEIL_TRY_VOID(task.fds().SetCloseOnExec(fd, (args.ULong(2) & FD_CLOEXEC)
                                                      ? CloseOnExec::kYes
                                                      : CloseOnExec::kNo));
      // The host fd's own flag, which the host's exec honours: the same
      // call, natively (registers only).
      if (task.twins()) task.effects().continue_natively = true;
      return 0;
    case F_GETFL:
      return file.flags();
    case F_SETFL:
      VEIL_TRY_VOID(file.SetStatusFlags(task.creds(), args.Int(2)));
      // The host description's flags (O_NONBLOCK on a pipe, O_APPEND on a
      // file) change by the same call, natively.
      if (task.twins()) task.effects().continue_natively = true;
      return 0;
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
      return RecordLock(task, args, file, cmd);
    case F_GETLEASE:
      return F_UNLCK;  // fcntl_getlease: veil grants no leases
    case F_GET_SEALS:
    case F_ADD_SEALS: {
      // memfd_fcntl: a shmem file that is no memfd carries F_SEAL_SEAL
      // alone (so adding is EPERM); other files have no seals (EINVAL).
      bool shmem = file.inode().IsRegular() &&
                   std::strcmp(file.inode().fs().TypeName(), "tmpfs") == 0;
      if (cmd == F_GET_SEALS) {
        if (!shmem) return Errno(EINVAL);  // memfd_get_seals
        return F_SEAL_SEAL;
      }
      // memfd_add_seals: not open for writing is EPERM, then unknown
      // seals and files without seals are EINVAL, then F_SEAL_SEAL EPERM.
      constexpr uint64_t kAllSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
                                     F_SEAL_WRITE | F_SEAL_FUTURE_WRITE |
                                     0x20 /* EXEC */;
      if (!file.writable()) return Errno(EPERM);
      if (args.ULong(2) & ~kAllSeals) return Errno(EINVAL);
      if (!shmem) return Errno(EINVAL);
      return Errno(EPERM);
    }
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ:
      // A host pipe of the data plane answers for itself.
      if (IsTwinPipe(file) ||
          (task.twins() && file.inode().type() == S_IFIFO)) {
        // pipe_set_size: past fs.pipe-max-size needs CAP_SYS_RESOURCE,
        // judged by the sandbox's credentials, not the host's.
        constexpr uint64_t kPipeMaxSize = 1 << 20;
        constexpr unsigned kCapSysResource = 24;
        if (cmd == F_SETPIPE_SZ && args.ULong(2) > kPipeMaxSize &&
            !((task.creds().caps >> kCapSysResource) & 1))
          return Errno(EPERM);
        task.effects().continue_natively = true;
        return 0;
      }
      return PipeSize(task, file, cmd, args.ULong(2));
    default:
      return Errno(EINVAL);  // do_fcntl: an unknown command
  }
}

Result<int64_t> SysFlock(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  VEIL_TRY_VOID(vfs::FlockBlocking(*file, args.Int(1), task.waiter()));
  return 0;
}

Result<int64_t> SysIoctl(Task& task, SyscallArgs& args) {
  int fd = args.Int(0);
  unsigned cmd = args.UInt(1);
  FdEntry entry = VEIL_TRY(task.fds().GetEntry(fd));
  vfs::FileDescription& file = *entry.file;
  if (file.is_path()) return Errno(EBADF);  // ioctl: fdget
  // do_vfs_ioctl: the commands every file answers.
  switch (cmd) {
    case FIOCLEX:
      VEIL_TRY_VOID(task.fds().SetCloseOnExec(fd, CloseOnExec::kYes));
      // The data plane: the host fd's flag too, by the same call.
      if (task.twins()) task.effects().continue_natively = true;
      return 0;
    case FIONCLEX:
      VEIL_TRY_VOID(task.fds().SetCloseOnExec(fd, CloseOnExec::kNo));
      if (task.twins()) task.effects().continue_natively = true;
      return 0;
    case FIONBIO: {
      int on = VEIL_TRY(CopyIn<int>(args.mem, args.Addr(2)));
      int flags = file.flags();
      flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
      VEIL_TRY_VOID(file.SetStatusFlags(task.creds(), flags));
      if (task.twins()) {
        // The host description's flag, from the value read once (the
        // task's memory is not read again).
        UniqueFd host = VEIL_TRY(
            task.platform().GetTaskFd(args.mem.request(), fd));
        int host_flags = ::fcntl(host.get(), F_GETFL);
        if (host_flags >= 0) {
          host_flags = on ? (host_flags | O_NONBLOCK)
                          : (host_flags & ~O_NONBLOCK);
          (void)::fcntl(host.get(), F_SETFL, host_flags);
        }
      }
      return 0;
    }
    case FIONREAD:
      // The data plane: the host description knows the bytes in a pipe
      // and its position in a file; the call runs there (it only writes
      // the task's int). A directory's is the placeholder's: not it.
      if (task.twins() && !file.inode().IsDir()) {
        task.effects().continue_natively = true;
        return 0;
      }
      if (file.inode().type() == S_IFIFO) {
        // pipe_ioctl: the bytes in the pipe, which is a host pipe (either
        // end answers for both).
        vfs::WaitSource src =
            file.WaitSourceFor(vfs::kEventIn | vfs::kEventOut);
        for (const vfs::HostPoll& h : src.host) {
          if (h.fd < 0) continue;
          int n = 0;
          if (::ioctl(h.fd, FIONREAD, &n) != 0) return Errno::FromErrno();
          VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(2), n));
          return 0;
        }
      }
      if (file.inode().IsRegular()) {
        // do_vfs_ioctl: i_size - f_pos for a regular file.
        vfs::Attr attr = VEIL_TRY(file.Stat());
        int n =
            static_cast<int>(static_cast<int64_t>(attr.size) - file.offset());
        VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(2), n));
        return 0;
      }
      break;
    default:
      break;
  }
  int host = HostFdOf(file);
  if (host >= 0) {
    // The terminal queries `veil do`'s stdio answers, forwarded with
    // their fixed-size results.
    switch (cmd) {
      case TCGETS: {
        struct termios t {};
        if (::ioctl(host, TCGETS, &t) != 0) return Errno::FromErrno();
        VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(2), t));
        return 0;
      }
      case TIOCGWINSZ: {
        struct winsize w {};
        if (::ioctl(host, TIOCGWINSZ, &w) != 0) return Errno::FromErrno();
        VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(2), w));
        return 0;
      }
      case FIONREAD: {
        int n = 0;
        if (::ioctl(host, FIONREAD, &n) != 0) return Errno::FromErrno();
        VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(2), n));
        return 0;
      }
      default:
        break;
    }
  }
  // vfs_ioctl: a file without ->unlocked_ioctl (tmpfs) is ENOTTY.
  return Errno(ENOTTY);
}

Result<int64_t> SysPipe2(Task& task, SyscallArgs& args) {
  int flags = args.Int(1);
  // do_pipe2 (create_pipe_files): unknown flags are EINVAL.
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return Errno(EINVAL);
  // __do_pipe_flags: both fds are reserved before the files are made.
  FdReservation rfd = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  FdReservation wfd = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  CloseOnExec cloexec =
      (flags & O_CLOEXEC) ? CloseOnExec::kYes : CloseOnExec::kNo;
  std::optional<PipeEnds> ends;
  if (task.twins()) {
    // The data plane: a host pipe, whose ends the answer installs.
    HostPipe pipe = VEIL_TRY(MakeHostPipe(task.creds(), flags));
    ends.emplace(std::move(pipe.ends));
    task.effects().installs.push_back(
        {std::move(pipe.read_fd), rfd.fd(), cloexec});
    task.effects().installs.push_back(
        {std::move(pipe.write_fd), wfd.fd(), cloexec});
  } else {
    ends.emplace(VEIL_TRY(MakePipe(task.creds(), flags)));
  }
  int numbers[2] = {rfd.fd(), wfd.fd()};
  // do_pipe2: copy_to_user fails -> EFAULT, and nothing was installed.
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(0), numbers));
  std::move(rfd).Install(std::move(ends->read), cloexec);
  std::move(wfd).Install(std::move(ends->write), cloexec);
  return 0;
}

Result<int64_t> SysPipe(Task& task, SyscallArgs& args) {
  std::array<uint64_t, 6> raw{args.raw[0], 0};
  SyscallArgs at{args.mem, raw};
  return SysPipe2(task, at);
}

}  // namespace veil::sentry
