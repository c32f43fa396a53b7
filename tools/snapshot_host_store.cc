// SPDX-License-Identifier: Apache-2.0
//
// HostTarget: a host directory as the TargetDir that `veil restore IMG
// DIR` applies the image into.
//
// Run as non-root, the host refuses chown to other users, device nodes and
// trusted.* xattrs: those are skipped with a warning (the first few named)
// and counted, and the rest of the tree is still written. A device node
// that was skipped gets no metadata either (there is nothing to set it on).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <unordered_set>
#include <utility>

#include "base/unique_fd.h"
#include "tools/snapshot_host.h"

namespace veil::tools {
namespace {

using snapshot::TargetDir;
using snapshot::TargetFile;

constexpr uint64_t kSkipsNamed = 5;

std::string Join(const std::string& dir, const std::string& name) {
  if (name == ".") return dir;
  return dir == "/" ? "/" + name : dir + "/" + name;
}

Result<void> Check(int rc) {
  if (rc != 0) return Errno::FromErrno();
  return {};
}

class HostTargetFile final : public TargetFile {
 public:
  explicit HostTargetFile(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<size_t> PWrite(std::span<const uint8_t> buf, int64_t offset) override {
    for (;;) {
      ssize_t n = pwrite(fd_.get(), buf.data(), buf.size(), offset);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return Errno::FromErrno();
    }
  }

 private:
  UniqueFd fd_;
};

class HostTargetDir final : public TargetDir {
 public:
  HostTargetDir(UniqueFd fd, std::string path, uint64_t* skipped)
      : fd_(std::move(fd)), path_(std::move(path)), skipped_(skipped) {}

  Result<bool> IsEmpty() override {
    int fd = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* dir = fd < 0 ? nullptr : fdopendir(fd);
    if (dir == nullptr) {
      Errno e = Errno::FromErrno();
      if (fd >= 0) close(fd);
      return e;
    }
    bool empty = true;
    while (dirent* e = readdir(dir)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") {
        empty = false;
        break;
      }
    }
    closedir(dir);
    return empty;
  }
  Result<std::unique_ptr<TargetDir>> MakeDir(const std::string& name) override {
    VEIL_TRY_VOID(Check(mkdirat(fd_.get(), name.c_str(), 0700)));
    UniqueFd fd(openat(fd_.get(), name.c_str(),
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Errno::FromErrno();
    return std::unique_ptr<TargetDir>(
        new HostTargetDir(std::move(fd), Join(path_, name), skipped_));
  }
  Result<std::unique_ptr<TargetFile>> CreateFile(const std::string& name,
                                                 uint64_t size) override {
    UniqueFd fd(openat(fd_.get(), name.c_str(),
                       O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                       0600));
    if (!fd) return Errno::FromErrno();
    if (size != 0)
      VEIL_TRY_VOID(Check(ftruncate(fd.get(), static_cast<off_t>(size))));
    return std::unique_ptr<TargetFile>(new HostTargetFile(std::move(fd)));
  }
  Result<void> Symlink(const std::string& target,
                       const std::string& name) override {
    return Check(symlinkat(target.c_str(), fd_.get(), name.c_str()));
  }
  Result<void> Mknod(const std::string& name, mode_t mode,
                     dev_t rdev) override {
    if (mknodat(fd_.get(), name.c_str(), mode, rdev) == 0) return {};
    VEIL_TRY_VOID(Skip(name, "mknod"));
    absent_.insert(name);
    return {};
  }
  Result<void> Link(TargetDir& old_dir, const std::string& old_name,
                    const std::string& name) override {
    // Apply links only within one target tree, so of this kind.
    auto& from = static_cast<HostTargetDir&>(old_dir);
    return Check(
        linkat(from.fd_.get(), old_name.c_str(), fd_.get(), name.c_str(), 0));
  }
  Result<void> Chown(const std::string& name, uid_t uid, gid_t gid) override {
    if (absent_.contains(name)) return {};
    if (fchownat(fd_.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0)
      return {};
    return Skip(name, "chown");
  }
  Result<void> Chmod(const std::string& name, mode_t perm) override {
    if (absent_.contains(name)) return {};
    return Check(fchmodat(fd_.get(), name.c_str(), perm, 0));
  }
  Result<void> SetXattr(const std::string& name, const std::string& xattr,
                        const std::string& value) override {
    if (absent_.contains(name)) return {};
    const std::string path = Join(path_, name);
    if (lsetxattr(path.c_str(), xattr.c_str(), value.data(), value.size(), 0) ==
        0)
      return {};
    return Skip(name, ("setxattr " + xattr).c_str());
  }
  Result<void> Utimens(const std::string& name,
                       const timespec times[2]) override {
    if (absent_.contains(name)) return {};
    return Check(
        utimensat(fd_.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW));
  }

 private:
  // After a failed call: a refusal for lack of privilege is counted,
  // warned about and skipped; anything else is the error.
  Result<void> Skip(const std::string& name, const char* what) {
    const int e = errno;
    if (e != EPERM && e != EACCES) return Errno(e);
    if ((*skipped_)++ < kSkipsNamed)
      std::fprintf(stderr, "veil restore: warning: %s %s: %s (skipped)\n", what,
                   Join(path_, name).c_str(), std::strerror(e));
    return {};
  }

  UniqueFd fd_;
  std::string path_;   // for lsetxattr, which has no *at() form
  uint64_t* skipped_;  // borrowed: see HostTarget
  std::unordered_set<std::string> absent_;  // skipped device nodes
};

}  // namespace

snapshot::SnapshotResult<std::unique_ptr<snapshot::TargetDir>> HostTarget(
    const std::string& dir, uint64_t* skipped) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return snapshot::FromErrno(Errno::FromErrno(), "opening " + dir);
  return std::unique_ptr<snapshot::TargetDir>(
      new HostTargetDir(std::move(fd), dir, skipped));
}

}  // namespace veil::tools
