// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/file_ops.h"

#include <fcntl.h>

#include "sentry/kernel/host_twins.h"
#include "vfs/blocking.h"
#include "vfs/fcntl_lock.h"

namespace veil::sentry {

Result<vfs::Location> StartDir(Task& task, const vfs::Context& ctx, int dirfd,
                               std::string_view path) {
  // path_init: an absolute path starts at the root; dirfd is ignored.
  if (!path.empty() && path[0] == '/') return ctx.root;
  if (dirfd == AT_FDCWD) return ctx.cwd;
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(dirfd));
  // path_init: a relative lookup from a non-directory is ENOTDIR.
  if (!path.empty() && !file->inode().IsDir()) return Errno(ENOTDIR);
  return file->location();
}

Result<int64_t> OpenAt(Task& task, SyscallArgs& args, int dirfd,
                       TaskAddr path_addr, vfs::OpenHow how) {
  // build_open_flags runs before getname: its EINVALs beat EFAULT and
  // ENOENT. (O_PATH already dropped O_CREAT and O_TMPFILE for open(2);
  // openat2 refused them.)
  if (!(how.flags & O_PATH)) {
    if ((how.flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY))
      return Errno(EINVAL);
    constexpr int kTmpfileBit = 020000000;  // the kernel's __O_TMPFILE
    if (how.flags & kTmpfileBit) {
      // O_TMPFILE needs O_DIRECTORY and write access, without O_CREAT.
      if ((how.flags & (O_TMPFILE | O_CREAT)) != O_TMPFILE)
        return Errno(EINVAL);
      if ((how.flags & O_ACCMODE) == O_RDONLY) return Errno(EINVAL);
    }
  }
  std::string path =
      VEIL_TRY(CopyInPath(args.mem, path_addr, EmptyPath::kDeny));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  CloseOnExec cloexec =
      (how.flags & O_CLOEXEC) ? CloseOnExec::kYes : CloseOnExec::kNo;
  // build_open_flags: O_CLOEXEC belongs to the fd, never to the file.
  how.flags &= ~O_CLOEXEC;
  // open/openat2: force_o_largefile on x86-64, "only allowed for
  // non-O_PATH" (open(2) adds it first, and build_open_how's O_PATH mask
  // takes it away again).
  if (!(how.flags & O_PATH)) how.flags |= kOLargefile;
  // get_unused_fd_flags before do_filp_open: EMFILE wins over ENOENT.
  FdReservation fd = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, dirfd, path));
  Ref<vfs::FileDescription> file = VEIL_TRY(
      vfs::OpenAtBlocking(task.vfs(), ctx, dir, path, how, task.waiter()));
  return VEIL_TRY(InstallWithTwin(task, std::move(fd), std::move(file), cloexec));
}

Result<int> InstallWithTwin(Task& task, FdReservation fd,
                            Ref<vfs::FileDescription> file,
                            CloseOnExec cloexec) {
  if (task.twins()) {
    // The twin first: if the host cannot make it (EMFILE, ENFILE), the
    // call fails and the number goes back.
    UniqueFd twin = VEIL_TRY(task.twins()->TwinOf(*file));
    vfs::Inode& inode = file->inode();
    if (inode.IsRegular() && (file->flags() & O_ACCMODE) != O_RDONLY) {
      // Writes to the twin run natively and cannot drop a set-id bit as
      // file_remove_privs would on the first write: the bits go now, at
      // the open, for an opener without CAP_FSETID (sooner than Linux, if
      // it never writes; never later, so no write keeps a set-id program
      // someone else could then run with its owner's ids).
      MutexLock lock(inode.fs().mutex());
      const vfs::Attr cur = inode.GetAttrLocked();
      if (const uint32_t kill =
              vfs::SetIdBitsClearedByWrite(task.creds(), cur.mode, cur.gid)) {
        vfs::SetAttr attr;
        attr.mask = vfs::kKillModeBits | vfs::kSetCtimeNow;
        attr.kill = kill;
        VEIL_TRY_VOID(inode.SetAttrLocked(attr));
      }
    }
    task.effects().installs.push_back({std::move(twin), fd.fd(), cloexec});
  }
  return std::move(fd).Install(std::move(file), cloexec);
}

Result<int> InstallLowest(Task& task, Ref<vfs::FileDescription> file,
                          CloseOnExec cloexec) {
  FdReservation fd = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  return InstallWithTwin(task, std::move(fd), std::move(file), cloexec);
}

void ReleaseClosed(Task& task, vfs::FileDescription& file) {
  // filp_close: locks_remove_posix for the closing process.
  if (!file.is_path()) vfs::ReleasePosixLocks(file, task.PosixLockOwner());
}

Result<void> CloseFd(Task& task, int fd) {
  if (task.twins()) {
    // The task closes its host fd itself, natively, after the answer; the
    // number stays reserved until then (Task::KeepClosing).
    Ref<vfs::FileDescription> file = VEIL_TRY(
        task.fds().Remove(fd, FdTable::AfterRemove::kKeepReserved));
    task.KeepClosing(fd);
    task.effects().continue_natively = true;
    ReleaseClosed(task, *file);
    return Ok();
  }
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Remove(fd));
  ReleaseClosed(task, *file);
  return Ok();
}

void UnshareFiles(Task& task) {
  if (task.fds().Shared()) task.set_fds(task.fds().Fork());
}

void CloseFilesOnExec(Task& task) {
  UnshareFiles(task);
  for (const Ref<vfs::FileDescription>& file : task.fds().CloseOnExecFds())
    ReleaseClosed(task, *file);
}

Result<std::string> CopyInAtPath(TaskMemory& mem, TaskAddr path, int flags,
                                 NullPath null_path) {
  if (path.IsNull() && (flags & AT_EMPTY_PATH) &&
      null_path == NullPath::kEmptyWithAtEmptyPath)
    return std::string();  // vfs_empty_path: NULL with AT_EMPTY_PATH
  return CopyInPath(
      mem, path,
      (flags & AT_EMPTY_PATH) ? EmptyPath::kAllow : EmptyPath::kDeny);
}

}  // namespace veil::sentry
