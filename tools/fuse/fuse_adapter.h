// SPDX-License-Identifier: Apache-2.0
//
// FuseAdapter: serves one veil Vfs to the host kernel through the libfuse3
// low-level API, so people can look at a veil filesystem with ordinary
// tools (DESIGN.md, "The CLI": `veil fuse`). Linux analogue: none; it is
// the user-space half of fs/fuse, with veil's VFS as the file system.
//
// The Vfs decides. Every request runs with the caller's credentials (uid,
// gid, supplementary groups, umask from fuse_req_ctx) through the Vfs's
// own permission checks, and the reply is exactly the errno the Vfs
// returned. Attribute and entry timeouts are 0, so the kernel asks again
// instead of trusting a cache the Vfs could have invalidated.
// NOTE: the mount also uses `default_permissions`, so the kernel applies
// generic_permission to the modes and owners the Vfs just reported (the
// same rules on the same data) before it sends a request. Without it the
// kernel's FUSE client answers some calls itself in an order Linux never
// uses, and skips permission entirely where it never asks the daemon:
//  - may_delete's type checks (EISDIR, ENOTDIR for unlink, rmdir, rename)
//    and may_open's EISDIR come before EACCES and the sticky EPERM;
//  - mknod of a device node is EPERM (CAP_MKNOD) before EACCES;
//  - a FIFO on the mount is the kernel's own pipe (fifo_open), opened with
//    no permission check at all.
// The option was first left off so that only the Vfs would check; it
// still checks everything, and with the option the mount answers every
// caller exactly as Linux would. The adapter is correct either way.
//
// Node ids: FUSE_ROOT_ID is the Vfs root; every other node id stands for
// one file on one mount (so two hard-link names share one node id and the
// kernel sees one inode) and is resolved by name when used, pinning no
// dentry (fuse_nodes.h). Replies carry the Vfs's inode numbers as st_ino.

// Open files and directories: fi->fh holds a heap OpenFile owning a
// Ref<vfs::FileDescription>; release/releasedir free it.
//
// Blocking: a request thread may wait as a Linux process would (an open
// of a FIFO without O_NONBLOCK waits for its peer: vfs/blocking.h), in a
// ThreadWaiter that FUSE_INTERRUPT (the caller got a signal, or was
// killed) and the end of the session (InterruptWaits) interrupt, so no
// thread stays blocked once its caller or the session is gone. In
// practice the kernel never sends one: a FIFO on a FUSE mount is the
// host kernel's own pipe (fuse_init_inode gives special files
// init_special_inode), and reads and writes here are positional, which a
// FIFO refuses (ESPIPE). NOTE: a request waiting holds the gate, so
// RunPaused waits for it too; with -s (one thread) nobody reads the
// FUSE_INTERRUPT while one waits, and only the session's end frees it.
//
// Thread-safety: requests arrive on several threads (fuse_session_loop_mt);
// the node table is guarded by mutex_, the Vfs is thread-safe itself.
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#endif
#include <fuse_lowlevel.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "base/mutex.h"
#include "base/ref.h"
#include "base/result.h"
#include "tools/fuse/fuse_nodes.h"
#include "vfs/file_description.h"
#include "vfs/mount.h"
#include "vfs/vfs.h"
#include "vfs/wait.h"

namespace veil::tools {

class FuseAdapter final {
 public:
  // `vfs` is borrowed: the caller keeps it alive until the session that
  // uses this adapter is destroyed (RunFuse owns both, in that order).
  // `exclusive`: nothing but this mount changes `vfs`, so a file's page
  // cache stays valid from one open to the next (keep_cache); otherwise
  // it is dropped at every open.
  // `synthetic`: the Vfs has files whose content is made when read and
  // whose size says nothing of it (a sandbox's /proc): a regular file
  // that reports size 0 is opened with direct_io, so the kernel asks for
  // its bytes instead of stopping at the size.
  explicit FuseAdapter(vfs::Vfs& vfs, bool exclusive = false,
                       bool synthetic = false);
  ~FuseAdapter();
  FuseAdapter(const FuseAdapter&) = delete;
  FuseAdapter& operator=(const FuseAdapter&) = delete;

  // The operation table to pass to fuse_session_new with `this` as the
  // session's userdata.
  static const fuse_lowlevel_ops& Ops();

  // Runs `fn` while no request is being served: requests under way finish
  // first, new ones wait until it returns (the kernel queues them). For a
  // consistent snapshot of a mounted filesystem. Must not be called from a
  // request, nor do anything that needs the mount (that would wait forever).
  void RunPaused(const std::function<void()>& fn);

  // Ends every wait a request is in (with EINTR) and makes later ones
  // fail at once: the session is ending, and its loop joins the request
  // threads. Any thread, any time.
  void InterruptWaits();

  // Keeps the nodes the kernel holds near `max_nodes` by asking it to
  // forget the oldest (FuseNodes::StartTrimming); StopTrimming after the
  // unmount, before the session is destroyed.
  void StartTrimming(fuse_session* se, size_t max_nodes) {
    nodes_.StartTrimming(se, max_nodes);
  }
  void StopTrimming() { nodes_.StopTrimming(); }

  // The attribute and entry timeouts in seconds. 0 where others change
  // the Vfs too (the Vfs is the authority: asked every time). Where this
  // mount is the Vfs's only writer (`exclusive`), the kernel may keep
  // attributes, and the names of directories: every change passes
  // through it, and it drops or updates what each change makes stale (a
  // parent's attributes after a create, unlink or rename in it, an
  // inode's after a link, unlink, rename over it or write; fs/fuse), so
  // a path's directories are not looked up again for each call, nor a
  // file's attributes fetched again right after its lookup. The names of
  // other files stay at 0: a node is resolved by the name it was last
  // looked up under (fuse_nodes.h), and a hard link's cached other name
  // would reach it by a name that was since replaced.
  double AttrTimeout() const { return dir_timeout_; }
  double EntryTimeout(const struct stat& st) const {
    return S_ISDIR(st.st_mode) ? dir_timeout_ : 0.0;
  }
  static constexpr double kExclusiveDirTimeout = 86400.0;

 private:
  struct Dispatch;  // the fuse_lowlevel_ops trampolines (fuse_adapter.cc)

  // What fi->fh points at.
  struct OpenFile {
    Ref<vfs::FileDescription> file;
    // The node this description may write to, counted in writers_; 0 for
    // a read-only description (and directories).
    fuse_ino_t writer_of = 0;
  };

  // --- Node table (fuse_nodes.h) ------------------------------------------
  Result<vfs::Location> Find(fuse_ino_t ino) { return nodes_.Find(ino); }
  fuse_ino_t Remember(const vfs::Location& loc, fuse_ino_t parent,
                      std::string_view name) {
    return nodes_.Remember(loc, parent, name);
  }
  void Forget(fuse_ino_t ino, uint64_t count) { nodes_.Forget(ino, count); }
  // Wraps `file` (open on node `ino`) for fi->fh, counting it in writers_
  // if it is open for writing. Released by Release (release/releasedir,
  // or the opener when its reply fails).
  OpenFile* NewOpenFile(fuse_ino_t ino, Ref<vfs::FileDescription> file);
  void Release(OpenFile* open);
  // True while some description open for writing refers to `ino`.
  bool HasWriter(fuse_ino_t ino);

  // --- Helpers (fuse_adapter.cc) ------------------------------------------
  // The caller's Vfs context: credentials, root and cwd, umask.
  vfs::Context MakeContext(fuse_req_t req);
  // The child `name` of `dir` without following a final symlink (a path
  // walk step, with its search-permission check).
  Result<vfs::Location> LookupChild(const vfs::Context& ctx,
                                    const vfs::Location& dir,
                                    std::string_view name);
  // Stats `loc` (`name` in directory node `parent`), counts a lookup and
  // replies with the entry. On a failed reply (interrupted request) the
  // lookup is undone.
  void ReplyEntry(fuse_req_t req, const vfs::Context& ctx,
                  const vfs::Location& loc, fuse_ino_t parent,
                  std::string_view name);
  // Looks `name` up in `dir` (node `parent`) and replies with it: the
  // tail of every create-like operation.
  void ReplyChildEntry(fuse_req_t req, const vfs::Context& ctx,
                       const vfs::Location& dir, fuse_ino_t parent,
                       std::string_view name);
  // The directory holding `loc`'s current name, and the name. open(2) has
  // no AT_EMPTY_PATH, so a node is reopened by name in its parent.
  Result<std::pair<vfs::Location, std::string>> ParentAndName(
      const vfs::Location& loc);
  // Opens the inode at `loc` again with `flags`, checking that the name
  // still leads to that inode (ESTALE/ENOENT when it was replaced).
  Result<Ref<vfs::FileDescription>> Reopen(const vfs::Context& ctx,
                                           const vfs::Location& loc, int flags);
  // Completes `file`'s open, waiting if it must (a FIFO's peer) until it
  // can, the request is interrupted, or the session ends (EINTR).
  Result<void> WaitOpen(fuse_req_t req, vfs::FileDescription& file);

  // True if a setattr mode change is the kernel removing setuid/setgid
  // for a writer (see the definition), to be applied with root rights.
  bool IsKillPriv(const vfs::Context& ctx, fuse_ino_t ino,
                  const vfs::Location& loc, mode_t mode);
  // True if an empty setattr is the kernel's leftover of a setgid removal
  // before a write (see the definition), not a chown(-1, -1).
  bool IsDroppedKillSgid(fuse_ino_t ino, const vfs::Location& loc);
  Result<vfs::Attr> StatLocation(const vfs::Context& ctx,
                                 const vfs::Location& loc);

  // --- Operations ----------------------------------------------------------
  // fuse_adapter.cc: init and lookup (forget is Forget above).
  void Init(fuse_conn_info* conn);
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  // fuse_ops_attr.cc: attributes.
  void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void SetAttr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr,
               int to_set, fuse_file_info* fi);
  void Readlink(fuse_req_t req, fuse_ino_t ino);
  void StatFs(fuse_req_t req, fuse_ino_t ino);
  void Access(fuse_req_t req, fuse_ino_t ino, int mask);
  // fuse_ops_dir.cc: names and directories.
  void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
             dev_t rdev);
  void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name, int flags);
  void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent,
               const char* name);
  void Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
              fuse_ino_t new_parent, const char* new_name, unsigned flags);
  void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
            const char* new_name);
  void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void ReadDir(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
  // fuse_ops_file.cc: open files and extended attributes.
  void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi);
  void Read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
  void Write(fuse_req_t req, const char* buf, size_t size, off_t off,
             fuse_file_info* fi);
  void Fsync(fuse_req_t req, fuse_file_info* fi);
  void Fallocate(fuse_req_t req, int mode, off_t off, off_t len,
                 fuse_file_info* fi);
  void Lseek(fuse_req_t req, off_t off, int whence, fuse_file_info* fi);
  void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                const char* value, size_t size, int flags);
  void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name);

  static OpenFile& FileOf(const fuse_file_info* fi) {
    return *reinterpret_cast<OpenFile*>(fi->fh);
  }

  vfs::Vfs& vfs_;  // borrowed; see the constructor
  const bool exclusive_;
  const bool synthetic_;
  const double dir_timeout_;  // 0, or kExclusiveDirTimeout
  const vfs::Location root_;
  const vfs::Context root_ctx_;  // full root, for forced changes

  SharedMutex gate_;  // shared per request, exclusive in RunPaused
  Mutex turnstile_;    // held by RunPaused while it waits for gate_
  FuseNodes nodes_;
  Mutex mutex_;
  // Node id -> descriptions open for writing on it.
  std::unordered_map<fuse_ino_t, uint32_t> writers_ VEIL_GUARDED_BY(mutex_);
  // The waiters of requests waiting now (borrowed from their stack
  // frames, removed before they go), and whether InterruptWaits has run.
  std::set<vfs::ThreadWaiter*> waits_ VEIL_GUARDED_BY(mutex_);
  bool stopping_ VEIL_GUARDED_BY(mutex_) = false;
};

// The struct stat libfuse sends: the VFS's (vfs/attr.h).
using vfs::ToStat;

// A name from the kernel as a single path component: EINVAL if it holds a
// '/', which would make the Vfs walk further than the kernel asked.
Result<std::string_view> FuseName(const char* name);

}  // namespace veil::tools

// VEIL_FUSE_TRY(req, expr): evaluates a Result<T>; on failure replies to
// `req` with its errno and returns from the (void) operation, otherwise
// yields the value. Keeps "exactly one reply per request" visible: every
// early exit of an operation is a reply.
#define VEIL_FUSE_TRY(req, expr)                          \
  __extension__({                                         \
    auto _veil_result = (expr);                           \
    if (!_veil_result.has_value()) {                      \
      fuse_reply_err((req), _veil_result.error().code()); \
      return;                                             \
    }                                                     \
    std::move(_veil_result).value();                      \
  })

#define VEIL_FUSE_TRY_VOID(req, expr)                     \
  do {                                                    \
    auto _veil_result = (expr);                           \
    if (!_veil_result.has_value()) {                      \
      fuse_reply_err((req), _veil_result.error().code()); \
      return;                                             \
    }                                                     \
  } while (0)
