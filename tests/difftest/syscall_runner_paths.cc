// SPDX-License-Identifier: Apache-2.0
//
// syscall_runner's path-call variants (syscall_runner_calls.h).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "tests/difftest/syscall_runner_calls.h"

namespace veil::difftest::runner {
namespace {

long Sys(long rc) { return rc < 0 ? -errno : rc; }

// fchmodat2 (Linux 6.6); older headers do not name it.
constexpr long kSysFchmodat2 = 452;

}  // namespace

long OpenVariant(unsigned turn, const char* path, int flags, mode_t mode) {
  flags |= O_CLOEXEC;
  switch (turn % 3) {
    case 1:
      return Sys(syscall(SYS_open, path, flags, mode));
    case 2:
      // creat(2) is open(O_CREAT|O_WRONLY|O_TRUNC), nothing else.
      // (Without O_CLOEXEC: the runner never execs.)
      if ((flags & ~O_CLOEXEC) == (O_CREAT | O_WRONLY | O_TRUNC))
        return Sys(syscall(SYS_creat, path, mode));
      break;
  }
  return Sys(syscall(SYS_openat, AT_FDCWD, path, flags, mode));
}

long MkdirVariant(unsigned turn, const char* path, mode_t mode) {
  if (turn % 2 == 1) return Sys(syscall(SYS_mkdir, path, mode));
  return Sys(syscall(SYS_mkdirat, AT_FDCWD, path, mode));
}

long MknodVariant(unsigned turn, const char* path, mode_t mode, dev_t dev) {
  // The kernel's 32-bit dev (new_encode_dev) is glibc's dev_t for the
  // numbers the harness makes.
  unsigned kdev = static_cast<unsigned>(dev);
  if (turn % 2 == 1) return Sys(syscall(SYS_mknod, path, mode, kdev));
  return Sys(syscall(SYS_mknodat, AT_FDCWD, path, mode, kdev));
}

long SymlinkVariant(unsigned turn, const char* target, const char* path) {
  if (turn % 2 == 1) return Sys(syscall(SYS_symlink, target, path));
  return Sys(syscall(SYS_symlinkat, target, AT_FDCWD, path));
}

long LinkVariant(unsigned turn, const char* from, const char* to, int flags) {
  if (turn % 2 == 1 && flags == 0) return Sys(syscall(SYS_link, from, to));
  return Sys(syscall(SYS_linkat, AT_FDCWD, from, AT_FDCWD, to, flags));
}

long UnlinkVariant(unsigned turn, const char* path, int at_flags) {
  if (turn % 2 == 1) {
    return Sys(at_flags == AT_REMOVEDIR ? syscall(SYS_rmdir, path)
                                        : syscall(SYS_unlink, path));
  }
  return Sys(syscall(SYS_unlinkat, AT_FDCWD, path, at_flags));
}

long RenameVariant(unsigned turn, const char* from, const char* to,
                   unsigned flags) {
  if (flags == 0 && turn % 3 == 1) return Sys(syscall(SYS_rename, from, to));
  if (flags == 0 && turn % 3 == 2)
    return Sys(syscall(SYS_renameat, AT_FDCWD, from, AT_FDCWD, to));
  return Sys(syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags));
}

long ReadlinkVariant(unsigned turn, const char* path, char* buf, size_t size) {
  if (turn % 2 == 1) return Sys(syscall(SYS_readlink, path, buf, size));
  return Sys(syscall(SYS_readlinkat, AT_FDCWD, path, buf, size));
}

long ChmodVariant(unsigned turn, const char* path, mode_t mode) {
  switch (turn % 3) {
    case 1:
      return Sys(syscall(SYS_chmod, path, mode));
    case 2:
      return Sys(syscall(kSysFchmodat2, AT_FDCWD, path, mode, 0));
    default:
      return Sys(syscall(SYS_fchmodat, AT_FDCWD, path, mode));
  }
}

long ChownVariant(unsigned turn, const char* path, uid_t uid, gid_t gid,
                  int at_flags) {
  if (turn % 2 == 1 && at_flags == 0)
    return Sys(syscall(SYS_chown, path, uid, gid));
  if (turn % 2 == 1 && at_flags == AT_SYMLINK_NOFOLLOW)
    return Sys(syscall(SYS_lchown, path, uid, gid));
  return Sys(syscall(SYS_fchownat, AT_FDCWD, path, uid, gid, at_flags));
}

long AccessVariant(unsigned turn, const char* path, int mode, int at_flags,
                   Ids ids) {
  if (ids == Ids::kRoot && at_flags == 0) {
    if (turn % 3 == 1) return Sys(syscall(SYS_access, path, mode));
    if (turn % 3 == 2)
      return Sys(syscall(SYS_faccessat, AT_FDCWD, path, mode));
  }
  return Sys(
      syscall(SYS_faccessat2, AT_FDCWD, path, mode, at_flags | AT_EACCESS));
}

}  // namespace veil::difftest::runner
