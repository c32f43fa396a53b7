// SPDX-License-Identifier: Apache-2.0
//
// HostBackend: the reference Backend, a fresh directory on the host's tmpfs
// driven with real syscalls, so the kernel defines the expected behaviour.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "tests/difftest/backend.h"

namespace veil::difftest {

struct HostBackendOptions {
  // Where the scratch directory is created; must be on tmpfs.
  std::string parent_dir = "/dev/shm";
  // Optional: called with the scratch directory once `<scratch>/root`
  // exists, before it is served. It may mount another filesystem on the
  // root (the overlay difftest mounts an overlay whose layers it keeps in
  // the scratch directory); "/" is then that mount.
  std::function<Result<void>(const std::string& scratch_dir)> prepare;
  // Called before the scratch directory is removed, when `prepare` was
  // called (even if it failed): undoes what it mounted.
  std::function<void(const std::string& scratch_dir)> teardown;
};

// Serves a scratch directory `<parent>/veil-difftest-XXXXXX/root` as "/".
//
// Chroot semantics. Every path call enters the scratch directory on the
// *calling* thread and leaves it before returning: the first call on a thread
// does unshare(CLONE_FS) (so chroot, chdir and umask stop being shared with
// the other threads), then each call does fchdir(root) + chroot(".") +
// umask(022), runs the syscall with paths relative to that root, and restores
// the thread's previous root, cwd and umask. Absolute paths, absolute symlink
// targets and ".." at the root therefore resolve exactly as inside a chroot,
// while the thread behaves normally between calls, so no thread needs any
// preparation and none is left inside the scratch tree. (A dedicated worker
// thread would give the same semantics, but a cross-thread hand-off costs
// ~50 us here against ~5 us for the switch; the harness makes ~300 calls per
// step.) If a call cannot enter the root, the process aborts with a message:
// running a syscall against the host's real root must never go unnoticed.
//
// Credentials. SetCreds() takes effect per call on the calling thread with the
// raw setgroups/setfsgid/setfsuid syscalls (which, unlike glibc's wrappers,
// change only that thread), and for a non-root uid also clears the thread's
// effective capability set, so "not root" means no capabilities at all (no
// CAP_SYS_ADMIN for trusted.* xattrs either), as backend.h specifies. All are
// restored after the call. Root calls run with the caller's own credentials,
// which Create() checks are root's.
//
// access(2) is issued as faccessat2(..., flags | AT_EACCESS): without
// AT_EACCESS the kernel checks the *real* uid, which stays 0 on this thread.
//
// Safety. Opens add O_CLOEXEC. fd operations on descriptors this backend did
// not return (or already closed) fail with EBADF without touching the host fd
// table. Mknod of a character or block device aborts unless its major is in
// 60..63, the range Linux reserves for local experiments (no driver), so the
// harness can never create a node for a real device.
//
// Not thread-safe: calls must not overlap (the credential state and the fd
// set are unsynchronized), though they may come from any thread.
class HostBackend final : public Backend {
 public:
  // Fails (with a message) when not root, when the parent is not tmpfs, or
  // when unshare(CLONE_FS)/chroot are not permitted.
  static Result<std::unique_ptr<HostBackend>> Create(
      const HostBackendOptions& options = {});

  // Closes the descriptors it handed out and removes the scratch directory.
  ~HostBackend() override;
  HostBackend(const HostBackend&) = delete;
  HostBackend& operator=(const HostBackend&) = delete;

  // The host directory serving as "/".
  const std::string& root_path() const { return root_path_; }

  const char* Name() const override { return name_.c_str(); }
  void SetCreds(const Creds& creds) override { creds_ = creds; }

  int Open(const std::string& path, int flags, mode_t mode) override;
  int Close(int fd) override;
  int Mkdir(const std::string& path, mode_t mode) override;
  int Mknod(const std::string& path, mode_t mode, dev_t dev) override;
  int Symlink(const std::string& target, const std::string& path) override;
  int Link(const std::string& oldpath, const std::string& newpath,
           int flags) override;
  int Unlink(const std::string& path) override;
  int Rmdir(const std::string& path) override;
  int Rename(const std::string& oldpath, const std::string& newpath,
             unsigned flags) override;
  int Stat(const std::string& path, int at_flags, StatResult* out) override;
  int Readlink(const std::string& path, std::string* out) override;
  int Chmod(const std::string& path, mode_t mode) override;
  int Chown(const std::string& path, uid_t uid, gid_t gid,
            int at_flags) override;
  int Utimens(const std::string& path, const struct timespec times[2],
              int at_flags) override;
  int Truncate(const std::string& path, off_t length) override;
  int Access(const std::string& path, int mode, int at_flags) override;
  int SetXattr(const std::string& path, const std::string& name,
               const std::string& value, int flags) override;
  int GetXattr(const std::string& path, const std::string& name,
               std::string* value) override;
  int ListXattr(const std::string& path,
                std::vector<std::string>* names) override;
  int RemoveXattr(const std::string& path, const std::string& name) override;

  int Pread(int fd, size_t count, off_t offset, std::string* out) override;
  int Pwrite(int fd, const std::string& data, off_t offset) override;
  int Read(int fd, size_t count, std::string* out) override;
  int Write(int fd, const std::string& data) override;
  off_t Lseek(int fd, off_t offset, int whence) override;
  int Ftruncate(int fd, off_t length) override;
  int Fallocate(int fd, int mode, off_t offset, off_t length) override;
  int Fstat(int fd, StatResult* out) override;
  int Fchmod(int fd, mode_t mode) override;
  int Getdents(int fd, std::vector<DirEntry>* out) override;

 private:
  class CallScope;

  HostBackend(std::string scratch_dir, UniqueFd root_fd);
  bool Owns(int fd) const { return open_fds_.count(fd) != 0; }

  std::string scratch_dir_;  // the mkdtemp directory (mode 0700)
  std::string root_path_;    // scratch_dir_ + "/root", served as "/"
  std::string name_;
  UniqueFd root_fd_;  // O_PATH descriptor of root_path_
  Creds creds_;
  std::set<int> open_fds_;  // descriptors returned by Open, not yet closed
  std::function<void(const std::string&)> teardown_;  // see the options
};

// The host's fs.protected_* sysctls. They change link/open permission rules
// in sticky world-writable directories, so a backend emulating Linux must
// assume the same values as the host it is compared with.
struct HostProtections {
  int hardlinks = -1, symlinks = -1, fifos = -1, regular = -1;
};
Result<HostProtections> ReadHostProtections();

}  // namespace veil::difftest
