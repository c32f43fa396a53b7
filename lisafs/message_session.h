// SPDX-License-Identifier: Apache-2.0
//
// Session messages: Error, Mount, Channel, Close. They manage the connection
// and the FDID table rather than any one file.
//
// Conventions for every message header (message_*.h):
//  - a request `XReq` names its reply type as `XReq::Response`;
//  - both carry `kId`; the reply to a request has the request's id, or
//    MessageId::kError;
//  - `Schema(io, m)` lists the fields in wire order together with their
//    limits; `io.Fds(min, max)` states how many host descriptors ride along
//    (none unless stated).
#pragma once

#include <cerrno>
#include <cstdint>
#include <vector>

#include "lisafs/types.h"

namespace veil::lisafs {

// A reply without fields, distinct per id so that std::variant can tell
// them apart.
template <MessageId Id>
struct EmptyResp {
  static constexpr MessageId kId = Id;
  template <typename Io, typename Self>
  static void Schema(Io&, Self&) {}
  bool operator==(const EmptyResp&) const = default;
};

// The reply to any failed request: a positive Linux errno.
struct ErrorResp {
  static constexpr MessageId kId = MessageId::kError;
  uint32_t error = EIO;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Num(m.error);
    // Linux errnos are 1..4095 (MAX_ERRNO); anything else is garbage.
    io.Check(m.error >= 1 && m.error <= 4095);
  }
  bool operator==(const ErrorResp&) const = default;
};

// Mount (mount(2)): the first request on a connection. The server answers
// with the root of its export. Any other request before it fails with
// EINVAL; a second Mount with EBUSY.
struct MountResp {
  static constexpr MessageId kId = MessageId::kMount;
  uint32_t version = kProtocolVersion;
  Inode root;
  // The largest message the server will send; the client must not send
  // larger ones than it announced in MountReq.
  uint32_t max_message_size = kMinMessageSize;
  // Request ids the server implements.
  std::vector<MessageId> supported;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    // First, so a peer of another version gets EPROTONOSUPPORT rather than a
    // puzzling EINVAL from a field that moved.
    io.Num(m.version);
    io.Check(m.version == kProtocolVersion,
             Errno(EPROTONOSUPPORT, "lisafs: protocol version mismatch"));
    io.Struct(m.root);
    io.Num(m.max_message_size);
    io.Check(m.max_message_size >= kMinMessageSize &&
             m.max_message_size <= kMaxMessageSize);
    io.List(m.supported, size_t{kMaxMessageIdValue} + 1,
            [&io](auto& id) { io.Enum(id, MessageId{kMaxMessageIdValue}); });
  }
  bool operator==(const MountResp&) const = default;
};

struct MountReq {
  static constexpr MessageId kId = MessageId::kMount;
  using Response = MountResp;
  uint32_t version = kProtocolVersion;
  // The largest message the client will send (see Channel::max_send_size).
  uint32_t max_message_size = kMinMessageSize;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Num(m.version);
    io.Check(m.version == kProtocolVersion,
             Errno(EPROTONOSUPPORT, "lisafs: protocol version mismatch"));
    io.Num(m.max_message_size);
    io.Check(m.max_message_size >= kMinMessageSize &&
             m.max_message_size <= kMaxMessageSize);
  }
  bool operator==(const MountReq&) const = default;
};

// Channel (socketpair(2) + SCM_RIGHTS): asks the server for one more channel
// on the same connection (same FDID table), served by its own thread, so
// that a multi-threaded client is not serialised on one socket. The reply
// carries the client end of a new SOCK_SEQPACKET socket.
struct ChannelResp {
  static constexpr MessageId kId = MessageId::kChannel;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self&) {
    io.Fds(1, 1);
  }
  bool operator==(const ChannelResp&) const = default;
};

struct ChannelReq {
  static constexpr MessageId kId = MessageId::kChannel;
  using Response = ChannelResp;
  template <typename Io, typename Self>
  static void Schema(Io&, Self&) {}
  bool operator==(const ChannelReq&) const = default;
};

// Close (close(2), batched): forgets FDIDs. Every known FDID is closed; if
// any was unknown the reply is EBADF (as close(2) of a bad descriptor),
// after the others are gone.
using CloseResp = EmptyResp<MessageId::kClose>;

struct CloseReq {
  static constexpr MessageId kId = MessageId::kClose;
  using Response = CloseResp;
  std::vector<FdId> fds;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.List(m.fds, kMaxBatchFds, [&io](auto& fd) { io.Fd(fd); });
  }
  bool operator==(const CloseReq&) const = default;
};

}  // namespace veil::lisafs
