// SPDX-License-Identifier: Apache-2.0
//
// StoreHostTree: VFS tree -> empty host directory, for `veil restore IMG
// DIR`. Depth first, one host descriptor per level; a directory's metadata
// is set after its contents, as in the image restore (overlay/snapshot/
// apply.cc explains the order chown, chmod, xattrs, times).
//
// Run as non-root, the host refuses chown to other users, device nodes and
// trusted.* xattrs: those are skipped with a warning (the first few named)
// and counted, and the rest of the tree is still written.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

bool Unprivileged(int e) { return e == EPERM || e == EACCES; }

class Storer {
 public:
  Storer(vfs::Vfs& vfs, const snapshot::ProgressFn& progress)
      : vfs_(vfs),
        ctx_(vfs.RootContext()),
        progress_(progress),
        buf_(kCopyBuffer) {}

  SnapshotResult<HostCopyStats> Run(const vfs::Location& source,
                                    const std::string& dir) {
    UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return HostError("opening " + dir);
    vfs::Attr attr =
        VEIL_SNAP_TRY(Check(vfs_.StatAt(ctx_, source, ".", 0), dir, "stat"));
    VEIL_SNAP_TRY_VOID(StoreDir(source, fd.get(), dir));
    VEIL_SNAP_TRY_VOID(SetMetadata(source, ".", attr, fd.get(), dir));
    ++stats_.entries;
    return stats_;
  }

 private:
  template <typename T>
  SnapshotResult<T> Check(Result<T> r, const std::string& path,
                          const char* what) {
    return WithContext(std::move(r),
                       [&] { return "restoring " + path + ": " + what; });
  }

  // A refusal for lack of privilege is skipped; anything else fails.
  SnapshotResult<void> HostCall(int rc, const std::string& path,
                                const std::string& what) {
    if (rc == 0) return Done();
    if (!Unprivileged(errno)) return HostError(what + " " + path);
    if (stats_.skipped++ < kSkipsNamed)
      std::fprintf(stderr, "veil restore: warning: %s %s: %s (skipped)\n",
                   what.c_str(), path.c_str(), std::strerror(errno));
    return Done();
  }

  SnapshotResult<std::vector<std::string>> List(const vfs::Location& dir,
                                                const std::string& path) {
    auto file = VEIL_SNAP_TRY(Check(
        vfs_.OpenAt(ctx_, dir, ".", vfs::OpenHow{O_RDONLY | O_DIRECTORY, 0, 0}),
        path, "open"));
    std::vector<std::string> names;
    std::vector<uint8_t> buf(64 * 1024);
    for (;;) {
      size_t n = VEIL_SNAP_TRY(Check(file->Getdents64(buf), path, "list"));
      if (n == 0) break;
      // struct linux_dirent64: d_reclen (u16) at 16, name at 19.
      for (size_t pos = 0; pos + 19 < n;) {
        uint16_t reclen;
        std::memcpy(&reclen, buf.data() + pos + 16, 2);
        if (reclen == 0) break;
        std::string_view name(
            reinterpret_cast<const char*>(buf.data() + pos + 19));
        if (name != "." && name != "..") names.emplace_back(name);
        pos += reclen;
      }
    }
    return names;
  }

  SnapshotResult<void> SetMetadata(const vfs::Location& vdir,
                                   const std::string& name,
                                   const vfs::Attr& attr, int dirfd,
                                   const std::string& path) {
    VEIL_SNAP_TRY_VOID(HostCall(
        fchownat(dirfd, name.c_str(), attr.uid, attr.gid, AT_SYMLINK_NOFOLLOW),
        path, "chown"));
    if (!attr.IsSymlink() &&
        fchmodat(dirfd, name.c_str(), attr.mode & 07777, 0) != 0)
      return HostError("chmod " + path);
    auto names = vfs_.ListXattrAt(ctx_, vdir, name, AT_SYMLINK_NOFOLLOW);
    if (names) {
      for (const std::string& xname : *names) {
        std::string value = VEIL_SNAP_TRY(
            Check(vfs_.GetXattrAt(ctx_, vdir, name, xname, AT_SYMLINK_NOFOLLOW),
                  path, "getxattr"));
        VEIL_SNAP_TRY_VOID(HostCall(lsetxattr(path.c_str(), xname.c_str(),
                                              value.data(), value.size(), 0),
                                    path, "setxattr " + xname));
      }
    }
    const timespec times[2] = {attr.atime, attr.mtime};
    if (utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      return HostError("utimensat " + path);
    return Done();
  }

  SnapshotResult<void> CopyData(const vfs::Location& vdir,
                                const std::string& name, const vfs::Attr& attr,
                                int dirfd, const std::string& path) {
    UniqueFd out(openat(dirfd, name.c_str(),
                        O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                        0600));
    if (!out) return HostError("creating " + path);
    if (attr.size == 0) return Done();
    if (ftruncate(out.get(), static_cast<off_t>(attr.size)) != 0)
      return HostError("truncating " + path);
    auto in = VEIL_SNAP_TRY(Check(
        vfs_.OpenAt(ctx_, vdir, name,
                    vfs::OpenHow{O_RDONLY | O_NOFOLLOW | O_NOATIME, 0, 0}),
        path, "open"));
    const int64_t size = static_cast<int64_t>(attr.size);
    for (int64_t pos = 0; pos < size;) {
      auto data = in->Seek(pos, SEEK_DATA);
      if (!data && data.error().code() == ENXIO) break;
      int64_t begin = data ? *data : pos;
      auto hole = in->Seek(begin, SEEK_HOLE);
      int64_t end = hole ? std::min(*hole, size) : size;
      while (begin < end) {
        size_t want = std::min<size_t>(buf_.size(), end - begin);
        size_t n = VEIL_SNAP_TRY(
            Check(in->PRead(std::span(buf_).first(want), begin), path, "read"));
        if (n == 0) return Done();
        for (size_t done = 0; done < n;) {
          ssize_t w = pwrite(out.get(), buf_.data() + done, n - done,
                             begin + static_cast<off_t>(done));
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) return HostError("writing " + path);
          done += static_cast<size_t>(w);
        }
        begin += static_cast<int64_t>(n);
        stats_.bytes += n;
        Report();
      }
      pos = end;
    }
    return Done();
  }

  SnapshotResult<void> StoreDir(const vfs::Location& vdir, int dirfd,
                                const std::string& host_path) {
    for (const std::string& name : VEIL_SNAP_TRY(List(vdir, host_path))) {
      const std::string path = Join(host_path, name);
      vfs::Attr attr = VEIL_SNAP_TRY(Check(
          vfs_.StatAt(ctx_, vdir, name, AT_SYMLINK_NOFOLLOW), path, "stat"));
      const bool linkable = !attr.IsDir() && attr.nlink > 1;
      if (linkable) {
        auto found = first_path_.find(attr.ino);
        if (found != first_path_.end()) {
          if (linkat(AT_FDCWD, found->second.c_str(), dirfd, name.c_str(), 0))
            return HostError("link " + path);
          continue;
        }
      }
      switch (attr.type()) {
        case S_IFDIR: {
          if (mkdirat(dirfd, name.c_str(), 0700) != 0)
            return HostError("mkdir " + path);
          auto child = VEIL_SNAP_TRY(
              Check(vfs_.OpenAt(
                        ctx_, vdir, name,
                        vfs::OpenHow{O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, 0}),
                    path, "open"));
          UniqueFd fd(openat(dirfd, name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
          if (!fd) return HostError("opening " + path);
          VEIL_SNAP_TRY_VOID(StoreDir(child->location(), fd.get(), path));
          break;
        }
        case S_IFREG:
          VEIL_SNAP_TRY_VOID(CopyData(vdir, name, attr, dirfd, path));
          break;
        case S_IFLNK: {
          std::string target = VEIL_SNAP_TRY(
              Check(vfs_.ReadlinkAt(ctx_, vdir, name), path, "readlink"));
          if (symlinkat(target.c_str(), dirfd, name.c_str()) != 0)
            return HostError("symlink " + path);
          break;
        }
        default: {
          int rc = mknodat(dirfd, name.c_str(), attr.type() | 0600,
                           static_cast<dev_t>(attr.rdev));
          if (rc != 0) {
            VEIL_SNAP_TRY_VOID(HostCall(rc, path, "mknod"));
            continue;  // skipped: nothing to set metadata on
          }
        }
      }
      VEIL_SNAP_TRY_VOID(SetMetadata(vdir, name, attr, dirfd, path));
      if (linkable) first_path_.emplace(attr.ino, path);
      ++stats_.entries;
      Report();
    }
    return Done();
  }

  void Report() {
    if (progress_)
      progress_(snapshot::Progress{stats_.bytes, 0, stats_.entries, 0});
  }

  vfs::Vfs& vfs_;  // borrowed for the duration of StoreHostTree
  vfs::Context ctx_;
  const snapshot::ProgressFn& progress_;
  std::vector<uint8_t> buf_;
  std::map<uint64_t, std::string> first_path_;  // hard links, by VFS ino
  HostCopyStats stats_;
};

}  // namespace

snapshot::SnapshotResult<HostCopyStats> StoreHostTree(
    vfs::Vfs& vfs, const vfs::Location& source, const std::string& dir,
    const snapshot::ProgressFn& progress) {
  Storer storer(vfs, progress);
  return storer.Run(source, dir);
}

}  // namespace veil::tools
