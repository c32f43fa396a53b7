// SPDX-License-Identifier: Apache-2.0
//
// Lookup and open messages: Walk, WalkStat, OpenAt, OpenCreateAt,
// ReadLinkAt. Conventions: see message_session.h.
//
// Paths never cross the wire whole: a client resolves them itself and asks
// the server to step through single, checked components (IsSafeName), so a
// server never follows a symlink or ".." on a client's behalf.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lisafs/message_session.h"
#include "lisafs/types.h"

namespace veil::lisafs {

// Why a Walk stopped. A short walk is not an error: the client learns how
// far the server got and decides (ENOENT, or resolve the symlink itself).
enum class WalkStatus : uint8_t {
  kSuccess = 0,           // Every component was walked.
  kComponentMissing = 1,  // The next component does not exist.
  kComponentSymlink = 2,  // The last inode returned is a symlink.
};

// Walk: openat(dir, name, O_PATH|O_NOFOLLOW) component by component, from a
// directory control FDID. Each walked component yields a new control FDID.
struct WalkResp {
  static constexpr MessageId kId = MessageId::kWalk;
  WalkStatus status = WalkStatus::kSuccess;
  std::vector<Inode> inodes;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Enum(m.status, WalkStatus::kComponentSymlink);
    io.List(m.inodes, kMaxWalkComponents, [&io](auto& i) { io.Struct(i); });
  }
  bool operator==(const WalkResp&) const = default;
};

struct WalkReq {
  static constexpr MessageId kId = MessageId::kWalk;
  using Response = WalkResp;
  FdId dir_fd = kNoFdId;
  std::vector<std::string> names;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.List(m.names, kMaxWalkComponents, [&io](auto& n) { io.Name(n); });
  }
  bool operator==(const WalkReq&) const = default;
};

// WalkStat: fstatat(dir, name, AT_SYMLINK_NOFOLLOW) component by component,
// allocating no FDIDs. Stops silently at a missing component or a symlink.
enum class WalkStatStart : uint8_t {
  kSkip = 0,     // Stats of the named components only.
  kInclude = 1,  // The starting directory's stat first.
};

struct WalkStatResp {
  static constexpr MessageId kId = MessageId::kWalkStat;
  std::vector<Statx> stats;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.List(m.stats, kMaxWalkComponents + 1, [&io](auto& s) { io.Struct(s); });
  }
  bool operator==(const WalkStatResp&) const = default;
};

struct WalkStatReq {
  static constexpr MessageId kId = MessageId::kWalkStat;
  using Response = WalkStatResp;
  FdId dir_fd = kNoFdId;
  WalkStatStart start = WalkStatStart::kSkip;
  std::vector<std::string> names;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Enum(m.start, WalkStatStart::kInclude);
    io.List(m.names, kMaxWalkComponents, [&io](auto& n) { io.Name(n); });
  }
  bool operator==(const WalkStatReq&) const = default;
};

// open(2) flags a client may ask for. Creation, O_PATH, O_NOFOLLOW,
// O_CLOEXEC and the like are the server's business, never the client's.
inline constexpr uint32_t kOpenFlags = O_ACCMODE | O_TRUNC | O_APPEND |
                                       O_NONBLOCK | O_DSYNC | O_SYNC |
                                       O_DIRECT | O_NOATIME | O_DIRECTORY;

template <typename Io>
void CheckOpenFlags(Io& io, uint32_t flags) {
  io.Check((flags & ~kOpenFlags) == 0 && (flags & O_ACCMODE) != O_ACCMODE);
}

// OpenAt: openat(2) of the file a control FDID names (no lookup), giving an
// open FDID. A server may donate the host descriptor (one fd attached) so
// the client can do I/O without a round trip.
struct OpenAtResp {
  static constexpr MessageId kId = MessageId::kOpenAt;
  FdId open_fd = kNoFdId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.open_fd);
    io.Fds(0, 1);
  }
  bool operator==(const OpenAtResp&) const = default;
};

struct OpenAtReq {
  static constexpr MessageId kId = MessageId::kOpenAt;
  using Response = OpenAtResp;
  FdId fd = kNoFdId;
  uint32_t flags = O_RDONLY;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.Num(m.flags);
    CheckOpenFlags(io, m.flags);
  }
  bool operator==(const OpenAtReq&) const = default;
};

// OpenCreateAt: openat(dir, name, flags|O_CREAT|O_EXCL, mode) of a regular
// file. Returns a control FDID for the new file and an open FDID, with an
// optional donated host descriptor as in OpenAt.
struct OpenCreateAtResp {
  static constexpr MessageId kId = MessageId::kOpenCreateAt;
  Inode child;
  FdId open_fd = kNoFdId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Struct(m.child);
    io.Fd(m.open_fd);
    io.Fds(0, 1);
  }
  bool operator==(const OpenCreateAtResp&) const = default;
};

struct OpenCreateAtReq {
  static constexpr MessageId kId = MessageId::kOpenCreateAt;
  using Response = OpenCreateAtResp;
  FdId dir_fd = kNoFdId;
  std::string name;
  uint32_t mode = 0;  // Permission bits only.
  uint32_t uid = kNoId;
  uint32_t gid = kNoId;
  uint32_t flags = O_RDWR;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.dir_fd);
    io.Name(m.name);
    io.AtMost(m.mode, uint32_t{07777});
    io.Num(m.uid);
    io.Num(m.gid);
    io.Num(m.flags);
    CheckOpenFlags(io, m.flags);
  }
  bool operator==(const OpenCreateAtReq&) const = default;
};

// ReadLinkAt: readlinkat(fd, "", ...) on a symlink's control FDID.
struct ReadLinkAtResp {
  static constexpr MessageId kId = MessageId::kReadLinkAt;
  std::string target;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Text(m.target, kMaxPathLength, TextRule::kMayBeEmpty);
  }
  bool operator==(const ReadLinkAtResp&) const = default;
};

struct ReadLinkAtReq {
  static constexpr MessageId kId = MessageId::kReadLinkAt;
  using Response = ReadLinkAtResp;
  FdId fd = kNoFdId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
  }
  bool operator==(const ReadLinkAtReq&) const = default;
};

}  // namespace veil::lisafs
