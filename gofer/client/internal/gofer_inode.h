// SPDX-License-Identifier: Apache-2.0
//
// GoferInode: one file of a GoferFs (every type in one class, as tmpfs).
// Linux analogue: a v9fs/NFS inode; gVisor: gofer.dentry.
//
// Identity: the control FDID this inode owns names one host file on the
// server; `key()` is that file's (st_dev, st_ino), which never changes.
// GoferFs keeps one live inode per key, so two hard links share one inode
// as on Linux.
//
// Attributes: the server's Statx, cached (compactly: CachedStat).
// `stale_` says the server may have changed them since (a write, an
// unlink, a setattr) and the next RefreshLocked() fetches them; in a
// shared tree (FileAccess::kShared) every refresh asks, but for the one
// right after a lookup or revalidation brought them (`fresh_`). The type,
// mode and owner are exact without a refresh in an exclusive tree: only
// this client changes them, and it records what it set.
//
// Handles: an open for reading uses a shared read-only handle (an open
// FDID, with the host descriptor the server donates for regular files), an
// open for writing a read-write one; the inode finds them in the
// filesystem's HandleCache, which keeps them while files use them and a
// bounded number of idle ones longer (handle_cache.h). Open files hold
// the handles they use, so their FDIDs stay valid until they close.
//
// Memory: an inode is what a cached name costs beyond its dentry, so it
// keeps in line only what every file needs (the FDID, the attributes, the
// first name); the rest (a writer's mutex, a symlink's target, an
// immutable directory's listing, a FIFO, more names) is made on first
// need.
//
// Ownership: refcounted (vfs::Inode). Dies with its last dentry or open
// file (an evicted dentry's inode too); its FDIDs are then queued for
// Close (FdReaper, which sends them in batches) and it leaves the GoferFs
// index. Thread-safety: state is guarded by the filesystem mutex except
// `stale_` and the parent's inode number (atomics, set by I/O paths
// without the lock) and the write mutex (see gofer_fs.h for the lock
// order).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/unique_fd.h"
#include "gofer/client/gofer_fs.h"
#include "gofer/client/internal/cached_stat.h"
#include "gofer/client/internal/handle_cache.h"
#include "lisafs/client.h"
#include "vfs/fifo.h"
#include "vfs/file_description.h"

namespace veil::gofer::client::internal {

// Fails with EIO unless `st` carries what the VFS needs (type, mode, link
// count, owner, inode number, size) with a valid file type.
Result<void> CheckStatx(const lisafs::Statx& st);
HostKey KeyOf(const lisafs::Statx& st);
timespec ToTimespec(const lisafs::Timestamp& t);

class GoferInode final : public vfs::Inode {
 public:
  GoferInode(GoferFs& fs, uint64_t ino, lisafs::FdId control,
             const lisafs::Statx& stat);
  ~GoferInode() override;

  // ^vfs::Inode (gofer_inode.cc: attributes, symlinks, xattrs, open)
  vfs::Attr GetAttrLocked() override;
  Result<void> SetAttrLocked(const vfs::SetAttr& attr) override;
  // FIFO writes (vfs/fifo.h): mtime and ctime now, through the server.
  void StampModifiedLocked() override;
  Result<std::unique_ptr<vfs::FileImpl>> OpenLocked(int flags) override;
  Result<std::string> ReadlinkLocked() override;
  Result<std::string> GetXattrLocked(std::string_view name) override;
  Result<void> SetXattrLocked(std::string_view name, std::string_view value,
                              int flags) override;
  Result<std::vector<std::string>> ListXattrLocked() override;
  Result<void> RemoveXattrLocked(std::string_view name) override;

  // (gofer_dir.cc: the namespace)
  Result<Ref<vfs::Inode>> LookupLocked(std::string_view name) override;
  // For a filesystem stacked on this one (the overlay's lower): the whole
  // listing is read from the server on every call (once, in an immutable
  // tree), "." and ".." first; cookies are positions in it, stable while
  // the tree is this client's.
  Result<void> ReadDirLocked(uint64_t cookie,
                             const vfs::DirEmitter& emit) override;
  Result<Ref<vfs::Inode>> CreateLocked(std::string_view name,
                                       const vfs::CreateSpec& spec) override;
  Result<void> LinkLocked(std::string_view name, vfs::Inode& target) override;
  Result<void> UnlinkLocked(std::string_view name, vfs::Inode& child) override;
  Result<void> RenameLocked(std::string_view name, vfs::Inode& child,
                            vfs::Inode& new_dir, std::string_view new_name,
                            vfs::Inode* replaced, unsigned flags) override;

  GoferFs& gofer() const { return static_cast<GoferFs&>(fs()); }
  lisafs::Client& client() const { return gofer().client(); }
  // The host file's identity; it never changes, but is read from the
  // cached attributes: caller holds the filesystem mutex (or is the last
  // owner).
  HostKey key() const { return stat_.key(); }
  lisafs::FdId control_fd() const { return control_; }

  // --- Attributes -------------------------------------------------------
  // Fetches the attributes if stale (always when revalidating). EIO once
  // the inode is broken; the server's errno if FStat fails.
  Result<void> RefreshLocked();
  // Takes a fresh Statx from a reply. EIO (and the inode is broken) if it
  // is unusable or names another file.
  Result<void> UpdateStatLocked(const lisafs::Statx& stat);
  void MarkStale() { stale_.store(true, std::memory_order_relaxed); }
  bool stale() const { return stale_.load(std::memory_order_relaxed); }
  // The attributes just came from the server (a Walk or WalkStat reply):
  // in a shared tree they answer the next refresh without asking again.
  void NoteFreshLocked() { fresh_ = true; }
  // After the host read the file (data, entries, link target): marks the
  // attributes stale if the relatime rule moves its atime.
  void NoteAccessLocked();
  // Linux relatime: would an access now move the atime? (True whenever
  // the cached attributes cannot tell.)
  bool AtimeWouldUpdateLocked() const;
  const CachedStat& stat_locked() const { return stat_; }
  Result<void> CheckUsableLocked() const;

  // --- Names (gofer_dir.cc) ----------------------------------------------
  // The names this client knows a non-directory by. A server that reopens
  // files through the name it last saw (the gofer: no /proc) answers
  // ESTALE once that name is gone while another link remains; walking a
  // name we know tells it again, and the call is retried once.
  void AddNameLocked(GoferInode& dir, std::string_view name);
  void RemoveNameLocked(GoferInode& dir, std::string_view name);
  // Sends `req`; on ESTALE re-walks a known name and sends it once more.
  template <typename Req>
  Result<lisafs::Reply<typename Req::Response>> CallLocked(const Req& req) {
    auto reply = client().Call(req);
    if (!reply && reply.error().code() == ESTALE && RelearnLocked())
      return client().Call(req);
    return reply;
  }

  // --- Open files (gofer_file.cc, gofer_dir_file.cc) ---------------------
  // The shared handle of `kind`: the cached one, or a new one (OpenAt).
  // If the server (ENFILE, EMFILE) or this process (EMFILE) is out of
  // descriptors, idle cached handles are released and the open is tried
  // once more. Errors: the server's errno for OpenAt.
  Result<std::shared_ptr<const Handle>> EnsureHandleLocked(HandleKind kind);
  // A descriptor the server donated with a handle of `kind`, if it is
  // one to take (a regular file open as the handle is; a writable one
  // only with GoferFsOptions::writable_donations), else closed.
  UniqueFd CheckDonated(UniqueFd host, HandleKind kind);
  // file_remove_privs: drops S_ISUID/S_ISGID after a data change by a
  // caller without CAP_FSETID (the server writes as root and never would).
  Result<void> RemovePrivsLocked(const vfs::Credentials& creds);
  // Serialises writes to this file (Linux i_rwsem), so that an O_APPEND
  // write lands at the end. Taken before the filesystem mutex.
  Mutex& write_mutex() { return EnsureExtra().write_mu; }

  // --- Directories --------------------------------------------------------
  // st_ino of the parent, for "..".
  uint64_t parent_ino() const {
    Extra* e = extra();
    return e ? e->parent_ino.load(std::memory_order_relaxed) : 0;
  }
  void set_parent_ino(uint64_t ino) {
    EnsureExtra().parent_ino.store(ino, std::memory_order_relaxed);
  }
  // True once this directory was removed through us (getdents: ENOENT).
  bool removed_locked() const { return removed_; }
  // An immutable tree's directories keep their listing (FileAccess::
  // kImmutable): the entries after "." and "..", in the server's order.
  struct ListedEntry {
    std::string name;
    uint64_t ino;
    uint8_t type;
  };
  const std::vector<ListedEntry>* listing_locked() const {
    Extra* e = extra();
    return e && e->has_listing ? &e->listing : nullptr;
  }
  void set_listing_locked(std::vector<ListedEntry> entries) {
    Extra& e = EnsureExtra();
    e.listing = std::move(entries);
    e.has_listing = true;
  }

 private:
  friend class ::veil::gofer::GoferFs;  // live_next_

  // What only some inodes need, made on first need (EnsureExtra): most
  // cached files never write, read a link, list or open a FIFO, and have
  // one name (vfs/README.md, "Dentry cache": a cached name's cost).
  struct Extra {
    Mutex write_mu;
    std::atomic<uint64_t> parent_ino{0};  // directories
    // Guarded by the filesystem mutex.
    bool has_target = false;
    std::string target;  // symlinks: the target, once read (immutable)
    bool has_listing = false;
    std::vector<ListedEntry> listing;  // directories of an immutable tree
    // FIFOs, while open: the sentry's own pipe (vfs/fifo.h), never a host
    // FIFO, so a sandbox's FIFO cannot connect to a host process.
    std::unique_ptr<vfs::FifoPipe> fifo;
    // Names past the first (hard links), oldest first.
    std::vector<std::pair<Ref<GoferInode>, std::string>> more_names;
  };
  // Thread-safe (a compare-and-swap, like Inode::locks()).
  Extra& EnsureExtra();
  Extra* extra() const { return extra_.load(std::memory_order_acquire); }

  // A name in one allocation: its length (NAME_MAX fits a byte), then its
  // bytes. 8 bytes when empty.
  class PackedName {
   public:
    PackedName() = default;
    PackedName(const PackedName&) = delete;
    PackedName& operator=(const PackedName&) = delete;
    ~PackedName() { delete[] p_; }
    void Set(std::string_view name);
    void Clear() {
      delete[] p_;
      p_ = nullptr;
    }
    bool empty() const { return p_ == nullptr; }
    std::string_view view() const {
      return p_ ? std::string_view(p_ + 1, static_cast<uint8_t>(p_[0]))
                : std::string_view();
    }

   private:
    char* p_ = nullptr;
  };

  Result<std::unique_ptr<vfs::FileImpl>> OpenFileLocked(int flags);
  Result<std::unique_ptr<vfs::FileImpl>> OpenDirLocked();
  // Sends `req` (mask already filled) and records what changed.
  Result<void> SetStatLocked(lisafs::SetStatReq req);
  // A just-created child whose mode or owner the server did not apply as
  // asked gets them set explicitly.
  Result<void> FixCreatedLocked(GoferInode& child, const vfs::CreateSpec& spec);
  Result<Ref<GoferInode>> CreateNodeLocked(std::string_view name,
                                           const vfs::CreateSpec& spec);
  // Walks one of the names we know that still leads to this file; true if
  // one did.
  bool RelearnLocked();
  // The whole listing from the server, after "." and "..".
  Result<std::vector<ListedEntry>> FetchListingLocked();

  // Declared first: they fit in vfs::Inode's tail padding.
  std::atomic<bool> stale_{false};
  bool broken_ = false;  // Guarded by the filesystem mutex: the server lied
  bool removed_ = false;  // Guarded by the filesystem mutex.
  bool fresh_ = false;    // Guarded by the filesystem mutex: NoteFreshLocked
  const lisafs::FdId control_;
  CachedStat stat_;  // Guarded by the filesystem mutex.
  // GoferFs's index of live inodes (Guarded by GoferFs::map_mu_).
  GoferInode* live_next_ = nullptr;
  std::atomic<Extra*> extra_{nullptr};  // owned; deleted in ~GoferInode
  // Non-directories of a tree that may change: the first name this client
  // knows the file by (directory, name). Holding the directory keeps its
  // control FDID open; it holds nothing of ours, so this makes no cycle.
  // Guarded by the filesystem mutex.
  RefPtr<GoferInode> name_dir_;
  PackedName name_;
};

}  // namespace veil::gofer::client::internal
