// SPDX-License-Identifier: Apache-2.0
//
// ServerBackend: what a LISAFS server serves (a host directory in the
// gofer, a sentry's VFS for the FUSE debug mount, a map in tests).
//
// The server framework (server.h) owns everything about the protocol: it
// decodes and validates requests, owns the FDID table, turns FDIDs into
// the backend's ServerFd objects (EBADF for unknown ones or the wrong kind)
// and new ServerFd objects into FDIDs, and turns errors into Error replies.
// A backend therefore never sees an FDID, an unchecked name or a malformed
// request: every name has passed IsSafeName and every field its Schema
// limits.
//
// Each method mirrors one message (see types.h for its syscall analogue)
// and returns the errno Linux would. Unimplemented methods answer
// EOPNOTSUPP, as Linux does for operations a filesystem lacks.
//
// Thread-safety: methods may be called concurrently from several threads
// (one per channel, or several workers per channel) and must be
// thread-safe. Ownership: the backend is borrowed by Server and must
// outlive it; ServerFd objects are shared between the FDID table and calls
// in progress and are destroyed when the last of them lets go, possibly on
// any serving thread.
#pragma once

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "lisafs/message.h"

namespace veil::lisafs {

// A backend's handle on one file (a control FDID) or one open file (an
// open FDID). Backends derive from it; each ServerFd passed to a method was
// created by the same backend, so a static_cast to the backend's own type
// is safe.
class ServerFd {
 public:
  virtual ~ServerFd() = default;
};

// A file the backend looked up or created, to be given a control FDID.
struct NewNode {
  std::unique_ptr<ServerFd> fd;
  Statx stat;
};

// An opened file, to be given an open FDID. `host_fd`, if valid, is donated
// to the client (SCM_RIGHTS) so it can do I/O without a round trip.
struct OpenedFile {
  std::unique_ptr<ServerFd> fd;
  UniqueFd host_fd;
};

struct WalkResult {
  WalkStatus status = WalkStatus::kSuccess;
  std::vector<NewNode> nodes;  // At most one per name walked.
};

struct CreatedFile {
  NewNode node;
  OpenedFile file;
};

struct BoundSocket {
  NewNode node;
  UniqueFd socket;  // Listening; donated to the client.
};

class ServerBackend {
 public:
  virtual ~ServerBackend() = default;

  // The root of the export, once per connection.
  virtual Result<NewNode> Mount() = 0;

  // ---- Any FDID (metadata) ----
  virtual Result<Statx> FStat(ServerFd& fd) = 0;
  virtual Result<SetStatResp> SetStat(ServerFd&, const SetStatReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<FStatFSResp> FStatFS(ServerFd&) { return Errno(EOPNOTSUPP); }
  virtual Result<std::vector<uint8_t>> FGetXattr(ServerFd&,
                                                 const FGetXattrReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<void> FSetXattr(ServerFd&, const FSetXattrReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<std::vector<std::string>> FListXattr(ServerFd&,
                                                      const FListXattrReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<void> FRemoveXattr(ServerFd&, const FRemoveXattrReq&) {
    return Errno(EOPNOTSUPP);
  }

  // ---- Control FDIDs (names) ----
  // Walks req.names from `dir`; stops early (not an error) at a missing
  // component or a symlink, as WalkStatus says.
  virtual Result<WalkResult> Walk(ServerFd& dir, const WalkReq& req) = 0;
  virtual Result<std::vector<Statx>> WalkStat(ServerFd&, const WalkStatReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<OpenedFile> OpenAt(ServerFd& node, const OpenAtReq& req) = 0;
  virtual Result<CreatedFile> OpenCreateAt(ServerFd&, const OpenCreateAtReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<NewNode> MkdirAt(ServerFd&, const MkdirAtReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<NewNode> MknodAt(ServerFd&, const MknodAtReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<NewNode> SymlinkAt(ServerFd&, const SymlinkAtReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<NewNode> LinkAt(ServerFd& /*dir*/, ServerFd& /*target*/,
                                 const LinkAtReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<void> UnlinkAt(ServerFd&, const UnlinkAtReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<void> RenameAt(ServerFd& /*old_dir*/, ServerFd& /*new_dir*/,
                                const RenameAtReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<std::string> ReadLinkAt(ServerFd&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<UniqueFd> Connect(ServerFd&, const ConnectReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<BoundSocket> BindAt(ServerFd&, const BindAtReq&) {
    return Errno(EOPNOTSUPP);
  }

  // ---- Open FDIDs (I/O) ----
  // req.count is already capped at what one reply can carry.
  virtual Result<std::vector<uint8_t>> PRead(ServerFd&, const PReadReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<uint64_t> PWrite(ServerFd&, const PWriteReq&) {
    return Errno(EOPNOTSUPP);
  }
  virtual Result<void> FSync(ServerFd&) { return Errno(EOPNOTSUPP); }
  virtual Result<void> FAllocate(ServerFd&, const FAllocateReq&) {
    return Errno(EOPNOTSUPP);
  }
  // lseek(2) SEEK_DATA/SEEK_HOLE; ENXIO at or past the end of the file.
  virtual Result<uint64_t> SeekData(ServerFd&, const SeekDataReq&) {
    return Errno(EOPNOTSUPP);
  }
  // Files without a ->flush() hook succeed, as close(2) does on Linux.
  virtual Result<void> Flush(ServerFd&) { return Ok(); }
  // Entries worth at most req.count bytes of linux_dirent64 records,
  // continuing where the previous call on this open FDID stopped.
  virtual Result<std::vector<Dirent64>> Getdents64(ServerFd&,
                                                   const Getdents64Req&) {
    return Errno(EOPNOTSUPP);
  }
};

}  // namespace veil::lisafs
