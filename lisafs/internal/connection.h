// SPDX-License-Identifier: Apache-2.0
//
// Connection: the per-connection state of a server (mount state, FDID
// table) and the dispatch of one decoded request to the backend.
//
// Every channel of a connection shares one Connection. Handle is
// thread-safe; the backend is borrowed from the Server and outlives it.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "lisafs/internal/fd_table.h"
#include "lisafs/message.h"
#include "lisafs/server.h"
#include "lisafs/server_backend.h"

namespace veil::lisafs::internal {

// A reply ready to encode, with the descriptor to attach (if any) and the
// FDIDs it introduces, so that they can be withdrawn if the reply cannot be
// sent (the client would never learn them).
struct Outgoing {
  Response message;
  UniqueFd fd;
  std::vector<FdId> new_fds;
};

class Connection final {
 public:
  Connection(ServerBackend& backend, const ServerOptions& options)
      : backend_(backend), fds_(options.max_fds) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `request` (anything but ChannelReq, which needs the serving
  // machinery) against the backend. `max_reply_size` is the largest
  // message the replying channel can send: Mount announces it, and PRead is
  // capped to fit it.
  // Errors: EINVAL before Mount; EBUSY for a second Mount; EBADF for an
  // unknown FDID or one of the wrong kind; EIO if the backend answers
  // something the protocol cannot carry; otherwise the backend's errno.
  Result<Outgoing> Handle(const Request& request, size_t max_reply_size);

  // Withdraws FDIDs handed out by a reply that was never delivered.
  void Forget(const std::vector<FdId>& ids);

  bool mounted() const { return mounted_.load(); }

 private:
  // Gives `node` a control FDID; records it in `out`.
  Result<Inode> Register(NewNode node, Outgoing& out);
  Result<FdId> RegisterOpen(OpenedFile& file, Outgoing& out);
  // Looks up a directory control FDID, lets `call` create an entry in it
  // and replies with a Resp naming the new file.
  template <typename Resp, typename Call>
  Result<Outgoing> CreateChild(FdId dir_fd, Call&& call);

  Result<Outgoing> Do(const MountReq& req, size_t max_reply_size);
  Result<Outgoing> Do(const ChannelReq& req);
  Result<Outgoing> Do(const FStatReq& req);
  Result<Outgoing> Do(const SetStatReq& req);
  Result<Outgoing> Do(const WalkReq& req);
  Result<Outgoing> Do(const WalkStatReq& req);
  Result<Outgoing> Do(const OpenAtReq& req);
  Result<Outgoing> Do(const OpenCreateAtReq& req);
  Result<Outgoing> Do(const CloseReq& req);
  Result<Outgoing> Do(const FSyncReq& req);
  Result<Outgoing> Do(const PWriteReq& req);
  Result<Outgoing> Do(const PReadReq& req, size_t max_reply_size);
  Result<Outgoing> Do(const MkdirAtReq& req);
  Result<Outgoing> Do(const MknodAtReq& req);
  Result<Outgoing> Do(const SymlinkAtReq& req);
  Result<Outgoing> Do(const LinkAtReq& req);
  Result<Outgoing> Do(const FStatFSReq& req);
  Result<Outgoing> Do(const FAllocateReq& req);
  Result<Outgoing> Do(const SeekDataReq& req);
  Result<Outgoing> Do(const ReadLinkAtReq& req);
  Result<Outgoing> Do(const FlushReq& req);
  Result<Outgoing> Do(const ConnectReq& req);
  Result<Outgoing> Do(const UnlinkAtReq& req);
  Result<Outgoing> Do(const RenameAtReq& req);
  Result<Outgoing> Do(const Getdents64Req& req);
  Result<Outgoing> Do(const FGetXattrReq& req);
  Result<Outgoing> Do(const FSetXattrReq& req);
  Result<Outgoing> Do(const FListXattrReq& req);
  Result<Outgoing> Do(const FRemoveXattrReq& req);
  Result<Outgoing> Do(const BindAtReq& req);

  ServerBackend& backend_;  // Borrowed from Server, which outlives us.
  FdTable fds_;
  std::atomic<bool> mounted_{false};
};

}  // namespace veil::lisafs::internal
