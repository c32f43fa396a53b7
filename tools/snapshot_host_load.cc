// SPDX-License-Identifier: Apache-2.0
//
// LoadHostTree: host directory -> VFS tree, for `veil snapshot DIR IMG`.
// Walks depth first holding one host descriptor per level, and sets a
// directory's metadata after its contents (adding entries moves its mtime;
// a read-only mode would stop the adding).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "base/unique_fd.h"
#include "tools/snapshot_host.h"

namespace veil::tools {
namespace {

using snapshot::Done;
using snapshot::FromErrno;
using snapshot::SnapshotError;
using snapshot::SnapshotResult;
using snapshot::WithContext;

constexpr size_t kCopyBuffer = 1 << 20;
constexpr uint64_t kSkipsNamed = 5;

SnapshotError HostError(const std::string& what) {
  return FromErrno(Errno::FromErrno(), what);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

SnapshotResult<std::vector<std::string>> ListHostDir(int dirfd,
                                                     const std::string& path) {
  int fd = dup(dirfd);
  DIR* dir = fd < 0 ? nullptr : fdopendir(fd);
  if (dir == nullptr) {
    if (fd >= 0) close(fd);
    return HostError("listing " + path);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(dir)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int saved = errno;
  closedir(dir);
  if (saved != 0) return FromErrno(Errno(saved), "listing " + path);
  std::sort(names.begin(), names.end());
  return names;
}

// Host xattrs of `path` (not following a symlink); none where the host
// filesystem keeps none.
SnapshotResult<std::vector<std::pair<std::string, std::string>>> HostXattrs(
    const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  ssize_t size = llistxattr(path.c_str(), nullptr, 0);
  if (size < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP)) return out;
  if (size < 0) return HostError("listing xattrs of " + path);
  std::string names(static_cast<size_t>(size), '\0');
  size = llistxattr(path.c_str(), names.data(), names.size());
  if (size < 0) return HostError("listing xattrs of " + path);
  names.resize(static_cast<size_t>(size));
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    std::string value(vfs::kXattrSizeMax, '\0');
    ssize_t n =
        lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (n < 0 && errno == ENODATA) continue;
    if (n < 0) return HostError("reading xattr " + name + " of " + path);
    value.resize(static_cast<size_t>(n));
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

class Loader {
 public:
  Loader(vfs::Vfs& vfs, const snapshot::ProgressFn& progress)
      : vfs_(vfs),
        ctx_(vfs.RootContext()),
        progress_(progress),
        buf_(kCopyBuffer) {
    ctx_.umask = 0;
  }

  SnapshotResult<HostCopyStats> Run(const std::string& dir,
                                    const vfs::Location& target) {
    UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (!fd || fstat(fd.get(), &st) != 0) return HostError("opening " + dir);
    root_dev_ = st.st_dev;
    VEIL_SNAP_TRY_VOID(LoadDir(fd.get(), dir, target));
    VEIL_SNAP_TRY_VOID(SetMetadata(target, ".", st, dir));
    ++stats_.entries;
    return stats_;
  }

 private:
  struct FirstName {
    vfs::Location dir;
    std::string name;
  };

  template <typename T>
  SnapshotResult<T> Check(Result<T> r, const std::string& path,
                          const char* what) {
    return WithContext(std::move(r), [&] {
      return "copying " + path + " into the veil tmpfs: " + what;
    });
  }

  SnapshotResult<void> SetMetadata(const vfs::Location& dir,
                                   const std::string& name,
                                   const struct stat& st,
                                   const std::string& path) {
    VEIL_SNAP_TRY_VOID(Check(vfs_.ChownAt(ctx_, dir, name, st.st_uid, st.st_gid,
                                          AT_SYMLINK_NOFOLLOW),
                             path, "chown"));
    if (!S_ISLNK(st.st_mode))
      VEIL_SNAP_TRY_VOID(Check(
          vfs_.ChmodAt(ctx_, dir, name, st.st_mode & 07777, 0), path, "chmod"));
    for (auto& [xname, value] : VEIL_SNAP_TRY(HostXattrs(path))) {
      auto set = vfs_.SetXattrAt(ctx_, dir, name, xname, value, 0,
                                 AT_SYMLINK_NOFOLLOW);
      // The VFS keeps user.*, trusted.* and security.* (as Linux tmpfs);
      // system.* (POSIX ACLs) and user.* on special files are refused.
      if (!set &&
          (set.error().code() == EOPNOTSUPP || set.error().code() == EPERM)) {
        if (stats_.skipped++ < kSkipsNamed)
          std::fprintf(
              stderr, "veil snapshot: warning: xattr %s of %s not kept: %s\n",
              xname.c_str(), path.c_str(), std::strerror(set.error().code()));
        continue;
      }
      VEIL_SNAP_TRY_VOID(Check(std::move(set), path, "setxattr"));
    }
    const timespec times[2] = {st.st_atim, st.st_mtim};
    return Check(vfs_.UtimensAt(ctx_, dir, name, times, AT_SYMLINK_NOFOLLOW),
                 path, "utimensat");
  }

  SnapshotResult<void> CopyData(int dirfd, const std::string& name,
                                const struct stat& st, const vfs::Location& dir,
                                const std::string& path) {
    // O_NOATIME where allowed: reading should not move the atime we copy.
    UniqueFd in(openat(dirfd, name.c_str(),
                       O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
    if (!in && errno == EPERM)
      in.reset(openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return HostError("opening " + path);
    auto out = VEIL_SNAP_TRY(
        Check(vfs_.OpenAt(ctx_, dir, name,
                          vfs::OpenHow{O_CREAT | O_EXCL | O_WRONLY, 0600, 0}),
              path, "create"));
    if (st.st_size == 0) return Done();
    VEIL_SNAP_TRY_VOID(
        Check(vfs_.Ftruncate(ctx_, *out, st.st_size), path, "truncate"));
    for (off_t pos = 0; pos < st.st_size;) {
      off_t data = lseek(in.get(), pos, SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;
      if (data < 0) data = pos;  // no SEEK_DATA: copy every byte
      off_t hole = lseek(in.get(), data, SEEK_HOLE);
      if (hole < 0 || hole > st.st_size) hole = st.st_size;
      while (data < hole) {
        size_t want = std::min<size_t>(buf_.size(), hole - data);
        ssize_t n = pread(in.get(), buf_.data(), want, data);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return HostError("reading " + path);
        if (n == 0) return Done();  // shrank meanwhile
        VEIL_SNAP_TRY_VOID(
            Check(out->PWrite(std::span<const uint8_t>(buf_).first(n), data),
                  path, "write"));
        data += n;
        stats_.bytes += static_cast<uint64_t>(n);
        Report();
      }
      pos = hole;
    }
    return Done();
  }

  SnapshotResult<void> LoadDir(int dirfd, const std::string& host_path,
                               const vfs::Location& vdir) {
    for (const std::string& name :
         VEIL_SNAP_TRY(ListHostDir(dirfd, host_path))) {
      const std::string path = Join(host_path, name);
      struct stat st;
      if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return HostError("stat " + path);
      const bool linkable = !S_ISDIR(st.st_mode) && st.st_nlink > 1;
      if (linkable) {
        auto found = links_.find({st.st_dev, st.st_ino});
        if (found != links_.end()) {
          VEIL_SNAP_TRY_VOID(
              Check(vfs_.LinkAt(ctx_, found->second.dir, found->second.name,
                                vdir, name, 0),
                    path, "link"));
          continue;
        }
      }
      switch (st.st_mode & S_IFMT) {
        case S_IFDIR: {
          VEIL_SNAP_TRY_VOID(
              Check(vfs_.MkdirAt(ctx_, vdir, name, 0700), path, "mkdir"));
          auto child = VEIL_SNAP_TRY(
              Check(vfs_.OpenAt(
                        ctx_, vdir, name,
                        vfs::OpenHow{O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, 0}),
                    path, "open"));
          // Another host filesystem mounted here: keep the directory only.
          if (st.st_dev == root_dev_) {
            UniqueFd fd(
                openat(dirfd, name.c_str(),
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!fd) return HostError("opening " + path);
            VEIL_SNAP_TRY_VOID(LoadDir(fd.get(), path, child->location()));
          }
          break;
        }
        case S_IFREG:
          VEIL_SNAP_TRY_VOID(CopyData(dirfd, name, st, vdir, path));
          break;
        case S_IFLNK: {
          std::string target(PATH_MAX, '\0');
          ssize_t n =
              readlinkat(dirfd, name.c_str(), target.data(), target.size());
          if (n < 0) return HostError("readlink " + path);
          target.resize(static_cast<size_t>(n));
          VEIL_SNAP_TRY_VOID(
              Check(vfs_.SymlinkAt(ctx_, target, vdir, name), path, "symlink"));
          break;
        }
        default:
          VEIL_SNAP_TRY_VOID(
              Check(vfs_.MknodAt(ctx_, vdir, name, (st.st_mode & S_IFMT) | 0600,
                                 st.st_rdev),
                    path, "mknod"));
      }
      VEIL_SNAP_TRY_VOID(SetMetadata(vdir, name, st, path));
      if (linkable)
        links_.emplace(std::pair{st.st_dev, st.st_ino}, FirstName{vdir, name});
      ++stats_.entries;
      Report();
    }
    return Done();
  }

  void Report() {
    if (progress_)
      progress_(snapshot::Progress{stats_.bytes, 0, stats_.entries, 0});
  }

  vfs::Vfs& vfs_;  // borrowed for the duration of LoadHostTree
  vfs::Context ctx_;
  const snapshot::ProgressFn& progress_;
  std::vector<uint8_t> buf_;
  dev_t root_dev_ = 0;
  std::map<std::pair<dev_t, ino_t>, FirstName> links_;
  HostCopyStats stats_;
};

}  // namespace

snapshot::SnapshotResult<HostCopyStats> LoadHostTree(
    const std::string& dir, vfs::Vfs& vfs, const vfs::Location& target,
    const snapshot::ProgressFn& progress) {
  Loader loader(vfs, progress);
  return loader.Run(dir, target);
}

}  // namespace veil::tools
