// SPDX-License-Identifier: Apache-2.0
//
// Extended-attribute messages, all on control FDIDs. Conventions: see
// message_session.h. Names are checked for shape only (non-empty, no NUL,
// at most XATTR_NAME_MAX); which namespaces ("user.", "trusted.", ...) a
// client may touch is the server backend's policy.
#pragma once

#include <sys/xattr.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lisafs/message_session.h"
#include "lisafs/types.h"

namespace veil::lisafs {

// FGetXattr (fgetxattr(2)). size 0 asks for the value anyway (the server
// caps it at kMaxXattrSize) rather than only its length, to save a round
// trip.
struct FGetXattrResp {
  static constexpr MessageId kId = MessageId::kFGetXattr;
  std::vector<uint8_t> value;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Blob(m.value, kMaxXattrSize);
  }
  bool operator==(const FGetXattrResp&) const = default;
};

struct FGetXattrReq {
  static constexpr MessageId kId = MessageId::kFGetXattr;
  using Response = FGetXattrResp;
  FdId fd = kNoFdId;
  std::string name;
  uint32_t size = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.Text(m.name, kMaxXattrNameLength, TextRule::kNonEmpty);
    io.AtMost(m.size, uint32_t{kMaxXattrSize});
  }
  bool operator==(const FGetXattrReq&) const = default;
};

// FSetXattr (fsetxattr(2)); flags are XATTR_CREATE or XATTR_REPLACE.
using FSetXattrResp = EmptyResp<MessageId::kFSetXattr>;

struct FSetXattrReq {
  static constexpr MessageId kId = MessageId::kFSetXattr;
  using Response = FSetXattrResp;
  FdId fd = kNoFdId;
  std::string name;
  std::vector<uint8_t> value;
  uint32_t flags = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.Text(m.name, kMaxXattrNameLength, TextRule::kNonEmpty);
    io.Blob(m.value, kMaxXattrSize);
    io.Num(m.flags);
    // Linux accepts both bits at once and then fails every call; refuse it
    // up front.
    io.Check(m.flags == 0 || m.flags == XATTR_CREATE ||
             m.flags == XATTR_REPLACE);
  }
  bool operator==(const FSetXattrReq&) const = default;
};

// FListXattr (flistxattr(2)): the names, at most `size` bytes of them in
// the NUL-separated form Linux returns (0: the server's cap).
struct FListXattrResp {
  static constexpr MessageId kId = MessageId::kFListXattr;
  std::vector<std::string> names;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.List(m.names, kMaxXattrNames, [&io](auto& name) {
      io.Text(name, kMaxXattrNameLength, TextRule::kNonEmpty);
    });
  }
  bool operator==(const FListXattrResp&) const = default;
};

struct FListXattrReq {
  static constexpr MessageId kId = MessageId::kFListXattr;
  using Response = FListXattrResp;
  FdId fd = kNoFdId;
  uint32_t size = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.AtMost(m.size, uint32_t{kMaxXattrSize});
  }
  bool operator==(const FListXattrReq&) const = default;
};

// FRemoveXattr (fremovexattr(2)).
using FRemoveXattrResp = EmptyResp<MessageId::kFRemoveXattr>;

struct FRemoveXattrReq {
  static constexpr MessageId kId = MessageId::kFRemoveXattr;
  using Response = FRemoveXattrResp;
  FdId fd = kNoFdId;
  std::string name;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.Text(m.name, kMaxXattrNameLength, TextRule::kNonEmpty);
  }
  bool operator==(const FRemoveXattrReq&) const = default;
};

}  // namespace veil::lisafs
