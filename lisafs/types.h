// SPDX-License-Identifier: Apache-2.0
//
// Vocabulary shared by every LISAFS message: message ids, protocol limits,
// FDIDs and the portable stat/dirent records.
//
// Everything here is a plain value type. The `Schema` member templates
// describe the wire layout once; the codec (codec.h) walks them with a
// Writer to encode and with a bounds-checked Reader to decode, so the layout
// and its validation rules cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace veil::lisafs {

// Bumped on any incompatible wire change. Mount carries it; a peer speaking
// another version is refused with EPROTONOSUPPORT.
inline constexpr uint32_t kProtocolVersion = 1;

// Message ids. The numbering follows gVisor's lisafs so that traces read the
// same; ids are never reused. Each request id has exactly one response of
// the same id, or an Error response.
enum class MessageId : uint16_t {
  kError = 0,          // Response only: the request failed with an errno.
  kMount = 1,          // Handshake: version check, root FDID (mount(2)).
  kChannel = 2,        // Opens an extra channel (socketpair(2) + SCM_RIGHTS).
  kFStat = 3,          // fstat(2)/statx(2) on an FDID.
  kSetStat = 4,        // fchmod(2)+fchown(2)+ftruncate(2)+utimensat(2).
  kWalk = 5,           // Repeated openat(O_PATH|O_NOFOLLOW) down a path.
  kWalkStat = 6,       // Repeated fstatat(AT_SYMLINK_NOFOLLOW) down a path.
  kOpenAt = 7,         // openat(2) of a control FDID itself ("" + flags).
  kOpenCreateAt = 8,   // openat(2) with O_CREAT|O_EXCL.
  kClose = 9,          // close(2), batched.
  kFSync = 10,         // fsync(2), batched.
  kPWrite = 11,        // pwrite(2).
  kPRead = 12,         // pread(2).
  kMkdirAt = 13,       // mkdirat(2).
  kMknodAt = 14,       // mknodat(2).
  kSymlinkAt = 15,     // symlinkat(2).
  kLinkAt = 16,        // linkat(2) with AT_EMPTY_PATH on the target.
  kFStatFS = 17,       // fstatfs(2).
  kFAllocate = 18,     // fallocate(2).
  kReadLinkAt = 19,    // readlinkat(2) with an empty path.
  kFlush = 20,         // The ->flush() that close(2) performs per descriptor.
  kConnect = 21,       // socket(2)+connect(2) to a named unix socket.
  kUnlinkAt = 22,      // unlinkat(2).
  kRenameAt = 23,      // renameat(2).
  kGetdents64 = 24,    // getdents64(2).
  kFGetXattr = 25,     // fgetxattr(2).
  kFSetXattr = 26,     // fsetxattr(2).
  kFListXattr = 27,    // flistxattr(2).
  kFRemoveXattr = 28,  // fremovexattr(2).
  kBindAt = 29,        // socket(2)+bind(2)+listen(2) on a new unix socket.
  kSeekData = 30,      // lseek(2) SEEK_DATA/SEEK_HOLE on an open FDID.
};
inline constexpr uint16_t kMaxMessageIdValue = 30;

// Stable, human-readable name ("PRead"); "Unknown" for values outside the
// enum. Never returns nullptr.
const char* MessageName(MessageId id);

// ---- Limits. The decoder enforces every one of them. ----

// Largest PRead/PWrite payload.
inline constexpr size_t kMaxIoSize = 1 << 20;
// Largest whole message (header included): an I/O payload plus room for the
// header and the other fields.
inline constexpr size_t kMaxMessageSize = kMaxIoSize + 4096;
// A channel that cannot carry at least this much is refused: every message
// other than PRead/PWrite/Getdents64 must fit (see Channel).
inline constexpr size_t kMinMessageSize = 128 * 1024;
// Components in one Walk/WalkStat request.
inline constexpr size_t kMaxWalkComponents = 256;
// FDIDs in one Close/FSync batch.
inline constexpr size_t kMaxBatchFds = 1024;
// Directory entries in one Getdents64 response, and the byte budget a client
// may ask for.
inline constexpr size_t kMaxDirents = 4096;
inline constexpr size_t kMaxGetdentsBytes = 64 * 1024;
// NAME_MAX, PATH_MAX less its NUL, XATTR_NAME_MAX and XATTR_SIZE_MAX from
// Linux.
inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxPathLength = 4095;
inline constexpr size_t kMaxXattrNameLength = 255;
inline constexpr size_t kMaxXattrSize = 64 * 1024;
// Names returned by one FListXattr.
inline constexpr size_t kMaxXattrNames = 4096;
// Host descriptors attached to one message (the protocol uses at most one;
// the channel allows a little slack so that extra ones are seen and closed).
inline constexpr size_t kMaxFdsPerMessage = 4;

// "Leave unchanged / server's choice" for uid and gid fields.
inline constexpr uint32_t kNoId = 0xffffffff;

// A server-side handle, like a file descriptor number but chosen by the
// server and never reused within a connection. 0 is never valid.
using FdId = uint64_t;
inline constexpr FdId kNoFdId = 0;

// Names a single directory entry may carry: not empty, not "." or "..", no
// '/', no NUL, at most kMaxNameLength bytes. Every name a server backend
// sees has passed this check (Fuchsia's IsValidName invariant).
bool IsSafeName(std::string_view name);

// Which text fields may be empty.
enum class TextRule : uint8_t { kMayBeEmpty, kNonEmpty };

// Bits of Statx::mask, with Linux's STATX_* values.
inline constexpr uint32_t kStatxType = 0x1;
inline constexpr uint32_t kStatxMode = 0x2;
inline constexpr uint32_t kStatxNlink = 0x4;
inline constexpr uint32_t kStatxUid = 0x8;
inline constexpr uint32_t kStatxGid = 0x10;
inline constexpr uint32_t kStatxAtime = 0x20;
inline constexpr uint32_t kStatxMtime = 0x40;
inline constexpr uint32_t kStatxCtime = 0x80;
inline constexpr uint32_t kStatxIno = 0x100;
inline constexpr uint32_t kStatxSize = 0x200;
inline constexpr uint32_t kStatxBlocks = 0x400;
inline constexpr uint32_t kStatxBtime = 0x800;
inline constexpr uint32_t kStatxAll = 0xfff;

// True if `mode & S_IFMT` names one of the seven Linux file types.
bool IsValidFileType(uint32_t mode);

// A point in time; nsec is always below one second.
struct Timestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Num(m.sec);
    io.AtMost(m.nsec, uint32_t{999'999'999});
  }
  bool operator==(const Timestamp&) const = default;
};

// statx(2) results in a layout of our own (fixed-width, little-endian), so
// that neither side depends on the host's struct stat.
struct Statx {
  uint32_t mask = 0;  // kStatx* bits that are valid.
  uint32_t blksize = 0;
  uint64_t attributes = 0;
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint16_t mode = 0;  // File type and permission bits.
  uint64_t ino = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;
  uint64_t attributes_mask = 0;
  Timestamp atime;
  Timestamp btime;
  Timestamp ctime;
  Timestamp mtime;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Mask(m.mask, kStatxAll);
    io.Num(m.blksize);
    io.Num(m.attributes);
    io.Num(m.nlink);
    io.Num(m.uid);
    io.Num(m.gid);
    io.Num(m.mode);
    // A type the client cannot classify would leak into its dentry cache.
    io.Check((m.mask & kStatxType) == 0 || IsValidFileType(m.mode));
    io.Num(m.ino);
    io.Num(m.size);
    io.Num(m.blocks);
    io.Num(m.attributes_mask);
    io.Struct(m.atime);
    io.Struct(m.btime);
    io.Struct(m.ctime);
    io.Struct(m.mtime);
    io.Num(m.rdev_major);
    io.Num(m.rdev_minor);
    io.Num(m.dev_major);
    io.Num(m.dev_minor);
  }
  bool operator==(const Statx&) const = default;
};

// A file the server has given the client a control FDID for, with its
// attributes at that moment.
struct Inode {
  FdId control_fd = kNoFdId;
  Statx stat;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.control_fd);
    io.Struct(m.stat);
  }
  bool operator==(const Inode&) const = default;
};

// One getdents64(2) record. "." and ".." are never sent: the client
// synthesises them, so a server cannot lie about a directory's parent.
struct Dirent64 {
  uint64_t ino = 0;
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  int64_t off = 0;   // Opaque position after this entry.
  uint8_t type = 0;  // DT_* value.
  std::string name;

  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Num(m.ino);
    io.Num(m.dev_major);
    io.Num(m.dev_minor);
    io.Num(m.off);
    io.AtMost(m.type, uint8_t{15});  // DT_* values fit in four bits.
    io.Name(m.name);
  }
  bool operator==(const Dirent64&) const = default;
};

}  // namespace veil::lisafs
