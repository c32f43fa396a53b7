// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/host_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <utility>

#include "base/logging.h"
#include "tests/difftest/host_thread.h"

namespace veil::difftest {
namespace {

using internal::CapState;
using internal::Die;
using internal::EnterRoot;
using internal::GetCaps;
using internal::HasEffective;
using internal::IsPlainRoot;
using internal::LeaveRoot;
using internal::PrepareThread;
using internal::RemoveTreeAt;
using internal::RestoreCreds;
using internal::SavedCreds;
using internal::SwitchCreds;

// The syscall's result, or -errno; must run before anything else can clobber
// errno (in particular before a CallScope is destroyed).
inline int Ret(long rc) { return rc < 0 ? -errno : static_cast<int>(rc); }

void ToStatResult(const struct stat& st, StatResult* out) {
  out->mode = st.st_mode;
  out->nlink = static_cast<uint32_t>(st.st_nlink);
  out->uid = st.st_uid;
  out->gid = st.st_gid;
  out->size = static_cast<uint64_t>(st.st_size);
  out->blocks = static_cast<uint64_t>(st.st_blocks);
  out->ino = st.st_ino;
  out->rdev = st.st_rdev;
  out->atime_sec = st.st_atim.tv_sec;
  out->atime_nsec = st.st_atim.tv_nsec;
  out->mtime_sec = st.st_mtim.tv_sec;
  out->mtime_nsec = st.st_mtim.tv_nsec;
  out->ctime_sec = st.st_ctim.tv_sec;
  out->ctime_nsec = st.st_ctim.tv_nsec;
}

}  // namespace

enum class Enter { kRootAndCreds, kCredsOnly };

// Runs the body of one Backend call on the calling thread inside the
// backend's chroot (kRootAndCreds) and/or with its credentials; undone on
// destruction. Failing to enter aborts: see the class comment.
class HostBackend::CallScope final {
 public:
  CallScope(const HostBackend& backend, Enter enter) {
    if (enter == Enter::kRootAndCreds) {
      if (!PrepareThread()) Die("unshare(CLONE_FS)");
      saved_cwd_.reset(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!saved_cwd_) Die("open(\".\")");
      if (!EnterRoot(backend.root_fd_.get())) Die("entering the scratch root");
      saved_umask_ = umask(022);
      in_root_ = true;
    }
    if (!IsPlainRoot(backend.creds_)) {
      SwitchCreds(backend.creds_, &saved_creds_);
      switched_creds_ = true;
    }
  }
  ~CallScope() {
    int saved_errno = errno;
    if (switched_creds_) RestoreCreds(saved_creds_);
    if (in_root_) {
      umask(saved_umask_);
      if (!LeaveRoot(saved_cwd_.get())) Die("leaving the scratch root");
    }
    errno = saved_errno;
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  bool in_root_ = false;
  bool switched_creds_ = false;
  UniqueFd saved_cwd_;
  mode_t saved_umask_ = 022;
  SavedCreds saved_creds_;
};

Result<std::unique_ptr<HostBackend>> HostBackend::Create(
    const HostBackendOptions& options) {
  if (geteuid() != 0 || getegid() != 0) {
    return Errno(EPERM, "HostBackend needs root (euid and egid 0)");
  }
  // A write to a FIFO whose readers are gone fails with EPIPE and also
  // raises SIGPIPE, which would kill the harness (a rare generated
  // sequence did, in CI). The EPIPE is what is compared; the sentry will
  // raise the signal itself.
  signal(SIGPIPE, SIG_IGN);
  CapState caps;
  if (!GetCaps(&caps)) return Errno(errno, "capget failed");
  for (int cap : {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
                  CAP_FSETID, CAP_MKNOD, CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN,
                  CAP_SYS_CHROOT}) {
    if (!HasEffective(caps, cap)) {
      return Errno(EPERM,
                   "HostBackend needs CAP_CHOWN, CAP_DAC_*, "
                   "CAP_FOWNER, CAP_FSETID, CAP_MKNOD, CAP_SET[UG]ID, "
                   "CAP_SYS_ADMIN and CAP_SYS_CHROOT");
    }
  }
  struct statfs fs;
  if (statfs(options.parent_dir.c_str(), &fs) != 0) {
    return Errno(errno, "cannot statfs the scratch parent directory");
  }
  if (fs.f_type != TMPFS_MAGIC) {
    return Errno(ENOTSUP, "scratch parent directory is not on tmpfs");
  }
  std::string scratch = options.parent_dir + "/veil-difftest-XXXXXX";
  if (mkdtemp(scratch.data()) == nullptr) {
    return Errno(errno, "mkdtemp failed");
  }
  // The mkdtemp directory stays 0700, so the possibly world-writable and
  // set-id-bearing tree below it is unreachable for other host users.
  std::string root = scratch + "/root";
  UniqueFd root_fd;
  if (mkdir(root.c_str(), 0755) == 0 && chmod(root.c_str(), 0755) == 0) {
    root_fd.reset(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  std::unique_ptr<HostBackend> backend(
      new HostBackend(std::move(scratch), std::move(root_fd)));
  if (!backend->root_fd_) return Errno(errno, "cannot create scratch root");
  if (options.prepare) {
    backend->teardown_ = options.teardown;
    VEIL_TRY_VOID(options.prepare(backend->scratch_dir_));
    // The root may be a mount point now: serve what is mounted there.
    backend->root_fd_.reset(
        open(backend->root_path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!backend->root_fd_) return Errno(errno, "cannot open prepared root");
  }
  // Try one round trip on this thread so that setups which forbid it fail
  // here, with an error, rather than abort later.
  if (Result<void> prepared = PrepareThread(); !prepared) {
    return prepared.error();
  }
  UniqueFd cwd(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cwd) return Errno(errno, "open(\".\") failed");
  if (!EnterRoot(backend->root_fd_.get())) {
    int saved = errno;
    if (fchdir(cwd.get()) != 0) Die("restoring cwd");
    return Errno(saved, "chroot into the scratch directory failed");
  }
  if (!LeaveRoot(cwd.get())) Die("leaving the scratch root");
  return backend;
}

HostBackend::HostBackend(std::string scratch_dir, UniqueFd root_fd)
    : scratch_dir_(std::move(scratch_dir)),
      root_path_(scratch_dir_ + "/root"),
      name_("host:" + root_path_),
      root_fd_(std::move(root_fd)) {}

HostBackend::~HostBackend() {
  for (int fd : open_fds_) close(fd);
  root_fd_.reset();
  if (teardown_) teardown_(scratch_dir_);
  RemoveTreeAt(AT_FDCWD, scratch_dir_.c_str());
}

int HostBackend::Open(const std::string& path, int flags, mode_t mode) {
  int fd;
  {
    CallScope scope(*this, Enter::kRootAndCreds);
    fd = Ret(openat(AT_FDCWD, path.c_str(), flags | O_CLOEXEC, mode));
  }
  if (fd >= 0) open_fds_.insert(fd);
  return fd;
}

int HostBackend::Close(int fd) {
  if (!Owns(fd)) return -EBADF;
  open_fds_.erase(fd);
  // Linux releases the descriptor even when close() reports an error.
  return Ret(close(fd));
}

int HostBackend::Mkdir(const std::string& path, mode_t mode) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(mkdirat(AT_FDCWD, path.c_str(), mode));
}

int HostBackend::Mknod(const std::string& path, mode_t mode, dev_t dev) {
  if ((S_ISCHR(mode) || S_ISBLK(mode)) &&
      (major(dev) < 60 || major(dev) > 63)) {
    VEIL_LOG(kError) << "HostBackend: refusing to create a device node for "
                     << major(dev) << ":" << minor(dev)
                     << " (only majors 60..63 are safe on the host)";
    std::abort();
  }
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(mknodat(AT_FDCWD, path.c_str(), mode, dev));
}

int HostBackend::Symlink(const std::string& target, const std::string& path) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(symlinkat(target.c_str(), AT_FDCWD, path.c_str()));
}

int HostBackend::Link(const std::string& oldpath, const std::string& newpath,
                      int flags) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(
      linkat(AT_FDCWD, oldpath.c_str(), AT_FDCWD, newpath.c_str(), flags));
}

int HostBackend::Unlink(const std::string& path) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(unlinkat(AT_FDCWD, path.c_str(), 0));
}

int HostBackend::Rmdir(const std::string& path) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(rmdir(path.c_str()));
}

int HostBackend::Rename(const std::string& oldpath, const std::string& newpath,
                        unsigned flags) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(syscall(SYS_renameat2, AT_FDCWD, oldpath.c_str(), AT_FDCWD,
                     newpath.c_str(), flags));
}

int HostBackend::Stat(const std::string& path, int at_flags, StatResult* out) {
  struct stat st;
  CallScope scope(*this, Enter::kRootAndCreds);
  int rc = Ret(fstatat(AT_FDCWD, path.c_str(), &st, at_flags));
  if (rc == 0) ToStatResult(st, out);
  return rc;
}

int HostBackend::Readlink(const std::string& path, std::string* out) {
  char buf[PATH_MAX + 1];
  CallScope scope(*this, Enter::kRootAndCreds);
  int rc = Ret(readlinkat(AT_FDCWD, path.c_str(), buf, sizeof(buf)));
  if (rc >= 0) out->assign(buf, rc);
  return rc;
}

int HostBackend::Chmod(const std::string& path, mode_t mode) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(fchmodat(AT_FDCWD, path.c_str(), mode, 0));
}

int HostBackend::Chown(const std::string& path, uid_t uid, gid_t gid,
                       int at_flags) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(fchownat(AT_FDCWD, path.c_str(), uid, gid, at_flags));
}

int HostBackend::Utimens(const std::string& path,
                         const struct timespec times[2], int at_flags) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(utimensat(AT_FDCWD, path.c_str(), times, at_flags));
}

int HostBackend::Truncate(const std::string& path, off_t length) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(truncate(path.c_str(), length));
}

int HostBackend::Access(const std::string& path, int mode, int at_flags) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(syscall(SYS_faccessat2, AT_FDCWD, path.c_str(), mode,
                     at_flags | AT_EACCESS));
}

int HostBackend::SetXattr(const std::string& path, const std::string& name,
                          const std::string& value, int flags) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(
      lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), flags));
}

int HostBackend::GetXattr(const std::string& path, const std::string& name,
                          std::string* value) {
  CallScope scope(*this, Enter::kRootAndCreds);
  // Size query, then read; retry if the value grew in between (ERANGE).
  for (;;) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) return -errno;
    std::string buf(size, '\0');
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;
    if (n < 0) return -errno;
    buf.resize(n);
    *value = std::move(buf);
    return static_cast<int>(n);
  }
}

int HostBackend::ListXattr(const std::string& path,
                           std::vector<std::string>* names) {
  CallScope scope(*this, Enter::kRootAndCreds);
  for (;;) {
    ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) return -errno;
    std::string buf(size, '\0');
    ssize_t n = llistxattr(path.c_str(), buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;
    if (n < 0) return -errno;
    names->clear();
    for (size_t pos = 0; pos < static_cast<size_t>(n);) {
      size_t end = buf.find('\0', pos);
      if (end == std::string::npos) end = n;
      names->push_back(buf.substr(pos, end - pos));
      pos = end + 1;
    }
    return static_cast<int>(n);
  }
}

int HostBackend::RemoveXattr(const std::string& path, const std::string& name) {
  CallScope scope(*this, Enter::kRootAndCreds);
  return Ret(lremovexattr(path.c_str(), name.c_str()));
}

int HostBackend::Pread(int fd, size_t count, off_t offset, std::string* out) {
  if (!Owns(fd)) return -EBADF;
  std::string buf(count, '\0');
  CallScope scope(*this, Enter::kCredsOnly);
  int rc = Ret(pread(fd, buf.data(), count, offset));
  if (rc >= 0) {
    buf.resize(rc);
    *out = std::move(buf);
  }
  return rc;
}

int HostBackend::Pwrite(int fd, const std::string& data, off_t offset) {
  if (!Owns(fd)) return -EBADF;
  CallScope scope(*this, Enter::kCredsOnly);
  return Ret(pwrite(fd, data.data(), data.size(), offset));
}

int HostBackend::Read(int fd, size_t count, std::string* out) {
  if (!Owns(fd)) return -EBADF;
  std::string buf(count, '\0');
  CallScope scope(*this, Enter::kCredsOnly);
  int rc = Ret(read(fd, buf.data(), count));
  if (rc >= 0) {
    buf.resize(rc);
    *out = std::move(buf);
  }
  return rc;
}

int HostBackend::Write(int fd, const std::string& data) {
  if (!Owns(fd)) return -EBADF;
  CallScope scope(*this, Enter::kCredsOnly);
  return Ret(write(fd, data.data(), data.size()));
}

off_t HostBackend::Lseek(int fd, off_t offset, int whence) {
  if (!Owns(fd)) return -EBADF;
  CallScope scope(*this, Enter::kCredsOnly);
  off_t rc = lseek(fd, offset, whence);
  return rc < 0 ? -errno : rc;
}

int HostBackend::Ftruncate(int fd, off_t length) {
  if (!Owns(fd)) return -EBADF;
  CallScope scope(*this, Enter::kCredsOnly);
  return Ret(ftruncate(fd, length));
}

int HostBackend::Fallocate(int fd, int mode, off_t offset, off_t length) {
  if (!Owns(fd)) return -EBADF;
  CallScope scope(*this, Enter::kCredsOnly);
  return Ret(fallocate(fd, mode, offset, length));
}

int HostBackend::Fstat(int fd, StatResult* out) {
  if (!Owns(fd)) return -EBADF;
  struct stat st;
  CallScope scope(*this, Enter::kCredsOnly);
  int rc = Ret(fstat(fd, &st));
  if (rc == 0) ToStatResult(st, out);
  return rc;
}

int HostBackend::Fchmod(int fd, mode_t mode) {
  if (!Owns(fd)) return -EBADF;
  CallScope scope(*this, Enter::kCredsOnly);
  return Ret(fchmod(fd, mode));
}

int HostBackend::Getdents(int fd, std::vector<DirEntry>* out) {
  if (!Owns(fd)) return -EBADF;
  CallScope scope(*this, Enter::kCredsOnly);
  out->clear();
  alignas(8) char buf[32768];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (long pos = 0; pos < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + pos);
      pos += d->d_reclen;
      out->push_back({d->d_name, d->d_ino, d->d_type});
    }
  }
}

Result<HostProtections> ReadHostProtections() {
  auto read_one = [](const char* name, int* out) {
    std::ifstream in(std::string("/proc/sys/fs/") + name);
    return static_cast<bool>(in >> *out);
  };
  HostProtections p;
  if (!read_one("protected_hardlinks", &p.hardlinks) ||
      !read_one("protected_symlinks", &p.symlinks) ||
      !read_one("protected_fifos", &p.fifos) ||
      !read_one("protected_regular", &p.regular)) {
    return Errno(ENOENT, "cannot read /proc/sys/fs/protected_*");
  }
  return p;
}

}  // namespace veil::difftest
