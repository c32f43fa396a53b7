// SPDX-License-Identifier: Apache-2.0
#include "base/blocking.h"
#include "sentry/kernel/host_twins.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <iterator>
#include <string>

#include "base/proc_dir.h"
#include "sentry/kernel/anon_fs.h"
#include "vfs/inode.h"

namespace veil::sentry {
namespace {

constexpr int kOLargefile = 0100000;  // x86-64's, as file_ops.h

// The status flags a host open can carry over (F_GETFL's, minus what
// belongs to the sentry's side only).
constexpr int kCarriedFlags = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME |
                              O_SYNC | O_DSYNC | kOLargefile;

// Through the process's procfs (base/proc_dir.h): a confined sentry has
// no /proc in its root.
Result<UniqueFd> Reopen(int host_fd, int flags) {
  return ReopenFd(host_fd, flags & (O_ACCMODE | kCarriedFlags));
}

Result<UniqueFd> Dup(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return Errno::FromErrno();
  return UniqueFd(copy);
}

// The host nodes of the memory devices (drivers/char/mem.c), by minor.
constexpr struct {
  unsigned minor;
  const char* path;
} kMemoryDeviceNodes[] = {{3, "/dev/null"},
                      {5, "/dev/zero"},
                      {7, "/dev/full"},
                      {8, "/dev/random"},
                      {9, "/dev/urandom"}};
static_assert(std::size(kMemoryDeviceNodes) == HostTwins::kMemoryDevices);

}  // namespace

Result<std::unique_ptr<HostTwins>> HostTwins::Create() {
  std::unique_ptr<HostTwins> twins(new HostTwins());
  const char* base = getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") +
                      "/veil-dead-XXXXXX";
  if (!mkdtemp(templ.data())) return Errno::FromErrno();
  int dir = ::open(templ.c_str(),
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int saved = errno;
  ::rmdir(templ.c_str());  // dead from now on: nothing can be made in it
  if (dir < 0) return Errno(saved);
  twins->dead_dir_.reset(dir);
  // An O_PATH file cannot be installed (seccomp's ADDFD takes its source
  // with fget, which refuses O_PATH files): an empty memfd open for
  // neither reading nor writing (access mode 3, "ioctl only") answers
  // read and write with EBADF, as O_PATH does.
  UniqueFd empty(memfd_create("veil-path", MFD_CLOEXEC));
  if (!empty) return Errno::FromErrno();
  twins->dead_path_ = VEIL_TRY(Reopen(empty.get(), O_ACCMODE));
  const std::string parent = base && *base ? base : "/tmp";
  std::string fifos = parent + "/veil-fifos-XXXXXX";
  if (!mkdtemp(fifos.data())) return Errno::FromErrno();
  twins->fifo_dir_name_ = fifos.substr(parent.size() + 1);
  twins->fifo_parent_.reset(
      ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  twins->creator_ = getpid();
  int fifo_dir = ::open(fifos.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fifo_dir < 0 || !twins->fifo_parent_) {
    int saved = errno;
    if (fifo_dir >= 0) ::close(fifo_dir);
    ::rmdir(fifos.c_str());
    twins->fifo_dir_name_.clear();
    return Errno(saved);
  }
  twins->fifo_dir_.reset(fifo_dir);
  // O_PATH now, reopened per twin: Create runs before the sentry confines
  // itself, TwinOf after (no /dev in its root, no open by path).
  for (size_t i = 0; i < std::size(kMemoryDeviceNodes); ++i) {
    twins->devices_[i].reset(
        ::open(kMemoryDeviceNodes[i].path, O_PATH | O_CLOEXEC | O_NOFOLLOW));
  }
  return twins;
}

HostTwins::~HostTwins() {
  // The confined sentry (a child, with no path to the directory and no
  // call to remove it) leaves it to veil, which made it.
  if (fifo_dir_name_.empty() || getpid() != creator_) return;
  if (DIR* dir = fifo_dir_ ? fdopendir(::dup(fifo_dir_.get())) : nullptr) {
    while (struct dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ::unlinkat(fifo_dir_.get(), e->d_name, 0);
    }
    closedir(dir);
  }
  ::unlinkat(fifo_parent_.get(), fifo_dir_name_.c_str(), AT_REMOVEDIR);
}

Result<UniqueFd> HostTwins::FifoTwin(vfs::FileDescription& file) const {
  vfs::Attr attr = VEIL_TRY(file.Stat());
  const std::string name = "fifo-" + std::to_string(attr.dev) + "-" +
                           std::to_string(attr.ino);
  if (::mkfifoat(fifo_dir_.get(), name.c_str(), 0600) != 0 && errno != EEXIST)
    return Errno::FromErrno();
  const int flags = file.flags();
  const int access = flags & O_ACCMODE;
  int fd = -1;
  // Either open may wait for the peer's, which another call of the
  // sandbox makes: that call must find a thread to serve it.
  MayBlock();
  if (!(flags & O_NONBLOCK) && access != O_RDWR) {
    // A blocking open waits for its peer's host open as fifo_open waits:
    // the VFS's open already met that peer, whose host open is done or
    // about to be. (Returning first would let a reader see end of file
    // before its writer's host end exists.)
    fd = ::openat(fifo_dir_.get(), name.c_str(),
                  access | O_CLOEXEC | O_NOCTTY);
  } else {
    // Non-blocking: a writer without a host reader yet (ENXIO) tries
    // again while the reader the VFS saw has its open served.
    for (int tries = 0; tries < 2000; ++tries) {
      fd = ::openat(fifo_dir_.get(), name.c_str(),
                    access | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      if (fd >= 0 || errno != ENXIO || access != O_WRONLY) break;
      usleep(1000);
    }
  }
  if (fd < 0) return Errno::FromErrno();
  UniqueFd twin(fd);
  if (!(flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, 0) != 0)
    return Errno::FromErrno();
  return twin;
}

Result<UniqueFd> HostTwins::TwinOf(vfs::FileDescription& file) const {
  if (file.is_path()) return Dup(dead_path_.get());
  int host = HostFdOf(file);
  if (host >= 0) return Dup(host);  // veil do's stdio
  vfs::Inode& inode = file.inode();
  if (inode.IsDir()) return Dup(dead_dir_.get());
  if (inode.IsRegular()) {
    Result<vfs::HostMemory> memory = file.GetHostMemory();
    if (memory && memory->offset == 0) return Reopen(memory->fd, file.flags());
    return Dup(dead_dir_.get());  // no twin yet (host_twins.h)
  }
  if (inode.type() == S_IFIFO) return FifoTwin(file);
  if (inode.type() == S_IFCHR) {
    Result<vfs::Attr> attr = file.Stat();
    for (size_t i = 0; attr && major(attr->rdev) == 1 &&
                       i < std::size(kMemoryDeviceNodes);
         ++i) {
      if (minor(attr->rdev) == kMemoryDeviceNodes[i].minor && devices_[i]) {
        return Reopen(devices_[i].get(),
                      file.flags() & (O_ACCMODE | O_NONBLOCK));
      }
    }
  }
  return Dup(dead_dir_.get());  // no twin yet (host_twins.h)
}

}  // namespace veil::sentry
