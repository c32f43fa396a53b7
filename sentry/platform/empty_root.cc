// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/empty_root.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace veil::sentry {
namespace {

Errno StepFailed(const char* step) { return Errno(errno, step); }

// Copies `source` into `dest` with a stack buffer (no allocation).
Result<void> CopyFile(int source, int dest) {
  char buf[4096];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = pread(source, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return StepFailed("empty root: read the file's source");
    if (n == 0) return Ok();
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = write(dest, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return StepFailed("empty root: write the file");
      done += w;
    }
    offset += n;
  }
}

// Closes an fd of ours opened during the steps (raw, async-signal-safe).
struct Closer {
  int fd = -1;
  ~Closer() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

Result<void> EnterEmptyRoot(const EmptyRootFile* file) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return StepFailed("empty root: mount(/, MS_REC|MS_PRIVATE)");
  }
  Closer fs{static_cast<int>(syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC))};
  if (fs.fd < 0) return StepFailed("empty root: fsopen(tmpfs)");
  // Small and bounded: the root holds at most one file (the stub).
  const char* const options[][2] = {
      {"mode", "0555"}, {"size", "8m"}, {"nr_inodes", "8"}};
  for (const auto& option : options) {
    if (syscall(SYS_fsconfig, fs.fd, FSCONFIG_SET_STRING, option[0],
                option[1], 0) != 0) {
      return StepFailed("empty root: fsconfig(tmpfs)");
    }
  }
  if (syscall(SYS_fsconfig, fs.fd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) !=
      0) {
    return StepFailed("empty root: fsconfig(FSCONFIG_CMD_CREATE)");
  }
  Closer mnt{static_cast<int>(syscall(SYS_fsmount, fs.fd, FSMOUNT_CLOEXEC,
                                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV))};
  if (mnt.fd < 0) return StepFailed("empty root: fsmount(tmpfs)");
  if (file != nullptr) {
    Closer out{openat(mnt.fd, file->name,
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0555)};
    if (out.fd < 0) return StepFailed("empty root: create the file");
    VEIL_TRY_VOID(CopyFile(file->source_fd, out.fd));
  }
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (syscall(SYS_mount_setattr, mnt.fd, "", AT_EMPTY_PATH, &attr,
              sizeof attr) != 0) {
    return StepFailed("empty root: mount_setattr(RDONLY)");
  }
  if (syscall(SYS_move_mount, mnt.fd, "", AT_FDCWD, "/",
              MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return StepFailed("empty root: move_mount(tmpfs onto /)");
  }
  if (fchdir(mnt.fd) != 0) return StepFailed("empty root: fchdir(tmpfs)");
  // pivot_root(".", ".") stacks the old root on top of the new one; the
  // detaching umount then removes it with every mount under it
  // (pivot_root(2), "NOTES").
  if (syscall(SYS_pivot_root, ".", ".") != 0) {
    return StepFailed("empty root: pivot_root");
  }
  if (umount2(".", MNT_DETACH) != 0) {
    return StepFailed("empty root: umount2(old root, MNT_DETACH)");
  }
  if (chdir("/") != 0) return StepFailed("empty root: chdir(/)");
  return Ok();
}

}  // namespace veil::sentry
