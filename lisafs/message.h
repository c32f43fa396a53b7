// SPDX-License-Identifier: Apache-2.0
//
// The LISAFS message set: one request and one reply type per MessageId (see
// types.h for the ids and their syscall analogues), plus ErrorResp.
//
// Every message is a copyable value with defaulted operator==. Host
// descriptors that ride with a message (SCM_RIGHTS) are not part of the
// value: the codec only checks their number, and the client and server
// frameworks hand them over as UniqueFd next to the decoded message.
#pragma once

#include <variant>

#include "lisafs/message_dir.h"
#include "lisafs/message_file.h"
#include "lisafs/message_session.h"
#include "lisafs/message_walk.h"
#include "lisafs/message_xattr.h"
#include "lisafs/types.h"

namespace veil::lisafs {

// Any request. Alternatives are in MessageId order; the codec finds the one
// for an id through each alternative's kId, so the order is cosmetic.
using Request =
    std::variant<MountReq, ChannelReq, FStatReq, SetStatReq, WalkReq,
                 WalkStatReq, OpenAtReq, OpenCreateAtReq, CloseReq, FSyncReq,
                 PWriteReq, PReadReq, MkdirAtReq, MknodAtReq, SymlinkAtReq,
                 LinkAtReq, FStatFSReq, FAllocateReq, ReadLinkAtReq, FlushReq,
                 ConnectReq, UnlinkAtReq, RenameAtReq, Getdents64Req,
                 FGetXattrReq, FSetXattrReq, FListXattrReq, FRemoveXattrReq,
                 BindAtReq, SeekDataReq>;

// Any reply.
using Response =
    std::variant<ErrorResp, MountResp, ChannelResp, FStatResp, SetStatResp,
                 WalkResp, WalkStatResp, OpenAtResp, OpenCreateAtResp,
                 CloseResp, FSyncResp, PWriteResp, PReadResp, MkdirAtResp,
                 MknodAtResp, SymlinkAtResp, LinkAtResp, FStatFSResp,
                 FAllocateResp, ReadLinkAtResp, FlushResp, ConnectResp,
                 UnlinkAtResp, RenameAtResp, Getdents64Resp, FGetXattrResp,
                 FSetXattrResp, FListXattrResp, FRemoveXattrResp, BindAtResp,
                 SeekDataResp>;

inline MessageId IdOf(const Request& request) {
  return std::visit([](const auto& m) { return m.kId; }, request);
}
inline MessageId IdOf(const Response& response) {
  return std::visit([](const auto& m) { return m.kId; }, response);
}

}  // namespace veil::lisafs
