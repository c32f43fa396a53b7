// SPDX-License-Identifier: Apache-2.0
//
// Directory-changing messages (MkdirAt, MknodAt, SymlinkAt, LinkAt,
// UnlinkAt, RenameAt) and the unix-socket ones (Connect, BindAt). Every
// one names its directory by a control FDID and its entry by a single safe
// name. Conventions: see message_session.h.
#pragma once

#include <fcntl.h>
#include <stdio.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "lisafs/message_session.h"
#include "lisafs/types.h"

namespace veil::lisafs {

// The reply of the calls that create a directory entry: a control FDID for
// the new file and its attributes.
template <MessageId Id>
struct ChildResp {
  static constexpr MessageId kId = Id;
  Inode child;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Struct(m.child);
  }
  bool operator==(const ChildResp&) const = default;
};

// MkdirAt (mkdirat(2)). uid/gid: the owner to give the new directory, or
// kNoId for the server's choice.
using MkdirAtResp = ChildResp<MessageId::kMkdirAt>;

struct MkdirAtReq {
  static constexpr MessageId kId = MessageId::kMkdirAt;
  using Response = MkdirAtResp;
  FdId dir_fd = kNoFdId;
  std::string name;
  uint32_t mode = 0;  // Permission bits only.
  uint32_t uid = kNoId;
  uint32_t gid = kNoId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Name(m.name);
    io.AtMost(m.mode, uint32_t{07777});
    io.Num(m.uid);
    io.Num(m.gid);
  }
  bool operator==(const MkdirAtReq&) const = default;
};

// MknodAt (mknodat(2)): a regular file, FIFO, socket or device node.
using MknodAtResp = ChildResp<MessageId::kMknodAt>;

inline bool IsMknodMode(uint32_t mode) {
  const uint32_t type = mode & S_IFMT;
  return (mode & ~(S_IFMT | 07777)) == 0 &&
         (type == S_IFREG || type == S_IFCHR || type == S_IFBLK ||
          type == S_IFIFO || type == S_IFSOCK);
}

struct MknodAtReq {
  static constexpr MessageId kId = MessageId::kMknodAt;
  using Response = MknodAtResp;
  FdId dir_fd = kNoFdId;
  std::string name;
  uint32_t mode = S_IFREG;  // File type and permission bits.
  uint32_t uid = kNoId;
  uint32_t gid = kNoId;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Name(m.name);
    io.Num(m.mode);
    io.Check(IsMknodMode(m.mode));
    io.Num(m.uid);
    io.Num(m.gid);
    io.Num(m.rdev_major);
    io.Num(m.rdev_minor);
  }
  bool operator==(const MknodAtReq&) const = default;
};

// SymlinkAt (symlinkat(2)). The target is opaque text: the server stores
// it and never resolves it.
using SymlinkAtResp = ChildResp<MessageId::kSymlinkAt>;

struct SymlinkAtReq {
  static constexpr MessageId kId = MessageId::kSymlinkAt;
  using Response = SymlinkAtResp;
  FdId dir_fd = kNoFdId;
  std::string name;
  std::string target;
  uint32_t uid = kNoId;
  uint32_t gid = kNoId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Name(m.name);
    // symlink(2) with an empty target fails with ENOENT.
    io.Text(m.target, kMaxPathLength, TextRule::kNonEmpty);
    io.Num(m.uid);
    io.Num(m.gid);
  }
  bool operator==(const SymlinkAtReq&) const = default;
};

// LinkAt (linkat(target, "", dir, name, AT_EMPTY_PATH)): a new name for the
// file a control FDID names.
using LinkAtResp = ChildResp<MessageId::kLinkAt>;

struct LinkAtReq {
  static constexpr MessageId kId = MessageId::kLinkAt;
  using Response = LinkAtResp;
  FdId dir_fd = kNoFdId;
  std::string name;
  FdId target = kNoFdId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Name(m.name);
    io.Fd(m.target);
  }
  bool operator==(const LinkAtReq&) const = default;
};

// UnlinkAt (unlinkat(2)); flags is 0 or AT_REMOVEDIR.
using UnlinkAtResp = EmptyResp<MessageId::kUnlinkAt>;

struct UnlinkAtReq {
  static constexpr MessageId kId = MessageId::kUnlinkAt;
  using Response = UnlinkAtResp;
  FdId dir_fd = kNoFdId;
  std::string name;
  uint32_t flags = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Name(m.name);
    io.Mask(m.flags, uint32_t{AT_REMOVEDIR});
  }
  bool operator==(const UnlinkAtReq&) const = default;
};

// RenameAt (renameat2(2)); flags is 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
// RENAME_WHITEOUT is refused: whiteouts belong to the sentry's overlay.
using RenameAtResp = EmptyResp<MessageId::kRenameAt>;

struct RenameAtReq {
  static constexpr MessageId kId = MessageId::kRenameAt;
  using Response = RenameAtResp;
  FdId old_dir_fd = kNoFdId;
  std::string old_name;
  FdId new_dir_fd = kNoFdId;
  std::string new_name;
  uint32_t flags = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.old_dir_fd);
    io.Name(m.old_name);
    io.Fd(m.new_dir_fd);
    io.Name(m.new_name);
    io.Num(m.flags);
    io.Check(m.flags == 0 || m.flags == RENAME_NOREPLACE ||
             m.flags == RENAME_EXCHANGE);
  }
  bool operator==(const RenameAtReq&) const = default;
};

inline bool IsUnixSocketType(uint32_t type) {
  return type == SOCK_STREAM || type == SOCK_DGRAM || type == SOCK_SEQPACKET;
}

// Connect: socket(AF_UNIX, sock_type) + connect(2) to the unix socket a
// control FDID names. The connected host socket is attached to the reply.
struct ConnectResp {
  static constexpr MessageId kId = MessageId::kConnect;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self&) {
    io.Fds(1, 1);
  }
  bool operator==(const ConnectResp&) const = default;
};

struct ConnectReq {
  static constexpr MessageId kId = MessageId::kConnect;
  using Response = ConnectResp;
  FdId fd = kNoFdId;
  uint32_t sock_type = SOCK_STREAM;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.Num(m.sock_type);
    io.Check(IsUnixSocketType(m.sock_type));
  }
  bool operator==(const ConnectReq&) const = default;
};

// BindAt: socket(AF_UNIX, sock_type) + bind(2) to dir/name + listen(2). The
// reply names the new socket file and carries the listening host socket.
struct BindAtResp {
  static constexpr MessageId kId = MessageId::kBindAt;
  Inode child;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Struct(m.child);
    io.Fds(1, 1);
  }
  bool operator==(const BindAtResp&) const = default;
};

struct BindAtReq {
  static constexpr MessageId kId = MessageId::kBindAt;
  using Response = BindAtResp;
  FdId dir_fd = kNoFdId;
  std::string name;
  uint32_t sock_type = SOCK_STREAM;
  uint32_t mode = 0;  // Permission bits only.
  uint32_t uid = kNoId;
  uint32_t gid = kNoId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Name(m.name);
    io.Num(m.sock_type);
    io.Check(IsUnixSocketType(m.sock_type));
    io.AtMost(m.mode, uint32_t{07777});
    io.Num(m.uid);
    io.Num(m.gid);
  }
  bool operator==(const BindAtReq&) const = default;
};

}  // namespace veil::lisafs
