// SPDX-License-Identifier: Apache-2.0
//
// VfsBackend: the differential harness's Backend over veil's own VFS, so the
// same random sequences that run against a host directory run against any
// veil filesystem mounted as the root of a fresh mount namespace.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/ref.h"
#include "tests/difftest/backend.h"
#include "vfs/vfs.h"

namespace veil::difftest {

// The dentry cache budget VEIL_DIFFTEST_DCACHE names (a number of names),
// or 0 when it is unset: a run with a budget of a handful of names checks
// that eviction changes no answer (vfs/dentry_cache.h).
size_t DcacheBudgetFromEnv();

class VfsBackend final : public Backend {
 public:
  // Serves `root_fs` as "/". `name` appears in divergence reports.
  VfsBackend(Ref<vfs::Filesystem> root_fs, std::string name);
  // A fresh tmpfs whose root is 0755 root:root, like HostBackend's root.
  static std::unique_ptr<VfsBackend> NewTmpfs();

  const char* Name() const override { return name_.c_str(); }
  void SetCreds(const Creds& creds) override;
  vfs::Vfs& vfs() { return vfs_; }

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
  vfs::FileDescription* Lookup(int fd);

  std::string name_;
  vfs::Vfs vfs_;
  vfs::Context ctx_;
  std::map<int, Ref<vfs::FileDescription>> fds_;
};

}  // namespace veil::difftest
