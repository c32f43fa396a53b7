// SPDX-License-Identifier: Apache-2.0
//
// Semantic checks a client applies to a well-formed reply against the
// request it answers. The codec already guarantees shape and limits; these
// catch a server that answers more than was asked (more bytes than
// requested, more inodes than names walked), which a caller copying the
// reply into a fixed buffer would otherwise trust. Violations are EPROTO.
#pragma once

#include <cerrno>
#include <cstddef>

#include "base/result.h"
#include "lisafs/message.h"

namespace veil::lisafs::internal {

// Most replies carry nothing that depends on the request.
template <typename Req, typename Resp>
Result<void> CheckReply(const Req&, const Resp&) {
  return Ok();
}

inline Result<void> Protocol(bool ok) {
  if (ok) return Ok();
  return Errno(EPROTO, "lisafs: reply inconsistent with its request");
}

inline Result<void> CheckReply(const PReadReq& req, const PReadResp& resp) {
  return Protocol(resp.data.size() <= req.count);
}

inline Result<void> CheckReply(const PWriteReq& req, const PWriteResp& resp) {
  return Protocol(resp.count <= req.data.size());
}

inline Result<void> CheckReply(const WalkReq& req, const WalkResp& resp) {
  if (resp.status == WalkStatus::kSuccess) {
    return Protocol(resp.inodes.size() == req.names.size());
  }
  return Protocol(resp.inodes.size() < req.names.size() ||
                  (resp.status == WalkStatus::kComponentSymlink &&
                   resp.inodes.size() == req.names.size()));
}

inline Result<void> CheckReply(const WalkStatReq& req,
                               const WalkStatResp& resp) {
  const size_t extra = req.start == WalkStatStart::kInclude ? 1 : 0;
  return Protocol(resp.stats.size() <= req.names.size() + extra);
}

inline Result<void> CheckReply(const FGetXattrReq& req,
                               const FGetXattrResp& resp) {
  return Protocol(req.size == 0 || resp.value.size() <= req.size);
}

// The linux_dirent64 record size for a name: 19 bytes of fixed fields, the
// name and its NUL, rounded up to 8.
inline size_t DirentRecordSize(size_t name_length) {
  return (19 + name_length + 1 + 7) & ~size_t{7};
}

inline Result<void> CheckReply(const Getdents64Req& req,
                               const Getdents64Resp& resp) {
  size_t total = 0;
  for (const Dirent64& d : resp.dirents)
    total += DirentRecordSize(d.name.size());
  return Protocol(total <= req.count);
}

}  // namespace veil::lisafs::internal
