// SPDX-License-Identifier: Apache-2.0
#include "lisafs/internal/connection.h"

#include <algorithm>
#include <cerrno>
#include <type_traits>
#include <utility>

#include "base/logging.h"
#include "lisafs/codec.h"
#include "lisafs/internal/reply_checks.h"

namespace veil::lisafs::internal {
namespace {

// Bytes of a PRead reply that are not data (header and length prefix),
// rounded up.
constexpr size_t kReadReplyOverhead = 64;

Outgoing Reply(Response message) {
  return Outgoing{std::move(message), {}, {}};
}

// The backend broke the protocol's contract (a bug, not a client error):
// log it and give the client an errno it can live with.
Errno BackendBug(const char* what) {
  VEIL_LOG(kError) << "lisafs: backend " << what;
  return Errno(EIO);
}

}  // namespace

Result<Outgoing> Connection::Handle(const Request& request,
                                    size_t max_reply_size) {
  const bool is_mount = std::holds_alternative<MountReq>(request);
  // lisafs requires Mount first: nothing else has an FDID to name yet, and
  // a client that skips it has not agreed on the protocol version.
  if (!is_mount && !mounted()) return Errno(EINVAL);
  return std::visit(
      [&](const auto& req) -> Result<Outgoing> {
        using Req = std::decay_t<decltype(req)>;
        if constexpr (std::is_same_v<Req, PReadReq> ||
                      std::is_same_v<Req, MountReq>) {
          return Do(req, max_reply_size);
        } else {
          return Do(req);
        }
      },
      request);
}

void Connection::Forget(const std::vector<FdId>& ids) {
  for (FdId id : ids) fds_.Remove(id);
}

Result<Inode> Connection::Register(NewNode node, Outgoing& out) {
  if (node.fd == nullptr) return BackendBug("returned a null node");
  Inode inode;
  inode.stat = node.stat;
  inode.control_fd =
      VEIL_TRY(fds_.Insert(FdKind::kControl, std::move(node.fd)));
  out.new_fds.push_back(inode.control_fd);
  return inode;
}

Result<FdId> Connection::RegisterOpen(OpenedFile& file, Outgoing& out) {
  if (file.fd == nullptr) return BackendBug("returned a null open file");
  const FdId id = VEIL_TRY(fds_.Insert(FdKind::kOpen, std::move(file.fd)));
  out.new_fds.push_back(id);
  out.fd = std::move(file.host_fd);
  return id;
}

// ---- Session ----

Result<Outgoing> Connection::Do(const MountReq&, size_t max_reply_size) {
  if (mounted_.exchange(true)) return Errno(EBUSY);  // Already mounted.
  Result<NewNode> root = backend_.Mount();
  if (!root) {
    mounted_.store(false);  // The client may try again.
    return root.error();
  }
  MountResp resp;
  Outgoing out;
  resp.root = VEIL_TRY(Register(std::move(*root), out));
  // What this side can send; Channel guarantees at least kMinMessageSize.
  resp.max_message_size = static_cast<uint32_t>(
      std::clamp(max_reply_size, kMinMessageSize, kMaxMessageSize));
  for (uint16_t id = 1; id <= kMaxMessageIdValue; ++id) {
    resp.supported.push_back(static_cast<MessageId>(id));
  }
  out.message = std::move(resp);
  return out;
}

Result<Outgoing> Connection::Do(const ChannelReq&) {
  // Served by Server itself; reaching here is a framework bug.
  return Errno(ENOSYS);
}

Result<Outgoing> Connection::Do(const CloseReq& req) {
  bool all_known = true;
  for (FdId id : req.fds) all_known &= fds_.Remove(id);
  if (!all_known) return Errno(EBADF);  // close(2) of a bad descriptor.
  return Reply(CloseResp{});
}

// ---- Metadata (any FDID) ----

Result<Outgoing> Connection::Do(const FStatReq& req) {
  auto fd = VEIL_TRY(fds_.LookupAny(req.fd));
  return Reply(FStatResp{VEIL_TRY(backend_.FStat(*fd))});
}

Result<Outgoing> Connection::Do(const SetStatReq& req) {
  auto fd = VEIL_TRY(fds_.LookupAny(req.fd));
  return Reply(VEIL_TRY(backend_.SetStat(*fd, req)));
}

Result<Outgoing> Connection::Do(const FStatFSReq& req) {
  auto fd = VEIL_TRY(fds_.LookupAny(req.fd));
  return Reply(VEIL_TRY(backend_.FStatFS(*fd)));
}

Result<Outgoing> Connection::Do(const FGetXattrReq& req) {
  auto fd = VEIL_TRY(fds_.LookupAny(req.fd));
  FGetXattrResp resp{VEIL_TRY(backend_.FGetXattr(*fd, req))};
  // fgetxattr(2) with a too-small buffer fails with ERANGE.
  if (req.size != 0 && resp.value.size() > req.size) return Errno(ERANGE);
  return Reply(std::move(resp));
}

Result<Outgoing> Connection::Do(const FSetXattrReq& req) {
  auto fd = VEIL_TRY(fds_.LookupAny(req.fd));
  VEIL_TRY_VOID(backend_.FSetXattr(*fd, req));
  return Reply(FSetXattrResp{});
}

Result<Outgoing> Connection::Do(const FListXattrReq& req) {
  auto fd = VEIL_TRY(fds_.LookupAny(req.fd));
  FListXattrResp resp{VEIL_TRY(backend_.FListXattr(*fd, req))};
  size_t bytes = 0;
  for (const std::string& name : resp.names) bytes += name.size() + 1;
  // flistxattr(2) with a too-small buffer fails with ERANGE.
  if (req.size != 0 && bytes > req.size) return Errno(ERANGE);
  return Reply(std::move(resp));
}

Result<Outgoing> Connection::Do(const FRemoveXattrReq& req) {
  auto fd = VEIL_TRY(fds_.LookupAny(req.fd));
  VEIL_TRY_VOID(backend_.FRemoveXattr(*fd, req));
  return Reply(FRemoveXattrResp{});
}

// ---- Names (control FDIDs) ----

Result<Outgoing> Connection::Do(const WalkReq& req) {
  auto dir = VEIL_TRY(fds_.Lookup(req.dir_fd, FdKind::kControl));
  WalkResult walked = VEIL_TRY(backend_.Walk(*dir, req));
  WalkResp resp;
  resp.status = walked.status;
  const size_t asked = req.names.size();
  const size_t got = walked.nodes.size();
  if (got > asked || (walked.status == WalkStatus::kSuccess && got != asked)) {
    return BackendBug("walked a different number of components than asked");
  }
  Outgoing out;
  for (NewNode& node : walked.nodes) {
    Result<Inode> inode = Register(std::move(node), out);
    if (!inode) {
      Forget(out.new_fds);
      return inode.error();
    }
    resp.inodes.push_back(*inode);
  }
  out.message = std::move(resp);
  return out;
}

Result<Outgoing> Connection::Do(const WalkStatReq& req) {
  auto dir = VEIL_TRY(fds_.Lookup(req.dir_fd, FdKind::kControl));
  WalkStatResp resp{VEIL_TRY(backend_.WalkStat(*dir, req))};
  if (!CheckReply(req, resp)) return BackendBug("stat'ed too many components");
  return Reply(std::move(resp));
}

Result<Outgoing> Connection::Do(const OpenAtReq& req) {
  auto node = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kControl));
  OpenedFile file = VEIL_TRY(backend_.OpenAt(*node, req));
  Outgoing out;
  out.message = OpenAtResp{VEIL_TRY(RegisterOpen(file, out))};
  return out;
}

Result<Outgoing> Connection::Do(const OpenCreateAtReq& req) {
  auto dir = VEIL_TRY(fds_.Lookup(req.dir_fd, FdKind::kControl));
  CreatedFile created = VEIL_TRY(backend_.OpenCreateAt(*dir, req));
  Outgoing out;
  OpenCreateAtResp resp;
  resp.child = VEIL_TRY(Register(std::move(created.node), out));
  Result<FdId> open_fd = RegisterOpen(created.file, out);
  if (!open_fd) {
    Forget(out.new_fds);
    return open_fd.error();
  }
  resp.open_fd = *open_fd;
  out.message = std::move(resp);
  return out;
}

template <typename Resp, typename Call>
Result<Outgoing> Connection::CreateChild(FdId dir_fd, Call&& call) {
  auto dir = VEIL_TRY(fds_.Lookup(dir_fd, FdKind::kControl));
  NewNode node = VEIL_TRY(call(*dir));
  Outgoing out;
  out.message = Resp{VEIL_TRY(Register(std::move(node), out))};
  return out;
}

Result<Outgoing> Connection::Do(const MkdirAtReq& req) {
  return CreateChild<MkdirAtResp>(
      req.dir_fd, [&](ServerFd& dir) { return backend_.MkdirAt(dir, req); });
}

Result<Outgoing> Connection::Do(const MknodAtReq& req) {
  return CreateChild<MknodAtResp>(
      req.dir_fd, [&](ServerFd& dir) { return backend_.MknodAt(dir, req); });
}

Result<Outgoing> Connection::Do(const SymlinkAtReq& req) {
  return CreateChild<SymlinkAtResp>(
      req.dir_fd, [&](ServerFd& dir) { return backend_.SymlinkAt(dir, req); });
}

Result<Outgoing> Connection::Do(const LinkAtReq& req) {
  auto dir = VEIL_TRY(fds_.Lookup(req.dir_fd, FdKind::kControl));
  auto target = VEIL_TRY(fds_.Lookup(req.target, FdKind::kControl));
  NewNode node = VEIL_TRY(backend_.LinkAt(*dir, *target, req));
  Outgoing out;
  out.message = LinkAtResp{VEIL_TRY(Register(std::move(node), out))};
  return out;
}

Result<Outgoing> Connection::Do(const UnlinkAtReq& req) {
  auto dir = VEIL_TRY(fds_.Lookup(req.dir_fd, FdKind::kControl));
  VEIL_TRY_VOID(backend_.UnlinkAt(*dir, req));
  return Reply(UnlinkAtResp{});
}

Result<Outgoing> Connection::Do(const RenameAtReq& req) {
  auto old_dir = VEIL_TRY(fds_.Lookup(req.old_dir_fd, FdKind::kControl));
  auto new_dir = VEIL_TRY(fds_.Lookup(req.new_dir_fd, FdKind::kControl));
  VEIL_TRY_VOID(backend_.RenameAt(*old_dir, *new_dir, req));
  return Reply(RenameAtResp{});
}

Result<Outgoing> Connection::Do(const ReadLinkAtReq& req) {
  auto link = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kControl));
  return Reply(ReadLinkAtResp{VEIL_TRY(backend_.ReadLinkAt(*link))});
}

Result<Outgoing> Connection::Do(const ConnectReq& req) {
  auto socket = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kControl));
  UniqueFd connected = VEIL_TRY(backend_.Connect(*socket, req));
  if (!connected) return BackendBug("connected without a socket");
  Outgoing out = Reply(ConnectResp{});
  out.fd = std::move(connected);
  return out;
}

Result<Outgoing> Connection::Do(const BindAtReq& req) {
  auto dir = VEIL_TRY(fds_.Lookup(req.dir_fd, FdKind::kControl));
  BoundSocket bound = VEIL_TRY(backend_.BindAt(*dir, req));
  if (!bound.socket) return BackendBug("bound without a socket");
  Outgoing out;
  out.message = BindAtResp{VEIL_TRY(Register(std::move(bound.node), out))};
  out.fd = std::move(bound.socket);
  return out;
}

// ---- I/O (open FDIDs) ----

Result<Outgoing> Connection::Do(const PReadReq& req, size_t max_reply_size) {
  auto file = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kOpen));
  PReadReq capped = req;
  // A short read is always allowed, so cap the count at what one reply on
  // this channel can carry rather than failing.
  const size_t room = max_reply_size > kReadReplyOverhead
                          ? max_reply_size - kReadReplyOverhead
                          : 0;
  capped.count = static_cast<uint32_t>(std::min<size_t>(req.count, room));
  PReadResp resp{VEIL_TRY(backend_.PRead(*file, capped))};
  if (!CheckReply(capped, resp)) return BackendBug("read more than asked");
  return Reply(std::move(resp));
}

Result<Outgoing> Connection::Do(const PWriteReq& req) {
  auto file = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kOpen));
  PWriteResp resp{VEIL_TRY(backend_.PWrite(*file, req))};
  if (!CheckReply(req, resp)) return BackendBug("wrote more than given");
  return Reply(resp);
}

Result<Outgoing> Connection::Do(const FSyncReq& req) {
  // Sync every file even after a failure, as a batch of fsync(2) calls
  // would; report the first error.
  Result<void> first = Ok();
  for (FdId id : req.fds) {
    Result<void> synced = [&]() -> Result<void> {
      auto file = VEIL_TRY(fds_.Lookup(id, FdKind::kOpen));
      return backend_.FSync(*file);
    }();
    if (!synced && first) first = synced;
  }
  VEIL_TRY_VOID(first);
  return Reply(FSyncResp{});
}

Result<Outgoing> Connection::Do(const FAllocateReq& req) {
  auto file = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kOpen));
  VEIL_TRY_VOID(backend_.FAllocate(*file, req));
  return Reply(FAllocateResp{});
}

Result<Outgoing> Connection::Do(const SeekDataReq& req) {
  auto file = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kOpen));
  const uint64_t offset = VEIL_TRY(backend_.SeekData(*file, req));
  if (offset > kMaxOffset) return BackendBug("sought past the largest offset");
  return Reply(SeekDataResp{offset});
}

Result<Outgoing> Connection::Do(const FlushReq& req) {
  auto file = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kOpen));
  VEIL_TRY_VOID(backend_.Flush(*file));
  return Reply(FlushResp{});
}

Result<Outgoing> Connection::Do(const Getdents64Req& req) {
  auto dir = VEIL_TRY(fds_.Lookup(req.fd, FdKind::kOpen));
  Getdents64Resp resp{VEIL_TRY(backend_.Getdents64(*dir, req))};
  if (!CheckReply(req, resp)) return BackendBug("listed more than asked");
  return Reply(std::move(resp));
}

}  // namespace veil::lisafs::internal
