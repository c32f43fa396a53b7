// SPDX-License-Identifier: Apache-2.0
//
// HostSource: a host directory as the SourceDir that `veil snapshot DIR
// IMG` writes the image from.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "tools/snapshot_host.h"

namespace veil::tools {
namespace {

using snapshot::SourceDir;
using snapshot::SourceFile;

vfs::Attr AttrFromStat(const struct stat& st) {
  vfs::Attr a;
  a.mode = st.st_mode;
  a.nlink = static_cast<uint32_t>(st.st_nlink);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.size = static_cast<uint64_t>(st.st_size);
  a.blocks = static_cast<uint64_t>(st.st_blocks);
  a.ino = st.st_ino;
  a.dev = st.st_dev;
  a.rdev = st.st_rdev;
  a.atime = st.st_atim;
  a.mtime = st.st_mtim;
  a.ctime = st.st_ctim;
  return a;
}

class HostSourceFile final : public SourceFile {
 public:
  explicit HostSourceFile(UniqueFd fd) : fd_(std::move(fd)) {}

  Result<int64_t> Seek(int64_t offset, int whence) override {
    off_t r = lseek(fd_.get(), offset, whence);
    if (r < 0) return Errno::FromErrno();
    return static_cast<int64_t>(r);
  }
  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    for (;;) {
      ssize_t n = pread(fd_.get(), buf.data(), buf.size(), offset);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return Errno::FromErrno();
    }
  }

 private:
  UniqueFd fd_;
};

class HostSourceDir final : public SourceDir {
 public:
  explicit HostSourceDir(UniqueFd fd) : fd_(std::move(fd)) {}

  Result<void> List(std::vector<std::string>* names) override {
    // A descriptor of its own: readdir moves the offset it reads from.
    int fd = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* dir = fd < 0 ? nullptr : fdopendir(fd);
    if (dir == nullptr) {
      Errno e = Errno::FromErrno();
      if (fd >= 0) close(fd);
      return e;
    }
    errno = 0;
    while (dirent* e = readdir(dir)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names->emplace_back(n);
    }
    int saved = errno;
    closedir(dir);
    if (saved != 0) return Errno(saved);
    return {};
  }
  Result<vfs::Attr> Stat(const std::string& name) override {
    struct stat st;
    if (fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return Errno::FromErrno();
    return AttrFromStat(st);
  }
  Result<std::vector<std::string>> ListXattrs(
      const std::string& name) override {
    std::string buf;
    for (;;) {
      ssize_t size = VEIL_TRY(XattrCall(name, [&](const XattrTarget& t) {
        return t.fd >= 0 ? flistxattr(t.fd, nullptr, 0)
                         : listxattr(t.path.c_str(), nullptr, 0);
      }));
      buf.resize(static_cast<size_t>(size));
      auto listed = XattrCall(name, [&](const XattrTarget& t) {
        return t.fd >= 0 ? flistxattr(t.fd, buf.data(), buf.size())
                         : listxattr(t.path.c_str(), buf.data(), buf.size());
      });
      if (!listed && listed.error().code() == ERANGE) continue;  // grew
      buf.resize(static_cast<size_t>(VEIL_TRY(std::move(listed))));
      break;
    }
    std::vector<std::string> names;
    for (size_t pos = 0; pos < buf.size();) {
      names.emplace_back(buf.c_str() + pos);
      pos += names.back().size() + 1;
    }
    return names;
  }
  Result<std::string> GetXattr(const std::string& name,
                               const std::string& xattr) override {
    std::string value(vfs::kXattrSizeMax, '\0');
    ssize_t n = VEIL_TRY(XattrCall(name, [&](const XattrTarget& t) {
      return t.fd >= 0 ? fgetxattr(t.fd, xattr.c_str(), value.data(),
                                   value.size())
                       : getxattr(t.path.c_str(), xattr.c_str(), value.data(),
                                  value.size());
    }));
    value.resize(static_cast<size_t>(n));
    return value;
  }
  Result<std::string> Readlink(const std::string& name) override {
    std::string target(PATH_MAX, '\0');
    ssize_t n =
        readlinkat(fd_.get(), name.c_str(), target.data(), target.size());
    if (n < 0) return Errno::FromErrno();
    target.resize(static_cast<size_t>(n));
    return target;
  }
  Result<std::unique_ptr<SourceFile>> OpenFile(
      const std::string& name) override {
    // Looked at before it is opened: a name swapped for a FIFO since the
    // Stat would block the open, a device's open can act on the device.
    // The O_PATH descriptor is then reopened through /proc/self/fd, which
    // reaches the very inode it holds, whatever the name is by now.
    UniqueFd path(
        openat(fd_.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!path) return Errno::FromErrno();
    struct stat st;
    if (fstat(path.get(), &st) != 0) return Errno::FromErrno();
    if (!S_ISREG(st.st_mode)) return Errno(ESTALE);  // not the file Stat saw
    const std::string proc = internal::ProcFdPath(path.get());
    // O_NOATIME needs ownership or CAP_FOWNER; without it the read moves
    // the atime (already recorded by the Stat before).
    const int flags = O_RDONLY | O_CLOEXEC;
    UniqueFd fd(open(proc.c_str(), flags | O_NOATIME));
    if (!fd && errno == EPERM) fd.reset(open(proc.c_str(), flags));
    if (!fd) return Errno::FromErrno();
    return std::unique_ptr<SourceFile>(new HostSourceFile(std::move(fd)));
  }
  Result<std::unique_ptr<SourceDir>> OpenDir(const std::string& name) override {
    UniqueFd fd(openat(fd_.get(), name.c_str(),
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Errno::FromErrno();
    return std::unique_ptr<SourceDir>(new HostSourceDir(std::move(fd)));
  }

 private:
  // How an xattr call reaches an entry: the directory's own descriptor
  // for ".", else /proc/self/fd/N of an O_PATH descriptor of the entry
  // (f*xattr refuse O_PATH ones), which follows no symlink below it.
  struct XattrTarget {
    int fd = -1;
    std::string path;
  };
  template <typename Call>
  Result<ssize_t> XattrCall(const std::string& name, Call&& call) {
    XattrTarget target;
    if (name == ".") {
      target.fd = fd_.get();
    } else {
      // The writer asks for one entry's xattrs in a row: it is opened once.
      if (xattr_name_ != name || !xattr_fd_) {
        xattr_fd_.reset(openat(fd_.get(), name.c_str(),
                               O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!xattr_fd_) return Errno::FromErrno();
        xattr_name_ = name;
      }
      target.path = internal::ProcFdPath(xattr_fd_.get());
    }
    ssize_t n = call(target);
    if (n < 0) return Errno::FromErrno();
    return n;
  }

  UniqueFd fd_;
  UniqueFd xattr_fd_;  // an O_PATH descriptor of xattr_name_
  std::string xattr_name_;
};

}  // namespace

snapshot::SnapshotResult<std::unique_ptr<snapshot::SourceDir>> HostSource(
    const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return snapshot::FromErrno(Errno::FromErrno(), "opening " + dir);
  return std::unique_ptr<snapshot::SourceDir>(new HostSourceDir(std::move(fd)));
}

}  // namespace veil::tools
