// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/host_thread.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "base/logging.h"
#include "base/unique_fd.h"

namespace veil::difftest::internal {
namespace {

// Per-thread state for entering and leaving backend roots.
struct ThreadFs {
  bool unshared = false;
  UniqueFd host_root;  // the thread's root before any backend call
};

ThreadFs& CurrentThreadFs() {
  thread_local ThreadFs fs;
  return fs;
}

bool SetCaps(CapState caps) {
  caps.header = {_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capset, &caps.header, caps.data) == 0;
}

}  // namespace

[[noreturn]] void Die(const char* what) {
  int saved = errno;
  VEIL_LOG(kError) << "HostBackend: " << what << ": " << strerror(saved);
  std::abort();
}

// Gives the calling thread its own root/cwd/umask (once per thread), so the
// chroot below cannot leak into other threads.
Result<void> PrepareThread() {
  ThreadFs& fs = CurrentThreadFs();
  if (fs.unshared) return Ok();
  UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Errno(errno, "open(\"/\") failed");
  if (unshare(CLONE_FS) != 0) return Errno(errno, "unshare(CLONE_FS) failed");
  fs.host_root = std::move(root);
  fs.unshared = true;
  return Ok();
}

bool EnterRoot(int root_fd) { return fchdir(root_fd) == 0 && chroot(".") == 0; }

bool LeaveRoot(int saved_cwd) {
  return fchdir(CurrentThreadFs().host_root.get()) == 0 && chroot(".") == 0 &&
         fchdir(saved_cwd) == 0;
}

bool GetCaps(CapState* caps) {
  caps->header = {_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capget, &caps->header, caps->data) == 0;
}

bool HasEffective(const CapState& caps, int cap) {
  return (caps.data[cap / 32].effective >> (cap % 32)) & 1;
}

bool IsPlainRoot(const Creds& creds) {
  return creds.uid == 0 && creds.gid == 0 && creds.groups.empty();
}

void SwitchCreds(const Creds& creds, SavedCreds* saved) {
  // setfs[ug]id(-1) changes nothing and returns the current id.
  saved->fsuid = static_cast<uid_t>(syscall(SYS_setfsuid, -1));
  saved->fsgid = static_cast<gid_t>(syscall(SYS_setfsgid, -1));
  long n = syscall(SYS_getgroups, 0, nullptr);
  if (n < 0) Die("getgroups");
  saved->groups.resize(n);
  if (syscall(SYS_getgroups, n, saved->groups.data()) != n) Die("getgroups");
  if (!GetCaps(&saved->caps)) Die("capget");
  // Raw syscalls: glibc's wrappers would apply these to every thread.
  if (syscall(SYS_setgroups, creds.groups.size(), creds.groups.data()) != 0) {
    Die("setgroups");
  }
  syscall(SYS_setfsgid, creds.gid);
  syscall(SYS_setfsuid, creds.uid);
  if (static_cast<uid_t>(syscall(SYS_setfsuid, -1)) != creds.uid ||
      static_cast<gid_t>(syscall(SYS_setfsgid, -1)) != creds.gid) {
    Die("setfsuid/setfsgid did not take effect");
  }
  if (creds.uid != 0) {
    // The fsuid change already dropped the file capabilities; drop the rest
    // (CAP_SYS_ADMIN guards trusted.* xattrs) so non-root means no privilege.
    CapState none = saved->caps;
    for (auto& d : none.data) d.effective = 0;
    if (!SetCaps(none)) Die("capset (drop)");
  }
}

void RestoreCreds(const SavedCreds& saved) {
  // Effective capabilities first: the id changes below need CAP_SET[UG]ID.
  if (!SetCaps(saved.caps)) Die("capset (restore)");
  syscall(SYS_setfsuid, saved.fsuid);
  syscall(SYS_setfsgid, saved.fsgid);
  if (syscall(SYS_setgroups, saved.groups.size(), saved.groups.data()) != 0) {
    Die("setgroups (restore)");
  }
  // Crossing fsuid 0 adjusts the effective set; put it back exactly.
  if (!SetCaps(saved.caps)) Die("capset (restore)");
}

// Removes `name` in `parent_fd` and everything below it. Descriptor-relative
// so that trees deeper than PATH_MAX are removed too.
void RemoveTreeAt(int parent_fd, const char* name) {
  if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT) return;
  UniqueFd dir(
      openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    VEIL_LOG(kWarning) << "HostBackend: cannot remove " << name << ": "
                       << strerror(errno);
    return;
  }
  std::vector<std::string> names;
  alignas(8) char buf[16384];
  for (;;) {
    long n = syscall(SYS_getdents64, dir.get(), buf, sizeof(buf));
    if (n <= 0) break;
    for (long pos = 0; pos < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + pos);
      pos += d->d_reclen;
      if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
        names.emplace_back(d->d_name);
      }
    }
  }
  for (const std::string& child : names) RemoveTreeAt(dir.get(), child.c_str());
  if (unlinkat(parent_fd, name, AT_REMOVEDIR) != 0) {
    VEIL_LOG(kWarning) << "HostBackend: cannot remove directory " << name
                       << ": " << strerror(errno);
  }
}

}  // namespace veil::difftest::internal
