// SPDX-License-Identifier: Apache-2.0
//
// FuseAdapter: open files (open, create, read, write, fsync, fallocate,
// lseek) and extended attributes.
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tools/fuse/fuse_adapter.h"
#include "vfs/blocking.h"

namespace veil::tools {
namespace {

constexpr int kThisNode = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;

// include/linux/fs.h __FMODE_EXEC: the kernel's open for execve(2) carries
// it in the open flags FUSE forwards. Not a user-visible open(2) flag.
constexpr int kFmodeExec = 0x20;

// Opens that the kernel sends with flags the Vfs must not see again: the
// creation flags were handled by the lookup/create split.
constexpr int kNotForReopen = O_CREAT | O_EXCL | O_NOCTTY | kFmodeExec;

// FUSE_INTERRUPT for a request that waits: libfuse calls this with the
// request's lock held, and clearing the callback takes that lock, so it
// never runs on a waiter that is gone.
void InterruptWaiter(fuse_req_t, void* waiter) {
  static_cast<vfs::ThreadWaiter*>(waiter)->Interrupt();
}

}  // namespace

Result<void> FuseAdapter::WaitOpen(fuse_req_t req, vfs::FileDescription& file) {
  Result<void> done = file.CompleteOpen();
  if (done || !vfs::IsWouldBlock(done.error())) return done;
  vfs::ThreadWaiter waiter;
  {
    MutexLock lock(mutex_);
    // The session is ending: as a signal would, end the open at once.
    if (stopping_) return Errno(EINTR);
    waits_.insert(&waiter);
  }
  fuse_req_interrupt_func(req, InterruptWaiter, &waiter);
  done = vfs::CompleteOpenBlocking(file, waiter);
  fuse_req_interrupt_func(req, nullptr, nullptr);
  MutexLock lock(mutex_);
  waits_.erase(&waiter);
  return done;
}

void FuseAdapter::InterruptWaits() {
  MutexLock lock(mutex_);
  stopping_ = true;
  for (vfs::ThreadWaiter* waiter : waits_) waiter->Interrupt();
}

void FuseAdapter::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  vfs::Context ctx = MakeContext(req);
  // Without default_permissions the kernel only checks that some x bit is
  // set before execve; may_open's MAY_EXEC check for this caller is ours.
  if (fi->flags & kFmodeExec)
    VEIL_FUSE_TRY_VOID(req, vfs_.AccessAt(ctx, loc, "", X_OK, kThisNode));
  int flags = fi->flags & ~kNotForReopen;
  // Reopening goes by name, and a racing rename could swap the name's
  // file: never truncate before Reopen has checked it is our inode. A
  // writable open truncates through the new description (ftruncate stamps
  // the times and drops setuid/setgid exactly as open's truncate does).
  // O_RDONLY|O_TRUNC is rare enough to keep the plain path, and so is
  // access mode 3 (O_ACCMODE), whose description cannot write (ftruncate
  // would be EINVAL) although open(2) truncates for it.
  int acc = flags & O_ACCMODE;
  bool truncate_after = (flags & O_TRUNC) && (acc == O_WRONLY || acc == O_RDWR);
  if (truncate_after) flags &= ~O_TRUNC;
  Ref<vfs::FileDescription> file = VEIL_FUSE_TRY(req, Reopen(ctx, loc, flags));
  // A FIFO without O_NONBLOCK waits for its peer (never sent by the
  // kernel; see fuse_adapter.h). Given up, the description goes and takes
  // its reader or writer count with it.
  VEIL_FUSE_TRY_VOID(req, WaitOpen(req, *file));
  if (truncate_after && file->inode().IsRegular())
    VEIL_FUSE_TRY_VOID(req, vfs_.Ftruncate(ctx, *file, 0));
  OpenFile* open = NewOpenFile(ino, std::move(file));
  fi->fh = reinterpret_cast<uint64_t>(open);
  // Page cache yes (mmap and exec need it). Kept from one open to the next
  // only if this mount is the Vfs's only writer: every change then passes
  // through the kernel, which keeps the cache in step (writes, truncates).
  fi->keep_cache = exclusive_ ? 1 : 0;
  fi->direct_io = 0;
  if (synthetic_ && open->file->inode().IsRegular()) {
    Result<vfs::Attr> attr = open->file->Stat();
    if (attr && attr->size == 0) fi->direct_io = 1;
  }
  if (fuse_reply_open(req, fi) != 0) Release(open);  // else release does
}

void FuseAdapter::Create(fuse_req_t req, fuse_ino_t parent, const char* name,
                         mode_t mode, fuse_file_info* fi) {
  std::string_view child = VEIL_FUSE_TRY(req, FuseName(name));
  vfs::Location dir = VEIL_FUSE_TRY(req, Find(parent));
  vfs::Context ctx = MakeContext(req);
  vfs::OpenHow how;
  how.flags = (fi->flags & ~kFmodeExec) | O_CREAT;
  how.mode = mode;
  Ref<vfs::FileDescription> file =
      VEIL_FUSE_TRY(req, vfs_.OpenAt(ctx, dir, child, how));
  vfs::Attr attr = VEIL_FUSE_TRY(req, file->Stat());
  fuse_entry_param entry{};
  entry.ino = Remember(file->location(), parent, child);
  entry.attr = ToStat(attr);
  entry.attr_timeout = AttrTimeout();
  entry.entry_timeout = EntryTimeout(entry.attr);
  OpenFile* open = NewOpenFile(entry.ino, std::move(file));
  fi->fh = reinterpret_cast<uint64_t>(open);
  fi->keep_cache = exclusive_ ? 1 : 0;
  fi->direct_io = 0;
  if (fuse_reply_create(req, &entry, fi) != 0) {
    Release(open);         // else release does
    Forget(entry.ino, 1);  // the kernel never saw the entry
  }
}

void FuseAdapter::Read(fuse_req_t req, size_t size, off_t off,
                       fuse_file_info* fi) {
  auto buf = std::make_unique_for_overwrite<uint8_t[]>(size);
  size_t n = VEIL_FUSE_TRY(
      req, FileOf(fi).file->PRead(std::span<uint8_t>(buf.get(), size), off));
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.get()), n);
}

void FuseAdapter::Write(fuse_req_t req, const char* buf, size_t size, off_t off,
                        fuse_file_info* fi) {
  // O_APPEND lives in the description: the Vfs appends at its own end of
  // file whatever offset the kernel computed.
  // The writer's credentials (not the opener's) decide whether setuid and
  // setgid go, as file_remove_privs judges the current task.
  std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(buf), size);
  size_t n = VEIL_FUSE_TRY(
      req, FileOf(fi).file->PWrite(MakeContext(req).creds, data, off));
  fuse_reply_write(req, n);
}

void FuseAdapter::Fsync(fuse_req_t req, fuse_file_info* fi) {
  VEIL_FUSE_TRY_VOID(req, FileOf(fi).file->impl().Sync());
  fuse_reply_err(req, 0);
}

void FuseAdapter::Fallocate(fuse_req_t req, int mode, off_t off, off_t len,
                            fuse_file_info* fi) {
  VEIL_FUSE_TRY_VOID(
      req, FileOf(fi).file->Allocate(MakeContext(req).creds, mode, off, len));
  fuse_reply_err(req, 0);
}

void FuseAdapter::Lseek(fuse_req_t req, off_t off, int whence,
                        fuse_file_info* fi) {
  // The kernel asks only for SEEK_DATA/SEEK_HOLE and keeps the file
  // position itself; the description's own offset is never used for I/O
  // here (read and write are positional).
  int64_t pos = VEIL_FUSE_TRY(req, FileOf(fi).file->Seek(off, whence));
  fuse_reply_lseek(req, pos);
}

// --- Extended attributes ---------------------------------------------------
//
// A size of 0 asks for the length only; a value longer than `size` is
// ERANGE, as getxattr(2)/listxattr(2) with a short buffer.

namespace {

void ReplyXattr(fuse_req_t req, std::string_view value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (value.size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

}  // namespace

void FuseAdapter::SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                           const char* value, size_t size, int flags) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  VEIL_FUSE_TRY_VOID(
      req, vfs_.SetXattrAt(MakeContext(req), loc, "", name,
                           std::string_view(value, size), flags, kThisNode));
  fuse_reply_err(req, 0);
}

void FuseAdapter::GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                           size_t size) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  std::string value = VEIL_FUSE_TRY(
      req, vfs_.GetXattrAt(MakeContext(req), loc, "", name, kThisNode));
  ReplyXattr(req, value, size);
}

void FuseAdapter::ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  std::vector<std::string> names = VEIL_FUSE_TRY(
      req, vfs_.ListXattrAt(MakeContext(req), loc, "", kThisNode));
  std::string list;  // "name\0name\0...", as listxattr(2) returns
  for (const std::string& n : names) {
    list.append(n);
    list.push_back('\0');
  }
  ReplyXattr(req, list, size);
}

void FuseAdapter::RemoveXattr(fuse_req_t req, fuse_ino_t ino,
                              const char* name) {
  vfs::Location loc = VEIL_FUSE_TRY(req, Find(ino));
  VEIL_FUSE_TRY_VOID(
      req, vfs_.RemoveXattrAt(MakeContext(req), loc, "", name, kThisNode));
  fuse_reply_err(req, 0);
}

}  // namespace veil::tools
