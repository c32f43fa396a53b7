// SPDX-License-Identifier: Apache-2.0
#include "gofer/server/confine.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/logging.h"
#include "gofer/server/seccomp_filter.h"

namespace veil::gofer {
namespace {

// errno with the step's name, for the caller to print.
Errno StepFailed(const char* step) { return Errno(errno, step); }

// Capabilities the file server uses: owners and modes as the client asks
// (CHOWN, FOWNER, FSETID), access to every file of the export whatever its
// mode (DAC_OVERRIDE, DAC_READ_SEARCH, which linkat(AT_EMPTY_PATH) also
// needs), the 0:0 whiteout (MKNOD) and trusted.overlay.* xattrs
// (SYS_ADMIN; the seccomp filter leaves none of its other uses reachable).
constexpr uint64_t kKeptCapabilities =
    (uint64_t{1} << CAP_CHOWN) | (uint64_t{1} << CAP_DAC_OVERRIDE) |
    (uint64_t{1} << CAP_DAC_READ_SEARCH) | (uint64_t{1} << CAP_FOWNER) |
    (uint64_t{1} << CAP_FSETID) | (uint64_t{1} << CAP_MKNOD) |
    (uint64_t{1} << CAP_SYS_ADMIN);

Result<void> DropCapabilities() {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) {
    return StepFailed("confine: capget");
  }
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
    const uint32_t keep = static_cast<uint32_t>(kKeptCapabilities >> (32 * i));
    data[i].effective &= keep;
    data[i].permitted &= keep;
    data[i].inheritable = 0;
  }
  if (::syscall(SYS_capset, &header, data) != 0) {
    return StepFailed("confine: capset (drop capabilities)");
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
      errno != EINVAL) {  // EINVAL: a kernel without ambient capabilities.
    return StepFailed("confine: prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  return Ok();
}

// The flags of the mount `path` is on that a bind remount must keep, so that
// the export never becomes more permissive than the host made it.
Result<unsigned long> KeptMountFlags(const char* path) {
  struct statvfs st = {};
  if (::statvfs(path, &st) != 0) return StepFailed("confine: statvfs(DIR)");
  unsigned long flags = 0;
  if ((st.f_flag & ST_RDONLY) != 0) flags |= MS_RDONLY;
  if ((st.f_flag & ST_NOEXEC) != 0) flags |= MS_NOEXEC;
  return flags;
}

}  // namespace

Result<void> EnterRoot(const std::string& root, Access access) {
  const char* dir = root.c_str();
  if (::unshare(CLONE_NEWNS) != 0) {
    return StepFailed("confine: unshare(CLONE_NEWNS) (needs root)");
  }
  // Nothing we mount or unmount leaks to the host (a slave never
  // propagates back), but host mounts and unmounts below DIR keep arriving,
  // so that they are mounts here too: the kernel then refuses rmdir(2) and
  // rename(2) of their mount points with EBUSY. Were they plain directories
  // here, a rename or rmdir would move or detach the host's mounts.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    return StepFailed("confine: mount(/, MS_REC|MS_SLAVE)");
  }
  unsigned long flags = VEIL_TRY(KeptMountFlags(dir));
  // MS_REC for the reason above. Nothing below a mount point is served
  // (lookups use RESOLVE_NO_XDEV, and a mount point itself is EACCES).
  if (::mount(dir, dir, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return StepFailed("confine: bind-mount DIR onto itself");
  }
  flags |= MS_NOSUID | MS_NODEV;
  if (access == Access::kReadOnly) flags |= MS_RDONLY;
  if (::mount(nullptr, dir, nullptr, MS_REMOUNT | MS_BIND | flags, nullptr) !=
      0) {
    return StepFailed("confine: remount DIR nosuid,nodev");
  }
  // A remount changes one mount; the submounts keep the host's flags. Make
  // the whole tree nosuid,nodev (and read-only for --ro) as defence in
  // depth: none of it is reachable, but a read-only export must be
  // read-only throughout. Mounts the host adds later are not reachable
  // either (RESOLVE_NO_XDEV); they keep their own flags.
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (access == Access::kReadOnly) attr.attr_set |= MOUNT_ATTR_RDONLY;
  if (::mount_setattr(AT_FDCWD, dir, AT_RECURSIVE, &attr, sizeof(attr)) !=
      0) {
    return StepFailed("confine: mount_setattr(DIR, AT_RECURSIVE)");
  }
  if (::chdir(dir) != 0) return StepFailed("confine: chdir(DIR)");
  // pivot_root(".", ".") stacks the old root on top of the new one; the
  // detaching umount then removes it (pivot_root(2), "NOTES").
  if (::syscall(SYS_pivot_root, ".", ".") == 0) {
    if (::umount2(".", MNT_DETACH) != 0) {
      return StepFailed("confine: umount2(old root, MNT_DETACH)");
    }
  } else {
    // Expected where DIR is the host's own root (a rootfs that cannot be
    // pivoted away, as on initramfs machines): every `veil do` of the
    // host's / would print it, so it is a note for VEIL_LOG=info.
    VEIL_LOG(kInfo) << "gofer: pivot_root failed (" << strerrorname_np(errno)
                    << "), falling back to chroot";
    if (::chroot(".") != 0) return StepFailed("confine: chroot(DIR)");
  }
  if (::chdir("/") != 0) return StepFailed("confine: chdir(/)");
  return Ok();
}

Result<void> RestrictSelf() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return StepFailed("confine: prctl(PR_SET_DUMPABLE, 0)");
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return StepFailed("confine: prctl(PR_SET_NO_NEW_PRIVS)");
  }
  VEIL_TRY_VOID(DropCapabilities());
  return InstallSeccompFilter();
}

}  // namespace veil::gofer
