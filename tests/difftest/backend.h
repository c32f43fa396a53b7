// SPDX-License-Identifier: Apache-2.0
//
// The differential harness's view of a file system: a syscall-shaped API
// that a host directory (HostBackend) and every veil filesystem (VfsBackend,
// later the gofer client, overlay and FUSE mounts) implement. The harness
// runs the same random operation sequence against two backends and asserts
// identical results, errnos and resulting trees.
//
// Conventions:
// - Paths are interpreted inside the backend's root: "/" is the root of the
//   tree under test, `..` at the root stays at the root, absolute symlink
//   targets resolve from that root (as after chroot(2)).
// - Every call returns >= 0 on success (the syscall's return value) or
//   -errno on failure, exactly like the raw syscall.
// - Calls run with the credentials set by SetCreds() and umask 022.
// - fds are backend-local small integers; the harness keeps its own mapping.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace veil::difftest {

struct Creds {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
  // uid 0 means root with all file capabilities; any other uid has none
  // of the file capabilities (as after setfsuid(2) from root).
};

// The fields the harness compares; st_ino is compared by identity classes
// (which names share an inode), never by value.
struct StatResult {
  uint32_t mode = 0;
  uint32_t nlink = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units
  uint64_t ino = 0;
  uint64_t rdev = 0;
  int64_t atime_sec = 0, atime_nsec = 0;
  int64_t mtime_sec = 0, mtime_nsec = 0;
  int64_t ctime_sec = 0, ctime_nsec = 0;
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint8_t type = 0;  // DT_*
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* Name() const = 0;

  virtual void SetCreds(const Creds& creds) = 0;

  // Path operations (dirfd is always the root/cwd, which is "/").
  virtual int Open(const std::string& path, int flags, mode_t mode) = 0;  // fd
  virtual int Close(int fd) = 0;
  virtual int Mkdir(const std::string& path, mode_t mode) = 0;
  virtual int Mknod(const std::string& path, mode_t mode, dev_t dev) = 0;
  virtual int Symlink(const std::string& target, const std::string& path) = 0;
  virtual int Link(const std::string& oldpath, const std::string& newpath,
                   int flags) = 0;  // linkat flags: AT_SYMLINK_FOLLOW
  virtual int Unlink(const std::string& path) = 0;
  virtual int Rmdir(const std::string& path) = 0;
  virtual int Rename(const std::string& oldpath, const std::string& newpath,
                     unsigned flags) = 0;  // renameat2 flags
  virtual int Stat(const std::string& path, int at_flags,
                   StatResult* out) = 0;  // fstatat; AT_SYMLINK_NOFOLLOW
  virtual int Readlink(const std::string& path, std::string* out) = 0;
  virtual int Chmod(const std::string& path, mode_t mode) = 0;
  virtual int Chown(const std::string& path, uid_t uid, gid_t gid,
                    int at_flags) = 0;  // fchownat; -1 leaves a field
  virtual int Utimens(const std::string& path, const struct timespec times[2],
                      int at_flags) = 0;
  virtual int Truncate(const std::string& path, off_t length) = 0;
  virtual int Access(const std::string& path, int mode, int at_flags) = 0;
  virtual int SetXattr(const std::string& path, const std::string& name,
                       const std::string& value, int flags) = 0;  // lsetxattr
  virtual int GetXattr(const std::string& path, const std::string& name,
                       std::string* value) = 0;  // lgetxattr
  virtual int ListXattr(const std::string& path,
                        std::vector<std::string>* names) = 0;  // llistxattr
  virtual int RemoveXattr(const std::string& path,
                          const std::string& name) = 0;  // lremovexattr

  // fd operations.
  virtual int Pread(int fd, size_t count, off_t offset, std::string* out) = 0;
  virtual int Pwrite(int fd, const std::string& data, off_t offset) = 0;
  virtual int Read(int fd, size_t count, std::string* out) = 0;
  virtual int Write(int fd, const std::string& data) = 0;
  virtual off_t Lseek(int fd, off_t offset, int whence) = 0;  // or -errno
  virtual int Ftruncate(int fd, off_t length) = 0;
  virtual int Fallocate(int fd, int mode, off_t offset, off_t length) = 0;
  virtual int Fstat(int fd, StatResult* out) = 0;
  virtual int Fchmod(int fd, mode_t mode) = 0;
  // Reads the whole directory from the fd's current position to the end,
  // in chunks, as getdents64 would; "." and ".." included.
  virtual int Getdents(int fd, std::vector<DirEntry>* out) = 0;
};

}  // namespace veil::difftest
