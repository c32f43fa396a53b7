// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/anon_fs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>

#include "base/proc_dir.h"
#include "vfs/dentry.h"
#include "vfs/fifo.h"
#include "vfs/filesystem.h"
#include "vfs/inode.h"
#include "vfs/mount.h"

namespace veil::sentry {
namespace {

constexpr long kPipefsMagic = 0x50495045;  // Linux PIPEFS_MAGIC
constexpr int kOLargefile = 0100000;       // x86-64's, as file_ops.h

class AnonFs;

// The (unused) root directory of the internal filesystem.
class AnonRoot final : public vfs::Inode {
 public:
  explicit AnonRoot(vfs::Filesystem& fs) : Inode(fs, 1, S_IFDIR) {}
  vfs::Attr GetAttrLocked() override {
    vfs::Attr a;
    a.mode = S_IFDIR | 0700;
    a.nlink = 2;
    a.ino = 1;
    a.dev = fs().dev();
    return a;
  }
  Result<void> SetAttrLocked(const vfs::SetAttr&) override {
    return Errno(EPERM);  // nothing may change pipefs's root
  }
};

class AnonFs final : public vfs::Filesystem {
 public:
  AnonFs() : root_(AdoptRef(*new AnonRoot(*this))) {}
  const char* TypeName() const override { return "pipefs"; }
  Ref<vfs::Inode> Root() override { return root_; }
  Result<struct statfs> StatFsLocked() override {
    struct statfs st {};
    st.f_type = kPipefsMagic;
    st.f_bsize = 4096;
    st.f_namelen = 255;
    return st;
  }
  uint64_t NextIno() { return next_ino_.fetch_add(1); }

 private:
  Ref<vfs::Inode> root_;
  std::atomic<uint64_t> next_ino_{2};
};

struct AnonMount {
  Ref<AnonFs> fs;
  Ref<vfs::Mount> mount;
};

// The one internal filesystem and its (detached) mount.
AnonMount& Anon() {
  static AnonMount* anon = [] {
    Ref<AnonFs> fs = AdoptRef(*new AnonFs());
    Ref<vfs::Dentry> root = vfs::Dentry::CreateRoot(fs->Root());
    Ref<vfs::Mount> mount = MakeRef<vfs::Mount>(fs, std::move(root), 0);
    return new AnonMount{std::move(fs), std::move(mount)};
  }();
  return *anon;
}

// Attributes both kinds of anonymous inode keep (under the fs mutex).
class AnonInode : public vfs::Inode {
 public:
  AnonInode(AnonFs& fs, uint32_t mode, const vfs::Credentials& creds)
      : Inode(fs, fs.NextIno(), mode & S_IFMT) {
    attr_.mode = mode;
    attr_.nlink = 1;
    attr_.uid = creds.fsuid;
    attr_.gid = creds.fsgid;
    attr_.ino = ino();
    attr_.dev = fs.dev();
    attr_.atime = attr_.mtime = attr_.ctime = vfs::Now();
  }
  vfs::Attr GetAttrLocked() override { return attr_; }
  Result<void> SetAttrLocked(const vfs::SetAttr& s) override {
    if (s.mask & vfs::kSetMode)
      attr_.mode = (attr_.mode & S_IFMT) | (s.mode & 07777);
    if (s.mask & vfs::kSetUid) attr_.uid = s.uid;
    if (s.mask & vfs::kSetGid) attr_.gid = s.gid;
    timespec now = vfs::Now();
    if (s.mask & vfs::kSetAtime) attr_.atime = s.atime;
    if (s.mask & vfs::kSetMtime) attr_.mtime = s.mtime;
    if (s.mask & vfs::kSetAtimeNow) attr_.atime = now;
    if (s.mask & vfs::kSetMtimeNow) attr_.mtime = now;
    if (s.mask & vfs::kSetCtimeNow) attr_.ctime = now;
    return Ok();
  }
  void TouchAtimeLocked() override { attr_.atime = vfs::Now(); }
  void StampModifiedLocked() override {
    attr_.mtime = attr_.ctime = vfs::Now();
  }

 protected:
  vfs::Attr attr_;  // guarded by fs().mutex()
};

class PipeInode final : public AnonInode {
 public:
  PipeInode(AnonFs& fs, const vfs::Credentials& creds)
      : AnonInode(fs, S_IFIFO | 0600, creds) {}
  Result<std::unique_ptr<vfs::FileImpl>> OpenLocked(int flags) override {
    return vfs::OpenFifoLocked(*this, pipe_, flags, vfs::FifoKind::kPipe);
  }

 private:
  vfs::FifoPipe pipe_;
};

// A host pipe's end as the sentry's table holds it in the default mode:
// the task's fd is the host pipe itself (installed with the answer), and
// the sentry keeps no end (or a reader would never see end of file).
// Reads and writes run natively; the sentry never serves them.
class TwinPipeImpl final : public vfs::FileImpl {
 public:
  bool Positional() const override { return false; }
  bool HasFasync() const override { return true; }
};

// The sandbox's stdio: the host description veil itself was given, so
// the file offset is the host's, shared with whoever else holds it (the
// shell that ran `veil do > file` writes after our output, as it would
// after a child's). Reads, writes and lseek therefore act on the host fd
// itself; pread/pwrite, which cannot be told apart from a read at the
// description's offset here, answer ESPIPE (NOTE: Linux allows them on a
// regular file).
class HostFdImpl final : public vfs::FileImpl {
 public:
  HostFdImpl(UniqueFd fd, uint32_t mode)
      : fd_(std::move(fd)), regular_(S_ISREG(mode)) {}

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t /*offset*/) override {
    if (!regular_ && !Ready(POLLIN)) return vfs::kWouldBlock;
    ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n < 0) return errno == EAGAIN ? vfs::kWouldBlock : Errno::FromErrno();
    return static_cast<size_t>(n);
  }
  Result<size_t> PWrite(const vfs::Credentials&, std::span<const uint8_t> buf,
                        int64_t* offset, vfs::WriteAt) override {
    if (!regular_ && !Ready(POLLOUT)) return vfs::kWouldBlock;
    ssize_t n = ::write(fd_.get(), buf.data(), buf.size());
    if (n < 0) return errno == EAGAIN ? vfs::kWouldBlock : Errno::FromErrno();
    *offset += n;
    return static_cast<size_t>(n);
  }
  Result<int64_t> Seek(int64_t offset, int whence, int64_t) override {
    // no_llseek for pipes, sockets and ttys: ESPIPE.
    if (!regular_) return Errno(ESPIPE);
    off_t pos = ::lseek(fd_.get(), offset, whence);
    if (pos < 0) return Errno::FromErrno();
    return static_cast<int64_t>(pos);
  }
  bool Positional() const override { return false; }
  vfs::EventMask Readiness(vfs::EventMask mask) override {
    pollfd p{fd_.get(), static_cast<short>(mask & (POLLIN | POLLOUT)), 0};
    if (::poll(&p, 1, 0) < 0) return 0;
    return p.revents & (mask | POLLERR | POLLHUP);
  }
  vfs::WaitSource WaitSourceFor(vfs::EventMask mask) override {
    vfs::WaitSource src;
    src.host[0] = {fd_.get(), static_cast<short>(mask & (POLLIN | POLLOUT))};
    return src;
  }
  int host_fd() const { return fd_.get(); }

 private:
  bool Ready(short events) {
    pollfd p{fd_.get(), events, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  UniqueFd fd_;
  const bool regular_;
};

class HostInode final : public AnonInode {
 public:
  HostInode(AnonFs& fs, uint32_t mode) : AnonInode(fs, mode, {}) {}
};

// The target of a magic link to a host object (MakeReopenLocation).
class ReopenInode final : public AnonInode {
 public:
  ReopenInode(AnonFs& fs, UniqueFd host, uint32_t mode,
              const vfs::Credentials& owner)
      : AnonInode(fs, mode, owner), host_(std::move(host)), mode_(mode) {}
  Result<std::unique_ptr<vfs::FileImpl>> OpenLocked(int flags) override {
    UniqueFd fd = VEIL_TRY(
        ReopenFd(host_.get(),
                 flags & (O_ACCMODE | O_NONBLOCK | O_APPEND | O_TRUNC)));
    return std::unique_ptr<vfs::FileImpl>(new HostFdImpl(std::move(fd), mode_));
  }

 private:
  const UniqueFd host_;
  const uint32_t mode_;
};

}  // namespace

vfs::Location MakeReopenLocation(UniqueFd host, uint32_t mode,
                                 const vfs::Credentials& owner) {
  AnonMount& anon = Anon();
  Ref<vfs::Inode> inode = AdoptRef(*static_cast<vfs::Inode*>(
      new ReopenInode(*anon.fs, std::move(host), mode, owner)));
  return vfs::Location{anon.mount, vfs::Dentry::CreateRoot(inode)};
}

Result<PipeEnds> MakePipe(const vfs::Credentials& creds, int flags) {
  AnonMount& anon = Anon();
  Ref<vfs::Inode> inode =
      AdoptRef(*static_cast<vfs::Inode*>(new PipeInode(*anon.fs, creds)));
  vfs::Location loc{anon.mount, vfs::Dentry::CreateRoot(inode)};
  std::unique_ptr<vfs::FileImpl> r, w;
  {
    MutexLock lock(anon.fs->mutex());
    // The reader first, non-blocking (it opens at once), then the writer,
    // which then has its reader (fifo_open; do_pipe2 makes both at once).
    r = VEIL_TRY(inode->OpenLocked(O_RDONLY | O_NONBLOCK));
    w = VEIL_TRY(inode->OpenLocked(O_WRONLY | O_NONBLOCK));
  }
  auto read = MakeRef<vfs::FileDescription>(loc, O_RDONLY | O_NONBLOCK, creds,
                                            std::move(r));
  auto write = MakeRef<vfs::FileDescription>(loc, O_WRONLY | O_NONBLOCK, creds,
                                             std::move(w));
  int status = flags & (O_NONBLOCK | O_DIRECT);
  VEIL_TRY_VOID(read->SetStatusFlags(creds, status));
  VEIL_TRY_VOID(write->SetStatusFlags(creds, status));
  return PipeEnds{std::move(read), std::move(write)};
}

Result<HostPipe> MakeHostPipe(const vfs::Credentials& creds, int flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | (flags & (O_NONBLOCK | O_DIRECT))) != 0)
    return Errno::FromErrno();
  UniqueFd read_fd(fds[0]), write_fd(fds[1]);
  AnonMount& anon = Anon();
  Ref<vfs::Inode> inode = AdoptRef(
      *static_cast<vfs::Inode*>(new PipeInode(*anon.fs, creds)));
  vfs::Location loc{anon.mount, vfs::Dentry::CreateRoot(inode)};
  int status = flags & (O_NONBLOCK | O_DIRECT);
  return HostPipe{
      PipeEnds{MakeRef<vfs::FileDescription>(loc, O_RDONLY | status, creds,
                                             std::make_unique<TwinPipeImpl>()),
               MakeRef<vfs::FileDescription>(loc, O_WRONLY | status, creds,
                                             std::make_unique<TwinPipeImpl>())},
      std::move(read_fd), std::move(write_fd)};
}

namespace {

class TwinAnonInode final : public AnonInode {
 public:
  TwinAnonInode(AnonFs& fs, const vfs::Credentials& creds, const char* kind,
                uint32_t mode)
      : AnonInode(fs, mode, creds), kind_(kind) {}
  const char* kind() const { return kind_; }

 private:
  const char* const kind_;  // a string literal
};

// Every call on such a file runs natively; what reaches here (a trapped
// read under a mode that installs no twin) cannot be served.
class TwinAnonImpl final : public vfs::FileImpl {
 public:
  bool Positional() const override { return false; }
};

}  // namespace

Ref<vfs::FileDescription> MakeTwinAnonFile(const vfs::Credentials& creds,
                                           int flags, const char* kind,
                                           uint32_t mode) {
  return MakeTwinAnonFile(creds, flags, kind, mode,
                          std::make_unique<TwinAnonImpl>());
}

Ref<vfs::FileDescription> MakeTwinAnonFile(
    const vfs::Credentials& creds, int flags, const char* kind, uint32_t mode,
    std::unique_ptr<vfs::FileImpl> impl) {
  AnonMount& anon = Anon();
  Ref<vfs::Inode> inode = AdoptRef(*static_cast<vfs::Inode*>(
      new TwinAnonInode(*anon.fs, creds, kind, mode)));
  vfs::Location loc{anon.mount, vfs::Dentry::CreateRoot(inode)};
  return MakeRef<vfs::FileDescription>(loc, flags, creds, std::move(impl));
}

const char* TwinAnonKind(const vfs::FileDescription& file) {
  auto* inode = dynamic_cast<const TwinAnonInode*>(&file.inode());
  return inode ? inode->kind() : nullptr;
}

bool IsTwinPipe(const vfs::FileDescription& file) {
  return dynamic_cast<TwinPipeImpl*>(&file.impl()) != nullptr;
}

Ref<vfs::FileDescription> MakeHostFdFile(UniqueFd host_fd, int flags) {
  AnonMount& anon = Anon();
  struct stat st {};
  uint32_t mode = S_IFCHR | 0620;  // a terminal, if fstat cannot say
  if (::fstat(host_fd.get(), &st) == 0) mode = st.st_mode;
  Ref<vfs::Inode> inode =
      AdoptRef(*static_cast<vfs::Inode*>(new HostInode(*anon.fs, mode)));
  vfs::Location loc{anon.mount, vfs::Dentry::CreateRoot(inode)};
  // O_LARGEFILE as the host file has it: set by an open(2), absent on a
  // pipe that pipe(2) made.
  int host_flags = ::fcntl(host_fd.get(), F_GETFL);
  if (host_flags > 0) flags |= host_flags & kOLargefile;
  return MakeRef<vfs::FileDescription>(
      loc, flags, vfs::Credentials::Root(),
      std::make_unique<HostFdImpl>(std::move(host_fd), mode));
}

int HostFdOf(const vfs::FileDescription& file) {
  auto* impl = dynamic_cast<HostFdImpl*>(&file.impl());
  return impl ? impl->host_fd() : -1;
}

}  // namespace veil::sentry
