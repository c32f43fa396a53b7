// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/vfs_backend.h"

#include <sys/xattr.h>

#include <cstdlib>
#include <cstring>

#include "vfs/tmpfs/tmpfs.h"

namespace veil::difftest {
namespace {

// The raw syscall convention: the value, or -errno.
int Ret(const Result<void>& r) { return r ? 0 : -r.error().code(); }

void Fill(const vfs::Attr& a, StatResult* out) {
  out->mode = a.mode;
  out->nlink = a.nlink;
  out->uid = a.uid;
  out->gid = a.gid;
  out->size = a.size;
  out->blocks = a.blocks;
  out->ino = a.ino;
  out->rdev = a.rdev;
  out->atime_sec = a.atime.tv_sec;
  out->atime_nsec = a.atime.tv_nsec;
  out->mtime_sec = a.mtime.tv_sec;
  out->mtime_nsec = a.mtime.tv_nsec;
  out->ctime_sec = a.ctime.tv_sec;
  out->ctime_nsec = a.ctime.tv_nsec;
}

}  // namespace

size_t DcacheBudgetFromEnv() {
  const char* v = std::getenv("VEIL_DIFFTEST_DCACHE");
  return v ? std::strtoul(v, nullptr, 10) : 0;
}

VfsBackend::VfsBackend(Ref<vfs::Filesystem> root_fs, std::string name)
    : name_(std::move(name)),
      vfs_(std::move(root_fs)),
      ctx_(vfs_.RootContext()) {
  if (size_t budget = DcacheBudgetFromEnv())
    vfs_.RootLocation().mount->fs().SetDentryCacheBudget(budget);
}

std::unique_ptr<VfsBackend> VfsBackend::NewTmpfs() {
  vfs::tmpfs::TmpfsOptions options;
  options.root_mode = 0755;
  return std::make_unique<VfsBackend>(vfs::tmpfs::Tmpfs::Create(options),
                                      "veil-tmpfs");
}

void VfsBackend::SetCreds(const Creds& creds) {
  ctx_.creds = creds.uid == 0
                   ? vfs::Credentials::Root()
                   : vfs::Credentials::User(creds.uid, creds.gid, creds.groups);
  if (creds.uid == 0) {
    ctx_.creds.fsgid = creds.gid;
    ctx_.creds.groups = creds.groups;
  }
}

vfs::FileDescription* VfsBackend::Lookup(int fd) {
  auto it = fds_.find(fd);
  return it == fds_.end() ? nullptr : it->second.get();
}

int VfsBackend::Open(const std::string& path, int flags, mode_t mode) {
  auto r = vfs_.OpenAt(ctx_, ctx_.cwd, path, vfs::OpenHow{flags, mode, 0});
  if (!r) return -r.error().code();
  int fd = 3;
  while (fds_.count(fd)) ++fd;
  fds_.emplace(fd, std::move(*r));
  return fd;
}

int VfsBackend::Close(int fd) { return fds_.erase(fd) ? 0 : -EBADF; }

int VfsBackend::Mkdir(const std::string& path, mode_t mode) {
  return Ret(vfs_.MkdirAt(ctx_, ctx_.cwd, path, mode));
}
int VfsBackend::Mknod(const std::string& path, mode_t mode, dev_t dev) {
  return Ret(vfs_.MknodAt(ctx_, ctx_.cwd, path, mode, dev));
}
int VfsBackend::Symlink(const std::string& target, const std::string& path) {
  return Ret(vfs_.SymlinkAt(ctx_, target, ctx_.cwd, path));
}
int VfsBackend::Link(const std::string& oldpath, const std::string& newpath,
                     int flags) {
  return Ret(vfs_.LinkAt(ctx_, ctx_.cwd, oldpath, ctx_.cwd, newpath, flags));
}
int VfsBackend::Unlink(const std::string& path) {
  return Ret(vfs_.UnlinkAt(ctx_, ctx_.cwd, path, 0));
}
int VfsBackend::Rmdir(const std::string& path) {
  return Ret(vfs_.UnlinkAt(ctx_, ctx_.cwd, path, AT_REMOVEDIR));
}
int VfsBackend::Rename(const std::string& oldpath, const std::string& newpath,
                       unsigned flags) {
  return Ret(vfs_.RenameAt(ctx_, ctx_.cwd, oldpath, ctx_.cwd, newpath, flags));
}
int VfsBackend::Stat(const std::string& path, int at_flags, StatResult* out) {
  auto r = vfs_.StatAt(ctx_, ctx_.cwd, path, at_flags);
  if (!r) return -r.error().code();
  Fill(*r, out);
  return 0;
}
int VfsBackend::Readlink(const std::string& path, std::string* out) {
  auto r = vfs_.ReadlinkAt(ctx_, ctx_.cwd, path);
  if (!r) return -r.error().code();
  *out = std::move(*r);
  return static_cast<int>(out->size());
}
int VfsBackend::Chmod(const std::string& path, mode_t mode) {
  return Ret(vfs_.ChmodAt(ctx_, ctx_.cwd, path, mode, 0));
}
int VfsBackend::Chown(const std::string& path, uid_t uid, gid_t gid,
                      int at_flags) {
  return Ret(vfs_.ChownAt(ctx_, ctx_.cwd, path, uid, gid, at_flags));
}
int VfsBackend::Utimens(const std::string& path, const struct timespec times[2],
                        int at_flags) {
  return Ret(vfs_.UtimensAt(ctx_, ctx_.cwd, path, times, at_flags));
}
int VfsBackend::Truncate(const std::string& path, off_t length) {
  return Ret(vfs_.TruncateAt(ctx_, ctx_.cwd, path, length));
}
int VfsBackend::Access(const std::string& path, int mode, int at_flags) {
  return Ret(vfs_.AccessAt(ctx_, ctx_.cwd, path, mode, at_flags));
}
int VfsBackend::SetXattr(const std::string& path, const std::string& name,
                         const std::string& value, int flags) {
  return Ret(vfs_.SetXattrAt(ctx_, ctx_.cwd, path, name, value, flags,
                             AT_SYMLINK_NOFOLLOW));
}
int VfsBackend::GetXattr(const std::string& path, const std::string& name,
                         std::string* value) {
  auto r = vfs_.GetXattrAt(ctx_, ctx_.cwd, path, name, AT_SYMLINK_NOFOLLOW);
  if (!r) return -r.error().code();
  *value = std::move(*r);
  return static_cast<int>(value->size());
}
int VfsBackend::ListXattr(const std::string& path,
                          std::vector<std::string>* names) {
  auto r = vfs_.ListXattrAt(ctx_, ctx_.cwd, path, AT_SYMLINK_NOFOLLOW);
  if (!r) return -r.error().code();
  *names = std::move(*r);
  size_t total = 0;
  for (const auto& n : *names) total += n.size() + 1;
  return static_cast<int>(total);
}
int VfsBackend::RemoveXattr(const std::string& path, const std::string& name) {
  return Ret(
      vfs_.RemoveXattrAt(ctx_, ctx_.cwd, path, name, AT_SYMLINK_NOFOLLOW));
}

int VfsBackend::Pread(int fd, size_t count, off_t offset, std::string* out) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  std::string buf(count, '\0');
  auto r = f->PRead(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), count),
      offset);
  if (!r) return -r.error().code();
  buf.resize(*r);
  *out = std::move(buf);
  return static_cast<int>(*r);
}
int VfsBackend::Pwrite(int fd, const std::string& data, off_t offset) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  auto r = f->PWrite(ctx_.creds, std::span<const uint8_t>(
                         reinterpret_cast<const uint8_t*>(data.data()),
                         data.size()),
                     offset);
  return r ? static_cast<int>(*r) : -r.error().code();
}
int VfsBackend::Read(int fd, size_t count, std::string* out) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  std::string buf(count, '\0');
  auto r = f->Read(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), count));
  if (!r) return -r.error().code();
  buf.resize(*r);
  *out = std::move(buf);
  return static_cast<int>(*r);
}
int VfsBackend::Write(int fd, const std::string& data) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  auto r = f->Write(ctx_.creds, std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  return r ? static_cast<int>(*r) : -r.error().code();
}
off_t VfsBackend::Lseek(int fd, off_t offset, int whence) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  auto r = f->Seek(offset, whence);
  return r ? static_cast<off_t>(*r) : -r.error().code();
}
int VfsBackend::Ftruncate(int fd, off_t length) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  return Ret(vfs_.Ftruncate(ctx_, *f, length));
}
int VfsBackend::Fallocate(int fd, int mode, off_t offset, off_t length) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  return Ret(f->Allocate(ctx_.creds, mode, offset, length));
}
int VfsBackend::Fstat(int fd, StatResult* out) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  auto r = f->Stat();
  if (!r) return -r.error().code();
  Fill(*r, out);
  return 0;
}
int VfsBackend::Fchmod(int fd, mode_t mode) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  // fchmod(2) refuses O_PATH descriptors.
  if (f->is_path()) return -EBADF;
  return Ret(vfs_.ChmodAt(ctx_, f->location(), "", mode, AT_EMPTY_PATH));
}
int VfsBackend::Getdents(int fd, std::vector<DirEntry>* out) {
  vfs::FileDescription* f = Lookup(fd);
  if (!f) return -EBADF;
  out->clear();
  std::vector<uint8_t> buf(512);
  for (;;) {
    auto r = f->Getdents64(buf);
    if (!r) return -r.error().code();
    if (*r == 0) return 0;
    for (size_t pos = 0; pos < *r;) {
      const uint8_t* p = buf.data() + pos;
      DirEntry e;
      std::memcpy(&e.ino, p, 8);
      uint16_t reclen;
      std::memcpy(&reclen, p + 16, 2);
      e.type = p[18];
      e.name = reinterpret_cast<const char*>(p + 19);
      out->push_back(std::move(e));
      pos += reclen;
    }
  }
}

}  // namespace veil::difftest
