// SPDX-License-Identifier: Apache-2.0
#include "sentry/control/vfs_backend.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <optional>
#include <span>
#include <utility>

#include "base/mutex.h"
#include "lisafs/message.h"

namespace veil::sentry {
namespace {

// The node itself, never what it points to: the client resolves every
// symlink itself.
constexpr int kThisNode = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;

// One FDID: a file of the sandbox by its Location (the file itself,
// wherever a rename moves it), and for an open FDID the description and a
// directory's read position.
class VfsFd final : public lisafs::ServerFd {
 public:
  explicit VfsFd(vfs::Location loc) : loc(std::move(loc)) {}

  const vfs::Location loc;
  RefPtr<vfs::FileDescription> file;  // set once, before the FDID exists
  Mutex dir_mu;
  uint64_t cookie VEIL_GUARDED_BY(dir_mu) = 0;
};

VfsFd& FdOf(lisafs::ServerFd& fd) { return static_cast<VfsFd&>(fd); }

Result<vfs::FileDescription*> OpenOf(lisafs::ServerFd& fd) {
  VfsFd& f = FdOf(fd);
  if (!f.file) return Errno(EBADF);  // the framework sends open FDIDs only
  return f.file.get();
}

lisafs::Timestamp ToTimestamp(const timespec& t) {
  return lisafs::Timestamp{t.tv_sec, static_cast<uint32_t>(t.tv_nsec)};
}

lisafs::Statx ToStatx(const vfs::Attr& a) {
  lisafs::Statx s;
  s.mask = lisafs::kStatxAll;
  s.blksize = a.blksize;
  s.nlink = a.nlink;
  s.uid = a.uid;
  s.gid = a.gid;
  s.mode = static_cast<uint16_t>(a.mode);
  s.ino = a.ino;
  s.size = a.size;
  s.blocks = a.blocks;
  s.atime = ToTimestamp(a.atime);
  s.btime = ToTimestamp(a.btime);
  s.ctime = ToTimestamp(a.ctime);
  s.mtime = ToTimestamp(a.mtime);
  s.rdev_major = major(a.rdev);
  s.rdev_minor = minor(a.rdev);
  s.dev_major = major(a.dev);
  s.dev_minor = minor(a.dev);
  return s;
}

timespec ToTimespec(const lisafs::Timestamp& t) {
  return timespec{static_cast<time_t>(t.sec), static_cast<long>(t.nsec)};
}

}  // namespace

vfs::Context VfsBackend::ContextAs(uint32_t uid, uint32_t gid) const {
  vfs::Context ctx = vfs_.RootContext();
  ctx.umask = 0;  // the client sends the mode it wants
  if (uid != lisafs::kNoId) ctx.creds.fsuid = uid;
  if (gid != lisafs::kNoId) ctx.creds.fsgid = gid;
  return ctx;
}

Result<lisafs::NewNode> VfsBackend::NewChild(const vfs::Location& dir,
                                             const std::string& name) {
  vfs::Location child = VEIL_TRY(vfs_.LookupChildUnchecked(dir, name));
  vfs::Attr attr =
      VEIL_TRY(vfs_.StatAt(vfs_.RootContext(), child, "", kThisNode));
  return lisafs::NewNode{std::make_unique<VfsFd>(std::move(child)),
                         ToStatx(attr)};
}

Result<lisafs::NewNode> VfsBackend::Mount() {
  GateHold hold(gate_);
  vfs::Location root = vfs_.RootLocation();
  vfs::Attr attr =
      VEIL_TRY(vfs_.StatAt(vfs_.RootContext(), root, "", kThisNode));
  return lisafs::NewNode{
      std::make_unique<VfsFd>(std::move(root)),
      ToStatx(attr)};
}

Result<lisafs::Statx> VfsBackend::FStat(lisafs::ServerFd& fd) {
  GateHold hold(gate_);
  VfsFd& f = FdOf(fd);
  if (f.file) return ToStatx(VEIL_TRY(f.file->Stat()));
  return ToStatx(VEIL_TRY(vfs_.StatAt(vfs_.RootContext(), f.loc, "", kThisNode)));
}

Result<lisafs::SetStatResp> VfsBackend::SetStat(lisafs::ServerFd& fd,
                                                const lisafs::SetStatReq& req) {
  GateHold hold(gate_);
  VfsFd& f = FdOf(fd);
  const uint32_t changes = req.mask & lisafs::kSetStatChanges;
  if (changes == 0) return lisafs::SetStatResp{};
  if (read_only()) return Errno(EROFS);
  const vfs::Context ctx = ContextAs(lisafs::kNoId, lisafs::kNoId);
  lisafs::SetStatResp resp;
  auto note = [&resp](uint32_t bits, const Result<void>& done) {
    if (done) return;
    resp.failure_mask |= bits;
    if (resp.failure_errno == 0)
      resp.failure_errno = static_cast<uint32_t>(done.error().code());
  };
  // Owner before mode (a chown drops set-id bits; an explicit mode must
  // win), size before times (a truncate stamps mtime), as one
  // notify_change would.
  const uint32_t ids = changes & (lisafs::kSetStatUid | lisafs::kSetStatGid);
  if (ids != 0) {
    const uid_t uid = (changes & lisafs::kSetStatUid) ? req.uid : uid_t(-1);
    const gid_t gid = (changes & lisafs::kSetStatGid) ? req.gid : gid_t(-1);
    note(ids, vfs_.ChownAt(ctx, f.loc, "", uid, gid, kThisNode));
  }
  if (changes & lisafs::kSetStatMode) {
    note(lisafs::kSetStatMode,
         vfs_.ChmodAt(ctx, f.loc, "", req.mode & 07777, kThisNode));
  }
  if (changes & lisafs::kSetStatSize) {
    Result<void> done = [&]() -> Result<void> {
      if (f.file && f.file->writable())
        return vfs_.Ftruncate(ctx, *f.file, static_cast<int64_t>(req.size));
      // truncate(2) of the file itself: opened for writing, as its name
      // may have moved since the walk. do_truncate: EISDIR, then EINVAL
      // for anything but a regular file (never opened: a FIFO's open
      // would wake a task waiting for a peer, a device's its driver).
      const uint32_t type = f.loc.dentry->inode().type();
      if (type == S_IFDIR) return Errno(EISDIR);
      if (type != S_IFREG) return Errno(EINVAL);
      Ref<vfs::FileDescription> file = VEIL_TRY(
          vfs_.OpenLocation(ctx, f.loc, O_WRONLY | O_NONBLOCK | O_NOFOLLOW));
      return vfs_.Ftruncate(ctx, *file, static_cast<int64_t>(req.size));
    }();
    note(lisafs::kSetStatSize, done);
  }
  constexpr uint32_t kTimes = lisafs::kSetStatAtime | lisafs::kSetStatMtime |
                              lisafs::kSetStatAtimeNow |
                              lisafs::kSetStatMtimeNow;
  if (req.mask & kTimes) {
    timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (req.mask & lisafs::kSetStatAtimeNow)
      times[0].tv_nsec = UTIME_NOW;
    else if (req.mask & lisafs::kSetStatAtime)
      times[0] = ToTimespec(req.atime);
    if (req.mask & lisafs::kSetStatMtimeNow)
      times[1].tv_nsec = UTIME_NOW;
    else if (req.mask & lisafs::kSetStatMtime)
      times[1] = ToTimespec(req.mtime);
    note(req.mask & kTimes, vfs_.UtimensAt(ctx, f.loc, "", times, kThisNode));
  }
  return resp;
}

Result<lisafs::FStatFSResp> VfsBackend::FStatFS(lisafs::ServerFd& fd) {
  GateHold hold(gate_);
  return lisafs::ToFStatFS(VEIL_TRY(
      vfs_.StatFsAt(vfs_.RootContext(), FdOf(fd).loc, "", kThisNode)));
}

Result<std::vector<uint8_t>> VfsBackend::FGetXattr(
    lisafs::ServerFd& fd, const lisafs::FGetXattrReq& req) {
  GateHold hold(gate_);
  std::string value = VEIL_TRY(
      vfs_.GetXattrAt(vfs_.RootContext(), FdOf(fd).loc, "", req.name, kThisNode));
  if (req.size != 0 && value.size() > req.size) return Errno(ERANGE);
  return std::vector<uint8_t>(value.begin(), value.end());
}

Result<void> VfsBackend::FSetXattr(lisafs::ServerFd& fd,
                                   const lisafs::FSetXattrReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  std::string_view value(reinterpret_cast<const char*>(req.value.data()),
                         req.value.size());
  return vfs_.SetXattrAt(vfs_.RootContext(), FdOf(fd).loc, "", req.name, value,
                         static_cast<int>(req.flags), kThisNode);
}

Result<std::vector<std::string>> VfsBackend::FListXattr(
    lisafs::ServerFd& fd, const lisafs::FListXattrReq&) {
  GateHold hold(gate_);
  return vfs_.ListXattrAt(vfs_.RootContext(), FdOf(fd).loc, "", kThisNode);
}

Result<void> VfsBackend::FRemoveXattr(lisafs::ServerFd& fd,
                                      const lisafs::FRemoveXattrReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  return vfs_.RemoveXattrAt(vfs_.RootContext(), FdOf(fd).loc, "", req.name,
                            kThisNode);
}

Result<lisafs::WalkResult> VfsBackend::Walk(lisafs::ServerFd& dir,
                                            const lisafs::WalkReq& req) {
  GateHold hold(gate_);
  lisafs::WalkResult result;
  vfs::Location at = FdOf(dir).loc;
  for (const std::string& name : req.names) {
    if (!at.dentry->inode().IsDir()) return Errno(ENOTDIR);
    Result<lisafs::NewNode> next = NewChild(at, name);
    if (!next) {
      // A missing component ends the walk; the client decides (ENOENT).
      if (next.error().code() == ENOENT) {
        result.status = lisafs::WalkStatus::kComponentMissing;
        break;
      }
      return next.error();
    }
    at = FdOf(*next->fd).loc;
    const bool symlink = at.dentry->inode().IsSymlink();
    result.nodes.push_back(std::move(*next));
    if (symlink) {
      result.status = lisafs::WalkStatus::kComponentSymlink;
      break;
    }
  }
  return result;
}

Result<std::vector<lisafs::Statx>> VfsBackend::WalkStat(
    lisafs::ServerFd& dir, const lisafs::WalkStatReq& req) {
  GateHold hold(gate_);
  const vfs::Context ctx = vfs_.RootContext();
  std::vector<lisafs::Statx> stats;
  vfs::Location at = FdOf(dir).loc;
  if (req.start == lisafs::WalkStatStart::kInclude)
    stats.push_back(ToStatx(VEIL_TRY(vfs_.StatAt(ctx, at, "", kThisNode))));
  for (const std::string& name : req.names) {
    if (!at.dentry->inode().IsDir()) return Errno(ENOTDIR);
    Result<vfs::Location> next = vfs_.LookupChildUnchecked(at, name);
    if (!next) {
      if (next.error().code() == ENOENT) break;  // stops silently
      return next.error();
    }
    at = std::move(*next);
    stats.push_back(ToStatx(VEIL_TRY(vfs_.StatAt(ctx, at, "", kThisNode))));
    if (at.dentry->inode().IsSymlink()) break;
  }
  return stats;
}

Result<lisafs::OpenedFile> VfsBackend::OpenAt(lisafs::ServerFd& node,
                                              const lisafs::OpenAtReq& req) {
  GateHold hold(gate_);
  VfsFd& f = FdOf(node);
  const int flags = static_cast<int>(req.flags);
  const int accmode = flags & O_ACCMODE;
  if (read_only() && (accmode != O_RDONLY || (flags & O_TRUNC) != 0))
    return Errno(EROFS);
  switch (f.loc.dentry->inode().type()) {
    case S_IFCHR:
    case S_IFBLK:
      return Errno(EACCES);  // open(2) on a nodev mount
    case S_IFIFO:
    case S_IFSOCK:
      return Errno(ENXIO);  // never waits for a task's peer
    default:
      break;
  }
  vfs::OpenHow how;
  // O_NONBLOCK: nothing a view opens may wait for the sandbox's tasks.
  how.flags = (flags & (O_ACCMODE | O_TRUNC | O_APPEND | O_DIRECTORY |
                        O_DSYNC | O_SYNC)) |
              O_NOFOLLOW | O_NONBLOCK;
  // The file itself, wherever it is now (renamed since the walk, say).
  Ref<vfs::FileDescription> file =
      VEIL_TRY(vfs_.OpenLocation(vfs_.RootContext(), f.loc, how.flags));
  auto opened = std::make_unique<VfsFd>(f.loc);
  opened->file = std::move(file);
  return lisafs::OpenedFile{std::move(opened), UniqueFd()};
}

Result<lisafs::CreatedFile> VfsBackend::OpenCreateAt(
    lisafs::ServerFd& dir, const lisafs::OpenCreateAtReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  const vfs::Location& at = FdOf(dir).loc;
  vfs::OpenHow how;
  how.flags = (static_cast<int>(req.flags) & (O_ACCMODE | O_APPEND)) |
              O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK;
  how.mode = req.mode & 07777;
  Ref<vfs::FileDescription> file =
      VEIL_TRY(vfs_.OpenAt(ContextAs(req.uid, req.gid), at, req.name, how));
  vfs::Attr attr = VEIL_TRY(file->Stat());
  vfs::Location loc = file->location();
  auto opened = std::make_unique<VfsFd>(loc);
  opened->file = std::move(file);
  lisafs::NewNode node{std::make_unique<VfsFd>(loc),
                       ToStatx(attr)};
  return lisafs::CreatedFile{std::move(node),
                             lisafs::OpenedFile{std::move(opened), UniqueFd()}};
}

Result<lisafs::NewNode> VfsBackend::MkdirAt(lisafs::ServerFd& dir,
                                            const lisafs::MkdirAtReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  const vfs::Location& at = FdOf(dir).loc;
  VEIL_TRY_VOID(
      vfs_.MkdirAt(ContextAs(req.uid, req.gid), at, req.name, req.mode & 07777));
  return NewChild(at, req.name);
}

Result<lisafs::NewNode> VfsBackend::MknodAt(lisafs::ServerFd& dir,
                                            const lisafs::MknodAtReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  const vfs::Location& at = FdOf(dir).loc;
  VEIL_TRY_VOID(vfs_.MknodAt(ContextAs(req.uid, req.gid), at, req.name,
                             req.mode, makedev(req.rdev_major, req.rdev_minor)));
  return NewChild(at, req.name);
}

Result<lisafs::NewNode> VfsBackend::SymlinkAt(lisafs::ServerFd& dir,
                                              const lisafs::SymlinkAtReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  const vfs::Location& at = FdOf(dir).loc;
  VEIL_TRY_VOID(
      vfs_.SymlinkAt(ContextAs(req.uid, req.gid), req.target, at, req.name));
  return NewChild(at, req.name);
}

Result<lisafs::NewNode> VfsBackend::LinkAt(lisafs::ServerFd& dir,
                                           lisafs::ServerFd& target,
                                           const lisafs::LinkAtReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  const vfs::Location& at = FdOf(dir).loc;
  VEIL_TRY_VOID(vfs_.LinkAt(vfs_.RootContext(), FdOf(target).loc, "", at,
                            req.name, AT_EMPTY_PATH));
  return NewChild(at, req.name);
}

Result<void> VfsBackend::UnlinkAt(lisafs::ServerFd& dir,
                                  const lisafs::UnlinkAtReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  return vfs_.UnlinkAt(vfs_.RootContext(), FdOf(dir).loc, req.name,
                       static_cast<int>(req.flags & AT_REMOVEDIR));
}

Result<void> VfsBackend::RenameAt(lisafs::ServerFd& old_dir,
                                  lisafs::ServerFd& new_dir,
                                  const lisafs::RenameAtReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  return vfs_.RenameAt(vfs_.RootContext(), FdOf(old_dir).loc, req.old_name,
                       FdOf(new_dir).loc, req.new_name, req.flags);
}

Result<std::string> VfsBackend::ReadLinkAt(lisafs::ServerFd& fd) {
  GateHold hold(gate_);
  VfsFd& f = FdOf(fd);
  if (!f.loc.dentry->inode().IsSymlink()) return Errno(EINVAL);
  std::string target = VEIL_TRY(vfs_.ReadlinkAt(vfs_.RootContext(), f.loc, ""));
  if (target.size() > lisafs::kMaxPathLength) return Errno(ENAMETOOLONG);
  return target;
}

Result<std::vector<uint8_t>> VfsBackend::PRead(lisafs::ServerFd& fd,
                                               const lisafs::PReadReq& req) {
  GateHold hold(gate_);
  vfs::FileDescription* file = VEIL_TRY(OpenOf(fd));
  if (req.offset > static_cast<uint64_t>(INT64_MAX)) return Errno(EINVAL);
  std::vector<uint8_t> data(req.count);
  const size_t n = VEIL_TRY(file->PRead(std::span<uint8_t>(data),
                                        static_cast<int64_t>(req.offset)));
  data.resize(n);
  return data;
}

Result<uint64_t> VfsBackend::PWrite(lisafs::ServerFd& fd,
                                    const lisafs::PWriteReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  vfs::FileDescription* file = VEIL_TRY(OpenOf(fd));
  if (req.offset > static_cast<uint64_t>(INT64_MAX)) return Errno(EINVAL);
  return VEIL_TRY(file->PWrite(std::span<const uint8_t>(req.data),
                               static_cast<int64_t>(req.offset)));
}

Result<void> VfsBackend::FSync(lisafs::ServerFd& fd) {
  GateHold hold(gate_);
  vfs::FileDescription* file = VEIL_TRY(OpenOf(fd));
  return file->impl().Sync();
}

Result<void> VfsBackend::FAllocate(lisafs::ServerFd& fd,
                                   const lisafs::FAllocateReq& req) {
  GateHold hold(gate_);
  if (read_only()) return Errno(EROFS);
  vfs::FileDescription* file = VEIL_TRY(OpenOf(fd));
  if (req.offset > static_cast<uint64_t>(INT64_MAX) ||
      req.length > static_cast<uint64_t>(INT64_MAX))
    return Errno(EINVAL);
  return file->Allocate(static_cast<int>(req.mode),
                        static_cast<int64_t>(req.offset),
                        static_cast<int64_t>(req.length));
}

Result<uint64_t> VfsBackend::SeekData(lisafs::ServerFd& fd,
                                      const lisafs::SeekDataReq& req) {
  GateHold hold(gate_);
  vfs::FileDescription* file = VEIL_TRY(OpenOf(fd));
  if (req.offset > static_cast<uint64_t>(INT64_MAX)) return Errno(ENXIO);
  // The file's own answer, leaving the description's position alone.
  const int64_t at = VEIL_TRY(file->impl().Seek(
      static_cast<int64_t>(req.offset), static_cast<int>(req.whence), 0));
  return static_cast<uint64_t>(at);
}

Result<std::vector<lisafs::Dirent64>> VfsBackend::Getdents64(
    lisafs::ServerFd& fd, const lisafs::Getdents64Req& req) {
  GateHold hold(gate_);
  VfsFd& f = FdOf(fd);
  vfs::FileDescription* file = VEIL_TRY(OpenOf(fd));
  if (!file->inode().IsDir()) return Errno(ENOTDIR);
  const vfs::Attr dir = VEIL_TRY(file->Stat());
  std::vector<lisafs::Dirent64> out;
  size_t used = 0;
  bool too_small = false;
  MutexLock lock(f.dir_mu);
  // "." and ".." are dropped (the client makes its own).
  VEIL_TRY_VOID(file->impl().ReadDir(&f.cookie, [&](const vfs::DirEntry& e) {
    if (e.name == "." || e.name == "..") return true;
    const size_t size = (19 + e.name.size() + 1 + 7) & ~size_t{7};
    if (used + size > req.count) {
      too_small = out.empty();
      return false;
    }
    used += size;
    out.push_back(lisafs::Dirent64{e.ino, major(dir.dev), minor(dir.dev),
                                   static_cast<int64_t>(e.next_cookie), e.type,
                                   e.name});
    return true;
  }));
  // getdents64(2) with a buffer too small for the next entry: EINVAL.
  if (too_small) return Errno(EINVAL);
  return out;
}

}  // namespace veil::sentry
