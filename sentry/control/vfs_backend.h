// SPDX-License-Identifier: Apache-2.0
//
// VfsBackend: a lisafs::ServerBackend over a sandbox's vfs::Vfs, so that
// the LISAFS server framework that serves the gofer's host directories
// also serves a running sandbox's live view (DESIGN.md, "The live view";
// `veil fuse SANDBOX MNT`). The client is a GoferFs in the `veil fuse`
// process, whose own Vfs checks every permission with the FUSE caller's
// credentials; this backend acts as root in the sandbox's Vfs, as the
// gofer acts as root on the host, and creates files with the owner the
// request names.
//
// What it serves: the whole mount tree from the sandbox's root (a Walk
// crosses mounts, never follows a symlink), with each mount's own device
// number, so the client keeps files of different mounts apart. The
// synthetic filesystems (/proc, /dev) are served like the others: a read
// of /proc/1/cmdline is the sandbox's procfs answering. Unix sockets are
// not connected to (EOPNOTSUPP), FIFOs and sockets not opened (ENXIO: a
// view must never wait for a sandbox task), and no host descriptor is
// ever donated: data goes through PRead/PWrite.
//
// Read-only (ViewAccess::kReadOnly): every change is EROFS, opens for
// writing included, as on a `mount -o ro`.
//
// Thread-safety: every method may run on several threads at once (the
// Vfs is thread-safe; an open directory's position has its own lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "lisafs/server_backend.h"
#include "sentry/control/call_gate.h"
#include "vfs/vfs.h"

namespace veil::sentry {

enum class ViewAccess : uint8_t { kReadOnly, kReadWrite };

class VfsBackend final : public lisafs::ServerBackend {
 public:
  // `vfs` is borrowed and must outlive the backend and every server
  // using it. `gate` (may be null): held by each request, so a live
  // snapshot sees the view's changes whole.
  VfsBackend(vfs::Vfs& vfs, ViewAccess access, CallGate* gate = nullptr)
      : vfs_(vfs), access_(access), gate_(gate) {}

  Result<lisafs::NewNode> Mount() override;
  Result<lisafs::Statx> FStat(lisafs::ServerFd& fd) override;
  Result<lisafs::SetStatResp> SetStat(lisafs::ServerFd& fd,
                                      const lisafs::SetStatReq& req) override;
  Result<lisafs::FStatFSResp> FStatFS(lisafs::ServerFd& fd) override;
  Result<std::vector<uint8_t>> FGetXattr(
      lisafs::ServerFd& fd, const lisafs::FGetXattrReq& req) override;
  Result<void> FSetXattr(lisafs::ServerFd& fd,
                         const lisafs::FSetXattrReq& req) override;
  Result<std::vector<std::string>> FListXattr(
      lisafs::ServerFd& fd, const lisafs::FListXattrReq& req) override;
  Result<void> FRemoveXattr(lisafs::ServerFd& fd,
                            const lisafs::FRemoveXattrReq& req) override;

  Result<lisafs::WalkResult> Walk(lisafs::ServerFd& dir,
                                  const lisafs::WalkReq& req) override;
  Result<std::vector<lisafs::Statx>> WalkStat(
      lisafs::ServerFd& dir, const lisafs::WalkStatReq& req) override;
  Result<lisafs::OpenedFile> OpenAt(lisafs::ServerFd& node,
                                    const lisafs::OpenAtReq& req) override;
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
  Result<std::string> ReadLinkAt(lisafs::ServerFd& fd) override;

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
  bool read_only() const { return access_ == ViewAccess::kReadOnly; }
  // Root, or fsuid/fsgid `uid`/`gid` (kNoId: 0) with every capability:
  // the client checked the caller's permissions already.
  vfs::Context ContextAs(uint32_t uid, uint32_t gid) const;
  Result<lisafs::NewNode> NewChild(const vfs::Location& dir,
                                   const std::string& name);

  vfs::Vfs& vfs_;
  const ViewAccess access_;
  CallGate* const gate_;
};

}  // namespace veil::sentry
