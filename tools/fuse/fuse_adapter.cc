// SPDX-License-Identifier: Apache-2.0
//
// FuseAdapter core: the operation table, the node table (lookup, forget),
// per-request credentials, and the helpers the operation files share.
#include "tools/fuse/fuse_adapter.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "base/logging.h"

namespace veil::tools {
namespace {

// The fd-style form of a Vfs call: the node itself, never what it points
// to (the kernel has already followed every symlink it meant to follow).
constexpr int kThisNode = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;

// The groups list is read from /proc/PID/task/TID/status by libfuse; most
// callers have a handful of groups.
constexpr int kInlineGroups = 32;

}  // namespace

// --- The operation table ---------------------------------------------------

// Trampolines from libfuse's C callbacks to the adapter's members. Each
// one either forwards (the member replies) or replies itself.
struct FuseAdapter::Dispatch {
  static FuseAdapter& Self(fuse_req_t req) {
    return *static_cast<FuseAdapter*>(fuse_req_userdata(req));
  }
  // The adapter, held by a request for the length of the call: shared
  // with other requests, exclusive with RunPaused. Forgets are not held
  // back: they change only the node table, never a filesystem.
  struct Held {
    std::shared_lock<SharedMutex> lock;
    FuseAdapter* self;
    FuseAdapter* operator->() const { return self; }
  };
  static Held Gate(fuse_req_t req) {
    FuseAdapter& adapter = Self(req);
    // Through the turnstile first: while RunPaused waits for the requests
    // under way, new ones queue here instead of overtaking it (glibc's
    // rwlock prefers readers, and a busy mount would starve the pause).
    { MutexLock turnstile(adapter.turnstile_); }
    return Held{std::shared_lock(adapter.gate_), &adapter};
  }
  static void Init(void* userdata, fuse_conn_info* conn) {
    static_cast<FuseAdapter*>(userdata)->Init(conn);
  }
  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Gate(req)->Lookup(req, parent, name);
  }
  static void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    Self(req).Forget(ino, nlookup);
    fuse_reply_none(req);
  }
  static void ForgetMulti(fuse_req_t req, size_t count,
                          fuse_forget_data* forgets) {
    for (size_t i = 0; i < count; ++i)
      Self(req).Forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  }
  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Gate(req)->GetAttr(req, ino, fi);
  }
  static void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr,
                      int to_set, fuse_file_info* fi) {
    Gate(req)->SetAttr(req, ino, attr, to_set, fi);
  }
  static void Readlink(fuse_req_t req, fuse_ino_t ino) {
    Gate(req)->Readlink(req, ino);
  }
  static void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name,
                    mode_t mode, dev_t rdev) {
    Gate(req)->Mknod(req, parent, name, mode, rdev);
  }
  static void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name,
                    mode_t mode) {
    Gate(req)->Mkdir(req, parent, name, mode);
  }
  static void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Gate(req)->Unlink(req, parent, name, 0);
  }
  static void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Gate(req)->Unlink(req, parent, name, AT_REMOVEDIR);
  }
  static void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent,
                      const char* name) {
    Gate(req)->Symlink(req, target, parent, name);
  }
  static void Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
                     fuse_ino_t new_parent, const char* new_name,
                     unsigned flags) {
    Gate(req)->Rename(req, parent, name, new_parent, new_name, flags);
  }
  static void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
                   const char* new_name) {
    Gate(req)->Link(req, ino, new_parent, new_name);
  }
  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Gate(req)->Open(req, ino, fi);
  }
  static void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off,
                   fuse_file_info* fi) {
    Gate(req)->Read(req, size, off, fi);
  }
  static void Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size,
                    off_t off, fuse_file_info* fi) {
    Gate(req)->Write(req, buf, size, off, fi);
  }
  // No file locks or write-back state live here: a close has nothing to
  // flush (POSIX locks are the kernel's, as no getlk/setlk is offered).
  static void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    fuse_reply_err(req, 0);
  }
  static void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    Gate(req)->Release(&FileOf(fi));
    fuse_reply_err(req, 0);
  }
  static void Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
    Gate(req)->Fsync(req, fi);
  }
  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Gate(req)->OpenDir(req, ino, fi);
  }
  static void ReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off,
                      fuse_file_info* fi) {
    Gate(req)->ReadDir(req, size, off, fi);
  }
  static void StatFs(fuse_req_t req, fuse_ino_t ino) {
    Gate(req)->StatFs(req, ino);
  }
  static void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                       const char* value, size_t size, int flags) {
    Gate(req)->SetXattr(req, ino, name, value, size, flags);
  }
  static void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                       size_t size) {
    Gate(req)->GetXattr(req, ino, name, size);
  }
  static void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    Gate(req)->ListXattr(req, ino, size);
  }
  static void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    Gate(req)->RemoveXattr(req, ino, name);
  }
  static void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
    Gate(req)->Access(req, ino, mask);
  }
  static void Create(fuse_req_t req, fuse_ino_t parent, const char* name,
                     mode_t mode, fuse_file_info* fi) {
    Gate(req)->Create(req, parent, name, mode, fi);
  }
  static void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off,
                        off_t len, fuse_file_info* fi) {
    Gate(req)->Fallocate(req, mode, off, len, fi);
  }
  static void Lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence,
                    fuse_file_info* fi) {
    Gate(req)->Lseek(req, off, whence, fi);
  }
};

const fuse_lowlevel_ops& FuseAdapter::Ops() {
  // Every member is named, in declaration order; nullptr leaves an
  // operation to the kernel or to libfuse's fallback.
  static const fuse_lowlevel_ops kOps = {
      .init = Dispatch::Init,
      .destroy = nullptr,  // RunFuse tears down after the session ends
      .lookup = Dispatch::Lookup,
      .forget = Dispatch::Forget,
      .getattr = Dispatch::GetAttr,
      .setattr = Dispatch::SetAttr,
      .readlink = Dispatch::Readlink,
      .mknod = Dispatch::Mknod,
      .mkdir = Dispatch::Mkdir,
      .unlink = Dispatch::Unlink,
      .rmdir = Dispatch::Rmdir,
      .symlink = Dispatch::Symlink,
      .rename = Dispatch::Rename,
      .link = Dispatch::Link,
      .open = Dispatch::Open,
      .read = Dispatch::Read,
      .write = Dispatch::Write,
      .flush = Dispatch::Flush,
      .release = Dispatch::Release,
      .fsync = Dispatch::Fsync,
      .opendir = Dispatch::OpenDir,
      .readdir = Dispatch::ReadDir,
      .releasedir = Dispatch::Release,
      .fsyncdir = Dispatch::Fsync,
      .statfs = Dispatch::StatFs,
      .setxattr = Dispatch::SetXattr,
      .getxattr = Dispatch::GetXattr,
      .listxattr = Dispatch::ListXattr,
      .removexattr = Dispatch::RemoveXattr,
      .access = Dispatch::Access,
      .create = Dispatch::Create,
      // Without getlk/setlk/flock the kernel keeps POSIX and BSD locks
      // itself, which is right while the mount is the only client.
      .getlk = nullptr,
      .setlk = nullptr,
      .bmap = nullptr,       // no block device behind the files
      .ioctl = nullptr,      // ENOSYS, as for a file without ->unlocked_ioctl
      .poll = nullptr,       // the kernel's default: always ready
      .write_buf = nullptr,  // libfuse falls back to .write
      .retrieve_reply = nullptr,  // no notify_retrieve requests are sent
      .forget_multi = Dispatch::ForgetMulti,
      .flock = nullptr,
      .fallocate = Dispatch::Fallocate,
      // With zero timeouts readdirplus would add a lookup per entry that
      // the kernel repeats anyway at the next access.
      .readdirplus = nullptr,
      .copy_file_range = nullptr,  // the kernel falls back to read/write
      .lseek = Dispatch::Lseek,
  };
  return kOps;
}

FuseAdapter::FuseAdapter(vfs::Vfs& vfs, bool exclusive, bool synthetic)
    : vfs_(vfs),
      exclusive_(exclusive),
      synthetic_(synthetic),
      dir_timeout_(exclusive ? kExclusiveDirTimeout : 0.0),
      root_(vfs.RootLocation()),
      root_ctx_(vfs.RootContext()),
      nodes_(vfs) {}

FuseAdapter::~FuseAdapter() = default;

void FuseAdapter::RunPaused(const std::function<void()>& fn) {
  turnstile_.Lock();
  WriterMutexLock lock(gate_);
  turnstile_.Unlock();  // new requests now wait on the gate itself
  fn();
}

FuseAdapter::OpenFile* FuseAdapter::NewOpenFile(
    fuse_ino_t ino, Ref<vfs::FileDescription> file) {
  int acc = file->flags() & O_ACCMODE;
  bool writer = (acc == O_WRONLY || acc == O_RDWR) && !file->is_path();
  auto* open = new OpenFile{std::move(file), 0};
  if (writer) {
    MutexLock lock(mutex_);
    ++writers_[ino];
    open->writer_of = ino;
  }
  return open;
}

void FuseAdapter::Release(OpenFile* open) {
  if (open->writer_of != 0) {
    MutexLock lock(mutex_);
    auto it = writers_.find(open->writer_of);
    if (it != writers_.end() && --it->second == 0) writers_.erase(it);
  }
  delete open;
}

bool FuseAdapter::HasWriter(fuse_ino_t ino) {
  MutexLock lock(mutex_);
  return writers_.count(ino) != 0;
}

// --- Helpers ---------------------------------------------------------------

vfs::Context FuseAdapter::MakeContext(fuse_req_t req) {
  const fuse_ctx* caller = fuse_req_ctx(req);
  vfs::Credentials creds;
  if (caller->uid == 0) {
    // NOTE: the kernel tells us ids, not capabilities; fsuid 0 is taken to
    // be a full root, as it is for a host process that did not drop caps.
    // Its supplementary groups are not read: with every capability, group
    // membership decides nothing (each in_group_p in Linux's permission
    // and setgid rules sits behind a capability check root passes), and
    // libfuse reads them from /proc/PID/task/TID/status, a file the kernel
    // formats in full on each read: a fifth of a request's time.
    creds = vfs::Credentials::Root();
    creds.fsgid = caller->gid;
  } else {
    std::vector<gid_t> groups(kInlineGroups);
    int n = fuse_req_getgroups(req, kInlineGroups, groups.data());
    if (n > kInlineGroups) {
      groups.resize(static_cast<size_t>(n));
      n = fuse_req_getgroups(req, n, groups.data());
    }
    // A request without a live caller (pid 0, or the task already exited)
    // has no readable group list: fall back to the primary group alone.
    groups.resize(n > 0 ? std::min(static_cast<size_t>(n), groups.size())
                        : 0);
    creds = vfs::Credentials::User(caller->uid, caller->gid, std::move(groups));
  }
  // With FUSE_CAP_DONT_MASK the kernel leaves the umask to us and sends it
  // with create, mkdir and mknod; it is 0 for every other request.
  return vfs::Context{std::move(creds), root_, root_, caller->umask};
}

Result<vfs::Location> FuseAdapter::LookupChild(const vfs::Context& ctx,
                                               const vfs::Location& dir,
                                               std::string_view name) {
  // Checks search permission on `dir` as a path walk does; a symlink is
  // the result, not followed (the kernel follows it, with readlink).
  return vfs_.ResolveAt(ctx, dir, name, AT_SYMLINK_NOFOLLOW);
}

Result<vfs::Attr> FuseAdapter::StatLocation(const vfs::Context& ctx,
                                            const vfs::Location& loc) {
  return vfs_.StatAt(ctx, loc, "", kThisNode);
}

void FuseAdapter::ReplyEntry(fuse_req_t req, const vfs::Context& ctx,
                             const vfs::Location& loc, fuse_ino_t parent,
                             std::string_view name) {
  vfs::Attr attr = VEIL_FUSE_TRY(req, StatLocation(ctx, loc));
  fuse_entry_param entry{};
  entry.ino = Remember(loc, parent, name);
  // Node ids are never reused, so one generation number serves them all.
  entry.generation = 0;
  entry.attr = ToStat(attr);
  entry.attr_timeout = AttrTimeout();
  entry.entry_timeout = EntryTimeout(entry.attr);
  // An interrupted request never reached the kernel: undo its lookup.
  if (fuse_reply_entry(req, &entry) != 0) Forget(entry.ino, 1);
}

void FuseAdapter::ReplyChildEntry(fuse_req_t req, const vfs::Context& ctx,
                                  const vfs::Location& dir, fuse_ino_t parent,
                                  std::string_view name) {
  vfs::Location loc = VEIL_FUSE_TRY(req, LookupChild(ctx, dir, name));
  ReplyEntry(req, ctx, loc, parent, name);
}

Result<std::pair<vfs::Location, std::string>> FuseAdapter::ParentAndName(
    const vfs::Location& loc) {
  vfs::Location cur = loc;
  // A mount's root is named in its parent mount, at its mount point.
  while (cur.dentry.get() == cur.mount->root().get()) {
    std::optional<vfs::Location> up = vfs_.mounts().MountPointOf(*cur.mount);
    if (!up) return Errno(ENOENT);  // the root, or an unmounted tree
    cur = std::move(*up);
  }
  MutexLock lock(cur.dentry->fs().mutex());
  // An unlinked name cannot be opened again (as /proc/PID/fd of a deleted
  // file could be on Linux; see Reopen).
  if (cur.dentry->dead() || !cur.dentry->parent()) return Errno(ENOENT);
  return std::make_pair(
      vfs::Location{cur.mount, Ref<vfs::Dentry>(*cur.dentry->parent())},
      std::string(cur.dentry->name()));
}

Result<Ref<vfs::FileDescription>> FuseAdapter::Reopen(const vfs::Context& ctx,
                                                      const vfs::Location& loc,
                                                      int flags) {
  vfs::OpenHow how;
  how.flags = flags | O_NOFOLLOW;
  // A rename can move the name between ParentAndName and OpenAt; the
  // identity check catches that, and the retry uses the new name.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::optional<Ref<vfs::FileDescription>> file;
    if (loc == root_) {
      // "/" rather than ".": opening a directory needs read permission on
      // it, not search permission.
      file.emplace(VEIL_TRY(vfs_.OpenAt(ctx, root_, "/", how)));
    } else {
      auto [dir, name] = VEIL_TRY(ParentAndName(loc));
      file.emplace(VEIL_TRY(vfs_.OpenAt(ctx, dir, name, how)));
    }
    const vfs::Location& got = (*file)->location();
    if (got.dentry.get() == loc.dentry.get() ||
        (&got.dentry->inode() == &loc.dentry->inode() &&
         got.mount.get() == loc.mount.get()))
      return std::move(*file);
  }
  return Errno(ESTALE);
}

// --- Operations ------------------------------------------------------------

void FuseAdapter::Init(fuse_conn_info* conn) {
  // Let the Vfs apply the caller's umask (the kernel would otherwise apply
  // it first and send a pre-masked mode).
  if (conn->capable & FUSE_CAP_DONT_MASK) conn->want |= FUSE_CAP_DONT_MASK;
  // open(O_TRUNC) arrives as one open, truncated by the Vfs's open path.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
    conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  // The Vfs drops setuid/setgid on write, truncate and chown itself.
  // NOTE: libfuse 3.14 does not pass this flag on to the kernel, so the
  // kernel still sends its own chmod for the writer; see IsKillPriv.
  if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
    conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
  // Writes go through to the Vfs at once; no cached dirty pages whose
  // mtime and size the kernel would own.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  VEIL_LOG(kDebug) << "fuse: init, protocol " << conn->proto_major << "."
                   << conn->proto_minor << ", want 0x" << std::hex
                   << conn->want;
}

Result<std::string_view> FuseName(const char* name) {
  if (std::strchr(name, '/')) return Errno(EINVAL);
  return std::string_view(name);
}

void FuseAdapter::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::string_view child = VEIL_FUSE_TRY(req, FuseName(name));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(parent));
  vfs::Context ctx = MakeContext(req);
  ReplyChildEntry(req, ctx, dir, parent, child);
}

}  // namespace veil::tools
