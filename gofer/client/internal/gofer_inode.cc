// SPDX-License-Identifier: Apache-2.0
//
// GoferInode: attributes, setattr, symlinks, xattrs and open dispatch.
#include "gofer/client/internal/gofer_inode.h"

#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cstring>

#include "base/logging.h"

namespace veil::gofer::client::internal {

namespace {
constexpr uint32_t kRequiredStatx = lisafs::kStatxType | lisafs::kStatxMode |
                                    lisafs::kStatxNlink | lisafs::kStatxUid |
                                    lisafs::kStatxGid | lisafs::kStatxIno |
                                    lisafs::kStatxSize;
constexpr uint32_t kStatxTimes =
    lisafs::kStatxAtime | lisafs::kStatxMtime | lisafs::kStatxCtime;

bool operator<=(const lisafs::Timestamp& a, const lisafs::Timestamp& b) {
  return a.sec < b.sec || (a.sec == b.sec && a.nsec <= b.nsec);
}
}  // namespace

Result<void> CheckStatx(const lisafs::Statx& st) {
  if ((st.mask & kRequiredStatx) != kRequiredStatx ||
      !lisafs::IsValidFileType(st.mode))
    return Errno(EIO, "gofer: server sent unusable attributes");
  return Ok();
}

HostKey KeyOf(const lisafs::Statx& st) {
  return HostKey{st.dev_major, st.dev_minor, st.ino};
}

timespec ToTimespec(const lisafs::Timestamp& t) {
  return timespec{static_cast<time_t>(t.sec), static_cast<long>(t.nsec)};
}

GoferInode::GoferInode(GoferFs& fs, uint64_t ino, lisafs::FdId control,
                       const lisafs::Statx& stat)
    : Inode(fs, ino, stat.mode & S_IFMT), control_(control), stat_(stat) {}

GoferInode::~GoferInode() {
  // Runs with or without the filesystem mutex: only leaf locks here.
  gofer().Forget(*this);
  gofer().handles().Drop(*this);
  gofer().ReleaseFd(control_);
  delete extra_.load(std::memory_order_acquire);
}

GoferInode::Extra& GoferInode::EnsureExtra() {
  Extra* e = extra_.load(std::memory_order_acquire);
  if (e) return *e;
  // Two first users may race: one wins, the other's is thrown away.
  auto fresh = std::make_unique<Extra>();
  if (extra_.compare_exchange_strong(e, fresh.get(),
                                     std::memory_order_acq_rel))
    return *fresh.release();
  return *e;
}

void GoferInode::PackedName::Set(std::string_view name) {
  char* p = new char[name.size() + 1];
  p[0] = static_cast<char>(static_cast<uint8_t>(name.size()));
  std::memcpy(p + 1, name.data(), name.size());
  delete[] p_;
  p_ = p;
}

// --- Attributes -------------------------------------------------------------

Result<void> GoferInode::CheckUsableLocked() const {
  if (broken_) return Errno(EIO);
  return Ok();
}

Result<void> GoferInode::UpdateStatLocked(const lisafs::Statx& stat) {
  if (broken_) return Errno(EIO);
  // The same FDID names the same file for its whole life: a new type or
  // identity is a server that cannot be believed about this file.
  if (!CheckStatx(stat) || (stat.mode & S_IFMT) != type() ||
      KeyOf(stat) != key()) {
    VEIL_LOG(kWarning) << "gofer client: server changed the type or "
                          "identity of inode "
                       << ino() << "; treating it as broken";
    broken_ = true;
    return Errno(EIO);
  }
  stat_.Set(stat);
  return Ok();
}

Result<void> GoferInode::RefreshLocked() {
  if (broken_) return Errno(EIO);
  const bool shared = gofer().shared();
  if (!stale_.load(std::memory_order_relaxed) && !shared) return Ok();
  // A shared tree asks on every query, but the attributes a lookup or
  // revalidation has just brought serve the one query after it (the stat
  // or permission check of the same call), unless a change of ours since
  // made them stale.
  if (shared && std::exchange(fresh_, false) &&
      !stale_.load(std::memory_order_relaxed))
    return Ok();
  // Cleared before asking: an access racing with the FStat marks it again.
  stale_.store(false, std::memory_order_relaxed);
  auto reply = client().Call(lisafs::FStatReq{control_});
  if (!reply) {
    MarkStale();
    return reply.error();
  }
  return UpdateStatLocked(reply->message.stat);
}

vfs::Attr GoferInode::GetAttrLocked() {
  // GetAttr cannot fail: on a failed refresh the last known attributes are
  // the best answer, and the failing call itself reports the error.
  if (Result<void> r = RefreshLocked(); !r) {
    VEIL_LOG(kDebug) << "gofer client: refreshing inode " << ino()
                     << " failed, errno " << r.error().code();
  }
  const lisafs::Statx st = stat_.Get();
  vfs::Attr a;
  a.mode = st.mode;
  a.nlink = st.nlink;
  a.uid = st.uid;
  a.gid = st.gid;
  a.size = st.size;
  a.blocks = st.blocks;
  a.ino = ino();
  a.dev = fs().dev();
  a.rdev = makedev(st.rdev_major, st.rdev_minor);
  a.blksize = st.blksize != 0 ? st.blksize : 4096;
  a.atime = ToTimespec(st.atime);
  a.mtime = ToTimespec(st.mtime);
  a.ctime = ToTimespec(st.ctime);
  a.btime = ToTimespec(st.btime);
  return a;
}

bool GoferInode::AtimeWouldUpdateLocked() const {
  if (gofer().shared() || stale_.load(std::memory_order_relaxed) ||
      (stat_.mask() & kStatxTimes) != kStatxTimes)
    return true;
  // A read-only export: as on any `ro` mount, no access moves the atime.
  if (gofer().immutable()) return false;
  // Linux relatime (atime_needs_update/relatime_need_update): atime moves
  // when it is not newer than mtime or ctime, or is a day old.
  timespec now = vfs::Now();
  const lisafs::Timestamp atime = stat_.atime();
  return atime <= stat_.mtime() || atime <= stat_.ctime() ||
         now.tv_sec - atime.sec >= 24 * 60 * 60;
}

void GoferInode::NoteAccessLocked() {
  if (AtimeWouldUpdateLocked()) MarkStale();
}

Result<void> GoferInode::SetStatLocked(lisafs::SetStatReq req) {
  if (req.fd == lisafs::kNoFdId) req.fd = control_;
  auto reply = CallLocked(req);
  // A change the server could not reach the file for (a size change
  // reopens it by name) is retried once it knows a name again; every
  // change in a SetStat can be applied twice.
  if (reply && reply->message.failure_errno == ESTALE && RelearnLocked())
    reply = client().Call(req);
  MarkStale();  // the server stamped ctime (and maybe more) either way
  if (!reply) return reply.error();
  const lisafs::SetStatResp& r = reply->message;
  if (r.failure_mask & ~req.mask) return Errno(EIO);
  // Record what took effect, so that the mode and owner stay exact without
  // a refresh.
  const uint32_t done = req.mask & ~r.failure_mask;
  if (done & lisafs::kSetStatMode)
    stat_.set_mode((stat_.mode() & S_IFMT) | req.mode);
  if (done & lisafs::kSetStatUid) stat_.set_uid(req.uid);
  if (done & lisafs::kSetStatGid) stat_.set_gid(req.gid);
  if (r.failure_mask) return Errno(static_cast<int>(r.failure_errno));
  return Ok();
}

Result<void> GoferInode::SetAttrLocked(const vfs::SetAttr& attr) {
  VEIL_TRY_VOID(CheckUsableLocked());
  lisafs::SetStatReq req;
  if (attr.mask & (vfs::kSetMode | vfs::kKillModeBits)) {
    // The cached mode is exact (SetStatLocked records what took effect)
    // and fresh: the VFS read it under this mutex to decide the kill.
    uint32_t mode = (attr.mask & vfs::kSetMode) ? attr.mode : stat_.mode();
    if (attr.mask & vfs::kKillModeBits) mode &= ~attr.kill;
    req.mask |= lisafs::kSetStatMode;
    req.mode = mode & 07777;
  }
  if (attr.mask & vfs::kSetUid) {
    req.mask |= lisafs::kSetStatUid;
    req.uid = attr.uid;
  }
  if (attr.mask & vfs::kSetGid) {
    req.mask |= lisafs::kSetStatGid;
    req.gid = attr.gid;
  }
  if (attr.mask & vfs::kSetSize) {
    if (!IsRegular()) return Errno(EINVAL);
    VEIL_TRY_VOID(RefreshLocked());
    // truncate(2) to the current size of a file without pages changes
    // nothing, not even times (shmem_setattr); the server's ftruncate would
    // stamp mtime and ctime, so it is not asked.
    bool noop = attr.size == stat_.size() && stat_.blocks() == 0 &&
                !(attr.mask & vfs::kSetMtimeNow);
    if (!noop) {
      req.mask |= lisafs::kSetStatSize;
      req.size = attr.size;
    }
  }
  if (attr.mask & (vfs::kSetAtime | vfs::kSetAtimeNow)) {
    req.mask |= lisafs::kSetStatAtime;
    if (attr.mask & vfs::kSetAtimeNow) {
      req.mask |= lisafs::kSetStatAtimeNow;
    } else {
      req.atime = {attr.atime.tv_sec,
                   static_cast<uint32_t>(attr.atime.tv_nsec)};
    }
  }
  if (attr.mask & (vfs::kSetMtime | vfs::kSetMtimeNow)) {
    req.mask |= lisafs::kSetStatMtime;
    if (attr.mask & vfs::kSetMtimeNow) {
      req.mask |= lisafs::kSetStatMtimeNow;
    } else {
      req.mtime = {attr.mtime.tv_sec,
                   static_cast<uint32_t>(attr.mtime.tv_nsec)};
    }
  }
  if (req.mask == 0) {
    if (!(attr.mask & vfs::kSetCtimeNow)) return Ok();
    // Only ctime moves (chown(f, -1, -1)). LISAFS has no such change; the
    // host stamps ctime for a chmod to the same mode, or for symlinks,
    // which have no chmod, a chown to the same owner.
    if (IsSymlink()) {
      req.mask = lisafs::kSetStatUid | lisafs::kSetStatGid;
      req.uid = stat_.uid();
      req.gid = stat_.gid();
    } else {
      req.mask = lisafs::kSetStatMode;
      req.mode = stat_.mode() & 07777;
    }
  }
  // A size change goes through our open handle when there is one: the
  // server can truncate an unlinked file only through an open descriptor
  // (ftruncate on an fd whose name is gone).
  // (A file open for writing holds its handle, so it is still cached.)
  std::shared_ptr<const Handle> rw;
  if (req.mask & lisafs::kSetStatSize)
    rw = gofer().handles().Find(*this, HandleKind::kReadWrite);
  if (rw != nullptr) req.fd = rw->fd;
  const uint32_t want_mode = req.mode;
  const bool mode_and_owner =
      (req.mask & lisafs::kSetStatMode) &&
      (req.mask & (lisafs::kSetStatUid | lisafs::kSetStatGid));
  VEIL_TRY_VOID(SetStatLocked(req));
  if (mode_and_owner) {
    // A chown by the server may strip set-id bits after its chmod; the
    // VFS already decided which bits stay.
    VEIL_TRY_VOID(RefreshLocked());
    if ((stat_.mode() & 07777) != want_mode) {
      lisafs::SetStatReq fix;
      fix.mask = lisafs::kSetStatMode;
      fix.mode = want_mode;
      VEIL_TRY_VOID(SetStatLocked(fix));
    }
  }
  return Ok();
}

void GoferInode::StampModifiedLocked() {
  // pipe_write's file_update_time; the server's utimensat(UTIME_NOW) sets
  // mtime and ctime exactly so. A failure to stamp does not undo a write.
  // NOTE: TouchAtimeLocked stays a no-op: the host moves atime itself for
  // what it reads (data, entries, link targets), and for a FIFO read no
  // server call moves atime alone (SetStat would move ctime too).
  lisafs::SetStatReq req;
  req.mask = lisafs::kSetStatMtime | lisafs::kSetStatMtimeNow;
  (void)SetStatLocked(req);
}

Result<void> GoferInode::RemovePrivsLocked(const vfs::Credentials& creds) {
  if (creds.HasCap(vfs::Capability::kFsetid)) return Ok();
  if (gofer().shared()) VEIL_TRY_VOID(RefreshLocked());
  VEIL_TRY_VOID(CheckUsableLocked());
  const uint32_t kill =
      vfs::SetIdBitsClearedByWrite(creds, stat_.mode(), stat_.gid());
  if (!kill) return Ok();
  lisafs::SetStatReq req;
  req.mask = lisafs::kSetStatMode;
  req.mode = stat_.mode() & 07777 & ~kill;
  return SetStatLocked(req);
}

// --- Symlinks ---------------------------------------------------------------

Result<std::string> GoferInode::ReadlinkLocked() {
  VEIL_TRY_VOID(CheckUsableLocked());
  if (!IsSymlink()) return Errno(EINVAL);
  // A symlink's target never changes, but reading it moves its atime on
  // the host: ask only when relatime says the host would update it, so
  // the cached answer and the host agree.
  Extra* e = extra();
  if (e && e->has_target && !AtimeWouldUpdateLocked()) return e->target;
  auto reply = VEIL_TRY(client().Call(lisafs::ReadLinkAtReq{control_}));
  MarkStale();
  e = &EnsureExtra();
  if (e->has_target && reply.message.target != e->target) {
    broken_ = true;
    return Errno(EIO);
  }
  e->target = std::move(reply.message.target);
  e->has_target = true;
  return e->target;
}

// --- Extended attributes ----------------------------------------------------

Result<std::string> GoferInode::GetXattrLocked(std::string_view name) {
  VEIL_TRY_VOID(CheckUsableLocked());
  lisafs::FGetXattrReq req;
  req.fd = control_;
  req.name = std::string(name);
  auto reply = VEIL_TRY(CallLocked(req));
  return std::string(reply.message.value.begin(), reply.message.value.end());
}

Result<void> GoferInode::SetXattrLocked(std::string_view name,
                                        std::string_view value, int flags) {
  VEIL_TRY_VOID(CheckUsableLocked());
  if ((flags & XATTR_CREATE) && (flags & XATTR_REPLACE)) {
    // Linux accepts both and then fails: EEXIST if the name exists, else
    // ENODATA. The protocol refuses the pair, so look first.
    Result<std::string> cur = GetXattrLocked(name);
    if (cur) return Errno(EEXIST);
    if (cur.error().code() == ENODATA) return Errno(ENODATA);
    return cur.error();
  }
  lisafs::FSetXattrReq req;
  req.fd = control_;
  req.name = std::string(name);
  req.value.assign(value.begin(), value.end());
  req.flags = static_cast<uint32_t>(flags);
  VEIL_TRY(CallLocked(req));
  MarkStale();
  return Ok();
}

Result<std::vector<std::string>> GoferInode::ListXattrLocked() {
  VEIL_TRY_VOID(CheckUsableLocked());
  lisafs::FListXattrReq req;
  req.fd = control_;
  auto reply = VEIL_TRY(CallLocked(req));
  return std::move(reply.message.names);
}

Result<void> GoferInode::RemoveXattrLocked(std::string_view name) {
  VEIL_TRY_VOID(CheckUsableLocked());
  lisafs::FRemoveXattrReq req;
  req.fd = control_;
  req.name = std::string(name);
  VEIL_TRY(CallLocked(req));
  MarkStale();
  return Ok();
}

// --- Open -------------------------------------------------------------------

Result<std::unique_ptr<vfs::FileImpl>> GoferInode::OpenLocked(int flags) {
  VEIL_TRY_VOID(CheckUsableLocked());
  switch (type()) {
    case S_IFREG:
      return OpenFileLocked(flags);
    case S_IFDIR:
      return OpenDirLocked();
    case S_IFIFO: {
      Extra& e = EnsureExtra();
      if (!e.fifo) e.fifo = std::make_unique<vfs::FifoPipe>();
      return vfs::OpenFifoLocked(*this, *e.fifo, flags);
    }
    case S_IFLNK:
      // Only O_PATH opens a symlink; it does no I/O.
      return std::make_unique<vfs::FileImpl>();
    default:
      // Device nodes are never opened through the gofer (a driver would be
      // the host's), and nobody serves a socket: ENXIO, as Linux for a
      // device without a driver.
      return Errno(ENXIO);
  }
}

UniqueFd GoferInode::CheckDonated(UniqueFd host, HandleKind kind) {
  if (!host.valid()) return host;
  // A donated descriptor goes into the sandbox's data plane: take only a
  // regular file open as the handle is (read-only, or read-write when
  // writable donations were asked for).
  const bool writable_ok = gofer().options().writable_donations ==
                           GoferFsOptions::WritableDonations::kTake;
  const int want = kind == HandleKind::kRead ? O_RDONLY : O_RDWR;
  struct stat st;
  int fl = fcntl(host.get(), F_GETFL);
  if ((kind != HandleKind::kRead && !writable_ok) || fl < 0 ||
      (fl & O_ACCMODE) != want || fstat(host.get(), &st) != 0 ||
      !S_ISREG(st.st_mode) || !IsRegular()) {
    VEIL_LOG(kWarning) << "gofer client: ignoring a donated descriptor "
                          "that is not a regular file open as asked";
    host.reset();
  }
  return host;
}

Result<std::shared_ptr<const Handle>> GoferInode::EnsureHandleLocked(
    HandleKind kind) {
  HandleCache& cache = gofer().handles();
  if (std::shared_ptr<const Handle> h = cache.Find(*this, kind)) return h;
  lisafs::OpenAtReq req;
  req.fd = control_;
  req.flags = kind == HandleKind::kRead ? O_RDONLY : O_RDWR;
  auto reply = CallLocked(req);
  if (!reply && (reply.error().code() == ENFILE ||
                 reply.error().code() == EMFILE)) {
    // The server's open files (or our descriptors, if a donated one could
    // not be received) are used up: what we keep for files nobody has open
    // goes first, then the open is tried once more.
    if (cache.DropIdle() > 0) {
      gofer().FlushReleasedFds();
      reply = CallLocked(req);
    }
  }
  if (!reply) return reply.error();
  UniqueFd host = CheckDonated(std::move(reply->fd), kind);
  auto h = std::make_shared<const Handle>(gofer(), reply->message.open_fd,
                                          std::move(host));
  cache.Insert(*this, kind, h);
  return h;
}

}  // namespace veil::gofer::client::internal
