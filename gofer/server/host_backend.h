// SPDX-License-Identifier: Apache-2.0
//
// HostBackend: a lisafs::ServerBackend serving one host directory — the
// gofer's file server (gVisor's runsc/fsgofer, libfuse's passthrough_ll).
//
//   auto backend = VEIL_TRY(HostBackend::Create(std::move(root_dir), {}));
//   lisafs::Server server(*backend);
//   VEIL_TRY_VOID(server.Serve(std::move(channel)));
//
// Containment. Every operation is relative to a descriptor the backend holds
// (a HostNode, host_node.h): lookups are openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS) of one
// checked component, creation and removal are the *at() calls on the
// parent's descriptor with a single name, and metadata calls use
// AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW. The backend never follows a symlink
// (the client resolves them itself), never builds a path and never touches
// /proc. Device nodes are never opened (EACCES, as on a nodev mount) and
// only the overlay whiteout (a 0:0 character device) may be created, so a
// device node cannot reach past the export either. Confinement (confine.h)
// adds a mount namespace, pivot_root and seccomp on top; this class is safe
// without them, and the escape tests run it both ways.
//
// Policy, and why:
//  - Read-only exports (Access::kReadOnly) fail every change with EROFS.
//  - Opening a regular file read-only donates the host descriptor to the
//    client (SCM_RIGHTS) so its reads need no round trip (DESIGN.md);
//    writable descriptors only with Donation::kAllFiles (a client whose
//    tasks write natively, by the bind's owner's choice).
//  - Xattrs: only "user." and "trusted.overlay." names are served; others
//    are EOPNOTSUPP, as a filesystem without that handler. A "security."
//    write (file capabilities, SELinux labels) would change what the file
//    means to the host. Like Linux's rule for user.*, only regular files
//    and directories carry them: other types read as having none and
//    refuse changes with EPERM (they cannot be opened without side
//    effects, and the gofer will not use /proc to reach them).
//  - FIFOs are opened O_NONBLOCK: the gofer never waits on a peer.
//  - Unix sockets (Connect, BindAt) are not served (EOPNOTSUPP): reaching
//    host services from the sandbox needs its own policy.
//  - New files get the client's mode bits if the process umask is 0
//    (`veil gofer` sets it) and the client's uid/gid when they are not
//    kNoId, both within the export's policy (export_policy.h: no set-id
//    bits on non-directories, owners from a range; EPERM otherwise); if
//    that chown fails the new entry is removed and the chown's errno
//    returned, as if creating as that user had failed.
//  - Device nodes other than 0:0 are not changed: LinkAt, RenameAt of
//    one, and SetStat of its mode or owner are EPERM (what Linux answers
//    a policy refusal such as mknod without CAP_MKNOD). Removing one, or
//    renaming over it, is allowed. The directories above one are not
//    watched: changing them can still open the device to more users.
//  - Mount points below the export (host mounts; in the confined gofer
//    they are mounts of its own namespace too) are never entered: Walk and
//    WalkStat answer EACCES for the name of one (so does reopening a node
//    whose name became one), as for a directory one may not search; the kernel answers EBUSY to rmdir or rename of it,
//    and with MountGuard::kRootIsExport so does the backend to a rename of
//    a directory with one below it (which would move the mount along).
//
// Errors are the host's errno, which is Linux's.
//
// Ownership: the backend owns the root node; FDIDs own their nodes through
// the lisafs server's table. Thread-safety: all methods are thread-safe, as
// lisafs::ServerBackend requires; per-file state is the kernel's.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "gofer/server/export_policy.h"
#include "gofer/server/host_node.h"
#include "lisafs/server_backend.h"

namespace veil::gofer {

enum class Access : uint8_t { kReadWrite, kReadOnly };
// Which opened regular files' host descriptors go to the client:
// read-only opens (the default), every open (a client whose tasks write
// natively: `veil do`'s read-write binds), or none.
enum class Donation : uint8_t { kReadOnlyFiles, kAllFiles, kNever };
// Whether renaming a directory with a mount point somewhere below it is
// refused (EBUSY) rather than moving the mount along (mount_points.h).
enum class MountGuard : uint8_t {
  kNone,
  // The process's root is the export's root (the confined gofer), so the
  // namespace's mount points can be found from it. Needs Linux 6.8
  // (listmount); before that, renames are not checked.
  kRootIsExport,
};

struct HostBackendOptions {
  Access access = Access::kReadWrite;
  Donation donation = Donation::kReadOnlyFiles;
  // The most O_PATH descriptors of walked nodes kept open (host_node.h,
  // "Descriptor budget"); 0: half of RLIMIT_NOFILE's soft limit at
  // Create(), the rest being left to open files and directories read.
  size_t max_node_fds = 0;
  // export_policy.h. `ids` applies to uids and gids alike; unset: only the
  // owner (uid, gid) of the root directory.
  SetIdBits setid = SetIdBits::kStrip;
  std::optional<IdRange> ids;
  MountGuard mount_guard = MountGuard::kNone;
  // The most open FDIDs at once, over all connections (each holds an
  // opened descriptor and pins its node's): past it OpenAt and
  // OpenCreateAt fail with ENFILE, so that clients holding files open can
  // never take the descriptors every other request needs. 0: a quarter of
  // RLIMIT_NOFILE's soft limit at Create().
  size_t max_open_files = 0;
  // The most nodes (inodes with an FDID, and their ancestors) held at once;
  // past it a lookup or create of a new one fails with ENFILE. It bounds
  // the memory a client can pin: one FDID keeps its whole chain of
  // ancestors (~300 bytes each). 0: kDefaultMaxNodes.
  size_t max_nodes = 0;
  static constexpr size_t kDefaultMaxNodes = size_t{1} << 18;
};

class HostBackend final : public lisafs::ServerBackend {
 public:
  // Serves the directory `root` names (any descriptor of it; O_PATH is
  // enough). Errors: ENOTDIR if it is not a directory; statx(2) errors.
  static Result<std::unique_ptr<HostBackend>> Create(
      UniqueFd root, HostBackendOptions options);

  HostBackend(const HostBackend&) = delete;
  HostBackend& operator=(const HostBackend&) = delete;

  // Host inodes with an FDID (or a child with one) right now, and how many
  // of them hold their descriptor open; for tests.
  size_t live_nodes() const { return table_->size(); }
  size_t open_node_fds() const { return table_->open_fds(); }
  size_t open_files() const { return table_->open_files(); }

  // ^lisafs::ServerBackend (host_backend.cc: lookups and metadata)
  Result<lisafs::NewNode> Mount() override;
  Result<lisafs::Statx> FStat(lisafs::ServerFd& fd) override;
  Result<lisafs::FStatFSResp> FStatFS(lisafs::ServerFd& fd) override;
  Result<lisafs::WalkResult> Walk(lisafs::ServerFd& dir,
                                  const lisafs::WalkReq& req) override;
  Result<std::vector<lisafs::Statx>> WalkStat(
      lisafs::ServerFd& dir, const lisafs::WalkStatReq& req) override;
  Result<lisafs::OpenedFile> OpenAt(lisafs::ServerFd& node,
                                    const lisafs::OpenAtReq& req) override;
  Result<std::string> ReadLinkAt(lisafs::ServerFd& link) override;

  // (host_backend_dir.cc: directory changes)
  Result<lisafs::CreatedFile> OpenCreateAt(
      lisafs::ServerFd& dir, const lisafs::OpenCreateAtReq& req) override;
  Result<lisafs::NewNode> MkdirAt(lisafs::ServerFd& dir,
                                  const lisafs::MkdirAtReq& req) override;
  Result<lisafs::NewNode> MknodAt(lisafs::ServerFd& dir,
                                  const lisafs::MknodAtReq& req) override;
  Result<lisafs::NewNode> SymlinkAt(lisafs::ServerFd& dir,
                                    const lisafs::SymlinkAtReq& req) override;
  Result<lisafs::NewNode> LinkAt(lisafs::ServerFd& dir,
                                 lisafs::ServerFd& target,
                                 const lisafs::LinkAtReq& req) override;
  Result<void> UnlinkAt(lisafs::ServerFd& dir,
                        const lisafs::UnlinkAtReq& req) override;
  Result<void> RenameAt(lisafs::ServerFd& old_dir, lisafs::ServerFd& new_dir,
                        const lisafs::RenameAtReq& req) override;

  // (host_backend_attr.cc: attribute changes and xattrs)
  Result<lisafs::SetStatResp> SetStat(lisafs::ServerFd& fd,
                                      const lisafs::SetStatReq& req) override;
  Result<std::vector<uint8_t>> FGetXattr(
      lisafs::ServerFd& fd, const lisafs::FGetXattrReq& req) override;
  Result<void> FSetXattr(lisafs::ServerFd& fd,
                         const lisafs::FSetXattrReq& req) override;
  Result<std::vector<std::string>> FListXattr(
      lisafs::ServerFd& fd, const lisafs::FListXattrReq& req) override;
  Result<void> FRemoveXattr(lisafs::ServerFd& fd,
                            const lisafs::FRemoveXattrReq& req) override;

  // (host_backend_io.cc: open files)
  Result<std::vector<uint8_t>> PRead(lisafs::ServerFd& fd,
                                     const lisafs::PReadReq& req) override;
  Result<uint64_t> PWrite(lisafs::ServerFd& fd,
                          const lisafs::PWriteReq& req) override;
  Result<void> FSync(lisafs::ServerFd& fd) override;
  Result<void> FAllocate(lisafs::ServerFd& fd,
                         const lisafs::FAllocateReq& req) override;
  Result<uint64_t> SeekData(lisafs::ServerFd& fd,
                            const lisafs::SeekDataReq& req) override;
  Result<std::vector<lisafs::Dirent64>> Getdents64(
      lisafs::ServerFd& fd, const lisafs::Getdents64Req& req) override;

 private:
  HostBackend(std::shared_ptr<NodeTable> table, std::shared_ptr<HostNode> root,
              HostBackendOptions options, ExportPolicy policy)
      : table_(std::move(table)),
        root_(std::move(root)),
        options_(options),
        policy_(policy) {}

  bool read_only() const { return options_.access == Access::kReadOnly; }

  struct Found {
    std::shared_ptr<HostNode> node;
    struct statx stat;
  };
  // A control FDID for `node`, with its attributes now.
  Result<lisafs::NewNode> NewControl(std::shared_ptr<HostNode> node);
  // Looks up `name` in `dir` (one openat2 step) and interns it.
  Result<Found> Lookup(const std::shared_ptr<HostNode>& dir,
                       const std::string& name);
  // After creating `name` in `dir`: looks it up, applies the requested
  // owner, and removes the entry again if either fails.
  Result<lisafs::NewNode> FinishCreate(const std::shared_ptr<HostNode>& dir,
                                       const std::string& name, uint32_t uid,
                                       uint32_t gid);
  // EPERM unless the client may give a file these ids (export_policy.h);
  // kNoId is always allowed. `current`: the file's ids now, if known.
  Result<void> CheckOwner(uint32_t uid, uint32_t gid,
                          const struct statx* current) const;
  // Clears S_ISUID/S_ISGID of the regular file open as `fd` (not O_PATH),
  // which the client is about to change, if the policy says so.
  Result<void> DropSetId(int fd) const;
  // True for a character or block device other than the 0:0 whiteout (or
  // one whose kind cannot be told).
  static bool IsDeviceNode(const HostNode& node);
  // EBUSY if `st` is a directory with a mount point below it, or if the
  // mount table cannot be read (fail closed; not before Linux 6.8), and
  // the options ask for the check (MountGuard).
  Result<void> CheckNoMountBelow(const struct statx& st);
  // A readable descriptor for xattr calls (regular files and directories).
  Result<UniqueFd> OpenForXattr(const HostNode& node);
  // The node of `name` in the directory `dir_fd`, if the client holds one,
  // with its descriptor pinned (opened again if the budget had closed it):
  // taken before a removal, after which the name no longer leads to it.
  struct Pinned {
    std::shared_ptr<HostNode> node;
    HostNode::PathFd fd;
  };
  Pinned PinEntry(int dir_fd, const std::string& name);

  const std::shared_ptr<NodeTable> table_;
  const std::shared_ptr<HostNode> root_;
  const HostBackendOptions options_;
  const ExportPolicy policy_;
};

// The backend's ServerFd: every FDID names a HostNode; open FDIDs also own
// an opened host descriptor.
class HostFd : public lisafs::ServerFd {
 public:
  explicit HostFd(std::shared_ptr<HostNode> node) : node_(std::move(node)) {}
  const std::shared_ptr<HostNode>& node() const { return node_; }

 private:
  const std::shared_ptr<HostNode> node_;
};

// An open FDID also pins its node's O_PATH descriptor, so that the node
// of an open file is never closed by the descriptor budget: an open file
// that was unlinked could not be found again by its name. It holds one of
// the table's open-file slots (HostBackendOptions::max_open_files).
class HostOpenFd final : public HostFd {
 public:
  HostOpenFd(std::shared_ptr<HostNode> node, OpenFileSlot slot,
             HostNode::PathFd pin, UniqueFd fd)
      : HostFd(std::move(node)),
        slot_(std::move(slot)),
        pin_(std::move(pin)),
        fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }

 private:
  const OpenFileSlot slot_;
  const HostNode::PathFd pin_;
  const UniqueFd fd_;
};

}  // namespace veil::gofer
