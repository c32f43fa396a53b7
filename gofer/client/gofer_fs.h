// SPDX-License-Identifier: Apache-2.0
//
// GoferFs: a vfs::Filesystem whose files live on a LISAFS server (the
// gofer). Linux analogue: a network filesystem's super_block (v9fs, NFS);
// gVisor analogue: pkg/sentry/fsimpl/gofer.
//
//   auto client = VEIL_TRY(lisafs::Client::Create(std::move(channel)));
//   Ref<GoferFs> fs = VEIL_TRY(GoferFs::Create(std::move(client)));
//   vfs::Vfs vfs(fs);
//
// Each inode names its file on the server by a control FDID (from Walk or
// a create call); opening a regular file opens shared per-inode handles
// (open FDIDs), reads go through a host descriptor the server donated when
// there is one, else PRead; writes are PWrite. The VFS does every
// permission check with the caller's credentials; the server acts as root,
// and files are created with the caller's fsuid/fsgid through the create
// messages' uid/gid fields.
//
// Caching (FileAccess, gVisor's --file-access). kExclusive (the default):
// the tree is this sandbox's alone: every change goes through this client,
// so the names the VFS caches stay true and cached attributes are exact. A
// change whose reply carries no attributes (write, unlink, setattr, ...)
// marks the inodes it touched stale and the next GetAttr fetches them
// once; reads mark a file stale only when the host's relatime rule says
// its atime moves. kShared (a tree the host also changes): the VFS
// revalidates a cached name before it uses it (RevalidateLocked: one
// WalkStat for the cached names along a path), every attribute query and
// readlink asks the server again (the attributes a lookup or revalidation
// just brought serve the one query that follows), and directory listings
// are read from the server on every open and rewind. kImmutable (a rootfs's
// read-only lower): nothing changes, so listings are kept too.
//
// Trust: the server's replies are untrusted. The lisafs client checks
// their framing; GoferFs checks their meaning: a Statx must carry the
// fields the VFS needs, a file may never change type or identity under the
// same FDID, a created file must have the type asked for, a new link must
// name its target, directory entries must be valid names. A reply that
// fails is EIO, and an inode whose server lied is broken (EIO ever after).
//
// FDID lifetime: an FDID belongs to exactly one inode, open directory
// stream or open handle and is closed (a batched Close, on a background
// thread so that no inode destruction waits for the server) when that
// owner dies. Open handles live as long as an open file uses them, and
// a bounded number longer (HandleCache), never as long as the inode.
//
// Ownership: refcounted like every Filesystem. Owns the lisafs::Client;
// destroying the filesystem closes every FDID and then the connection.
//
// Locking (lock order, outermost first):
//   GoferInode::write_mutex (one file's writes, as i_rwsem)
//   or a directory stream's mutex
//     Filesystem::mutex()  (all cached names and attributes)
//       GoferFs::map_mu_, HandleCache's mutex, FdReaper's mutex,
//       lisafs::Client's mutex (leaves)
// Server round trips happen with the filesystem mutex held only where the
// VFS contract needs their answer under it (lookups, revalidation, creates,
// setattr); file data I/O runs without it.
#pragma once

#include <sys/statfs.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/ref.h"
#include "base/result.h"
#include "lisafs/types.h"
#include "vfs/filesystem.h"
#include "vfs/inode.h"

namespace veil::lisafs {
class Client;
}

namespace veil::gofer {

namespace client::internal {
class FdReaper;
class GoferInode;
class HandleCache;
// (st_dev, st_ino) as the server reports them: a host file's identity.
struct HostKey {
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t ino = 0;
  auto operator<=>(const HostKey&) const = default;
};
}  // namespace client::internal

// Who else changes the tree a GoferFs serves, and so what the client may
// keep (gVisor: runsc --file-access=exclusive|shared; the immutable mode is
// its overlay lower's).
enum class FileAccess : uint8_t {
  // Only this client: cached names and attributes stay true (a sandbox's
  // own tree, the tests' servers). Changes this client makes mark what
  // they touched stale; nothing else is asked again.
  kExclusive,
  // The host changes it too (`veil fuse --gofer`, a sandbox's bind
  // mounts): a cached name is revalidated before the VFS uses it (one
  // WalkStat round trip, batched along a path: same host file -> kept, its
  // attributes refreshed; gone -> ENOENT; another file -> a fresh inode,
  // the old one living on for whoever has it open), every attribute query
  // and readlink asks the server again, every open or rewind of a
  // directory reads its listing afresh, and a rename that the VFS thinks
  // replaces nothing never clobbers a name made behind its back.
  kShared,
  // Nobody: the tree never changes and the server exports it read-only (a
  // rootfs's lower layer: `veil gofer --ro`, and DIR must not change while
  // mounted). As on a read-only mount, reading never moves an atime (no
  // attribute refresh after reads), and each directory's listing is read
  // from the server once and kept. No round trip beyond the first lookup.
  kImmutable,
};

struct GoferFsOptions {
  FileAccess access = FileAccess::kExclusive;
  // The most open handles (an open FDID, and maybe a donated descriptor)
  // kept for files nobody has open, so that opening them again costs no
  // round trip (internal/handle_cache.h). 0: 1024, or an eighth of
  // RLIMIT_NOFILE's soft limit if that is less.
  size_t max_cached_handles = 0;
  // Whether descriptors the server donates for files opened for writing
  // are taken (for the sentry's data plane: veil do's read-write binds,
  // whose gofer runs with --donate-writable). By default only read-only
  // regular files' are, which can do no more than PRead could.
  enum class WritableDonations : uint8_t { kRefuse, kTake };
  WritableDonations writable_donations = WritableDonations::kRefuse;
};

// Whether a reply's file may already have a live inode.
enum class Freshness : uint8_t {
  kExisting,  // a lookup: reuse the inode of the same host file
  kCreated,   // just created: a live inode with its key is a leftover
};

class GoferFs final : public vfs::Filesystem {
 public:
  // Serves the tree `client` mounted. Errors: EIO if the server's root is
  // not a directory or its attributes are unusable.
  static Result<Ref<GoferFs>> Create(std::unique_ptr<lisafs::Client> client,
                                     const GoferFsOptions& options = {});

  const char* TypeName() const override { return "gofer"; }
  Ref<vfs::Inode> Root() override;
  // FStatFS of the root. Caller holds mutex().
  Result<struct statfs> StatFsLocked() override;

  const GoferFsOptions& options() const { return options_; }
  bool shared() const { return options_.access == FileAccess::kShared; }
  bool immutable() const { return options_.access == FileAccess::kImmutable; }

  // ^vfs::Filesystem: names are revalidated in a shared tree only
  // (internal/gofer_revalidate.cc).
  bool NamesNeedRevalidation() const override { return shared(); }
  // One WalkStat from `dir` down `names`; each cached inode is compared
  // with what the host has there now by host identity (st_dev, st_ino),
  // type and birth time. Errors: the server's errno for the walk; EIO for
  // unusable attributes.
  Result<std::vector<vfs::NameVerdict>> RevalidateLocked(
      vfs::Inode& dir, std::span<const std::string> names,
      std::span<vfs::Inode* const> cached) VEIL_REQUIRES(mutex()) override;
  lisafs::Client& client() const { return *client_; }

  // Queues `fd` for Close. Never waits for the server, so it is safe from
  // destructors and under any lock.
  void ReleaseFd(lisafs::FdId fd);
  // Waits until every FDID released so far is closed on the server.
  void FlushReleasedFds();
  // The open handles of files nobody has open (bounded; see
  // GoferFsOptions::max_cached_handles).
  client::internal::HandleCache& handles() const { return *handles_; }

  // The inode for a file the server just named: the live inode of the same
  // host file (whose attributes are refreshed from `reply`; the new control
  // FDID is released), or a new one owning reply.control_fd. Errors: EIO
  // for unusable attributes (the FDID is released). Caller holds mutex().
  Result<Ref<client::internal::GoferInode>> InodeForLocked(
      const lisafs::Inode& reply, Freshness freshness);
  // st_ino for a host file: its own number on the root's device, a number
  // of our own (bit 63 set) for files on other host devices.
  uint64_t InoFor(const client::internal::HostKey& key);
  // Called by a dying inode.
  void Forget(const client::internal::GoferInode& inode);

  size_t LiveInodesForTesting();

 private:
  friend class RefCounted<vfs::Filesystem>;
  GoferFs(std::unique_ptr<lisafs::Client> client,
          const GoferFsOptions& options);
  ~GoferFs() override;

  // The attributes of `names` walked from directory `dir`, stopping (not
  // an error) at a missing name or after a symlink: WalkStat, or a Walk on
  // a server without it. Caller holds mutex().
  Result<std::vector<lisafs::Statx>> StatPathLocked(
      lisafs::FdId dir, std::vector<std::string> names) VEIL_REQUIRES(mutex());

  const GoferFsOptions options_;
  // Destroyed last: everything below may still talk to the server.
  const std::unique_ptr<lisafs::Client> client_;
  std::unique_ptr<client::internal::FdReaper> reaper_;
  // Its handles queue their FDIDs with reaper_: emptied before it goes.
  std::unique_ptr<client::internal::HandleCache> handles_;
  uint32_t root_dev_major_ = 0;
  uint32_t root_dev_minor_ = 0;
  // The server answered WalkStat with EOPNOTSUPP.
  bool walk_stat_unsupported_ VEIL_GUARDED_BY(mutex()) = false;

  // The live inode of `key` (not yet dying or not), or null. Caller holds
  // map_mu_ and mutex() (the keys of other inodes are read).
  client::internal::GoferInode* FindLiveLocked(
      const client::internal::HostKey& key) VEIL_REQUIRES(map_mu_);
  void IndexLiveLocked(client::internal::GoferInode& inode)
      VEIL_REQUIRES(map_mu_);
  void UnindexLiveLocked(client::internal::GoferInode& inode,
                         const client::internal::HostKey& key)
      VEIL_REQUIRES(map_mu_);

  Mutex map_mu_;
  // Live inodes by host identity: a hash table chained through
  // GoferInode::live_next_ (raw: an inode removes itself when it dies; a
  // lookup only takes a reference with TryAddRef). Guarded by map_mu_.
  std::vector<client::internal::GoferInode*> live_buckets_
      VEIL_GUARDED_BY(map_mu_);
  size_t live_count_ VEIL_GUARDED_BY(map_mu_) = 0;
  // st_ino numbers handed out for files on other devices. Guarded by
  // map_mu_.
  std::map<client::internal::HostKey, uint64_t> foreign_inos_;
  uint64_t next_foreign_ino_ VEIL_GUARDED_BY(map_mu_) = 1;

  RefPtr<client::internal::GoferInode> root_;
};

}  // namespace veil::gofer
