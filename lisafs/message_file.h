// SPDX-License-Identifier: Apache-2.0
//
// Messages about one file: attributes, I/O on open FDIDs and directory
// reading. Conventions: see message_session.h.
//
// "Control FDID" names a file without opening it (like O_PATH); "open
// FDID" is one returned by OpenAt/OpenCreateAt. The server answers EBADF
// when a request names an FDID of the wrong kind, as Linux does for read(2)
// on an O_PATH descriptor.
#pragma once

#include <sys/statfs.h>

#include <linux/falloc.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lisafs/message_session.h"
#include "lisafs/types.h"

namespace veil::lisafs {

inline constexpr uint64_t kMaxOffset = INT64_MAX;  // loff_t is signed.

// FStat (fstat(2)): attributes of any FDID.
struct FStatResp {
  static constexpr MessageId kId = MessageId::kFStat;
  Statx stat;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Struct(m.stat);
  }
  bool operator==(const FStatResp&) const = default;
};

struct FStatReq {
  static constexpr MessageId kId = MessageId::kFStat;
  using Response = FStatResp;
  FdId fd = kNoFdId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
  }
  bool operator==(const FStatReq&) const = default;
};

// SetStat: fchmod(2), fchown(2), ftruncate(2) and utimensat(2) in one call
// on a control FDID. Each change is attempted; the reply reports the ones
// that failed (gVisor's model: a partial chown must not hide a truncate).
inline constexpr uint32_t kSetStatMode = kStatxMode;
inline constexpr uint32_t kSetStatUid = kStatxUid;
inline constexpr uint32_t kSetStatGid = kStatxGid;
inline constexpr uint32_t kSetStatAtime = kStatxAtime;
inline constexpr uint32_t kSetStatMtime = kStatxMtime;
inline constexpr uint32_t kSetStatSize = kStatxSize;
// With kSetStatAtime/kSetStatMtime: use the server's clock (UTIME_NOW).
inline constexpr uint32_t kSetStatAtimeNow = 0x10000;
inline constexpr uint32_t kSetStatMtimeNow = 0x20000;
inline constexpr uint32_t kSetStatChanges = kSetStatMode | kSetStatUid |
                                            kSetStatGid | kSetStatAtime |
                                            kSetStatMtime | kSetStatSize;

struct SetStatResp {
  static constexpr MessageId kId = MessageId::kSetStat;
  uint32_t failure_mask = 0;   // kSetStat* bits that failed.
  uint32_t failure_errno = 0;  // One of their errnos; 0 iff none failed.
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Mask(m.failure_mask, kSetStatChanges);
    io.AtMost(m.failure_errno, uint32_t{4095});
    io.Check((m.failure_mask == 0) == (m.failure_errno == 0));
  }
  bool operator==(const SetStatResp&) const = default;
};

struct SetStatReq {
  static constexpr MessageId kId = MessageId::kSetStat;
  using Response = SetStatResp;
  FdId fd = kNoFdId;
  uint32_t mask = 0;
  uint32_t mode = 0;  // Permission bits only.
  uint32_t uid = kNoId;
  uint32_t gid = kNoId;
  uint64_t size = 0;
  Timestamp atime;
  Timestamp mtime;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.Mask(m.mask, kSetStatChanges | kSetStatAtimeNow | kSetStatMtimeNow);
    io.AtMost(m.mode, uint32_t{07777});
    io.Num(m.uid);
    io.Num(m.gid);
    io.AtMost(m.size, kMaxOffset);
    io.Struct(m.atime);
    io.Struct(m.mtime);
  }
  bool operator==(const SetStatReq&) const = default;
};

// FStatFS (fstatfs(2)) on a control FDID.
struct FStatFSResp {
  static constexpr MessageId kId = MessageId::kFStatFS;
  uint64_t type = 0;
  uint64_t block_size = 0;
  uint64_t blocks = 0;
  uint64_t blocks_free = 0;
  uint64_t blocks_available = 0;
  uint64_t files = 0;
  uint64_t files_free = 0;
  uint64_t name_length = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Num(m.type);
    io.Num(m.block_size);
    io.Num(m.blocks);
    io.Num(m.blocks_free);
    io.Num(m.blocks_available);
    io.Num(m.files);
    io.Num(m.files_free);
    io.Num(m.name_length);
  }
  bool operator==(const FStatFSResp&) const = default;
};

// The reply for a host statfs(2) result (both backends' FStatFS).
inline FStatFSResp ToFStatFS(const struct statfs& st) {
  FStatFSResp resp;
  resp.type = static_cast<uint64_t>(st.f_type);
  resp.block_size = static_cast<uint64_t>(st.f_bsize);
  resp.blocks = st.f_blocks;
  resp.blocks_free = st.f_bfree;
  resp.blocks_available = st.f_bavail;
  resp.files = st.f_files;
  resp.files_free = st.f_ffree;
  resp.name_length = static_cast<uint64_t>(st.f_namelen);
  return resp;
}

struct FStatFSReq {
  static constexpr MessageId kId = MessageId::kFStatFS;
  using Response = FStatFSResp;
  FdId fd = kNoFdId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
  }
  bool operator==(const FStatFSReq&) const = default;
};

// PRead (pread(2)) on an open FDID. The server may return fewer bytes than
// asked (end of file, or its negotiated message size).
struct PReadResp {
  static constexpr MessageId kId = MessageId::kPRead;
  std::vector<uint8_t> data;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Blob(m.data, kMaxIoSize);
  }
  bool operator==(const PReadResp&) const = default;
};

struct PReadReq {
  static constexpr MessageId kId = MessageId::kPRead;
  using Response = PReadResp;
  FdId fd = kNoFdId;
  uint64_t offset = 0;
  uint32_t count = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.AtMost(m.offset, kMaxOffset);
    io.AtMost(m.count, uint32_t{kMaxIoSize});
  }
  bool operator==(const PReadReq&) const = default;
};

// PWrite (pwrite(2)) on an open FDID; the reply is the byte count written.
struct PWriteResp {
  static constexpr MessageId kId = MessageId::kPWrite;
  uint64_t count = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.AtMost(m.count, uint64_t{kMaxIoSize});
  }
  bool operator==(const PWriteResp&) const = default;
};

struct PWriteReq {
  static constexpr MessageId kId = MessageId::kPWrite;
  using Response = PWriteResp;
  FdId fd = kNoFdId;
  uint64_t offset = 0;
  std::vector<uint8_t> data;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.AtMost(m.offset, kMaxOffset);
    io.Blob(m.data, kMaxIoSize);
  }
  bool operator==(const PWriteReq&) const = default;
};

// FSync (fsync(2), batched) on open FDIDs. All are synced; the first
// failure is the reply.
using FSyncResp = EmptyResp<MessageId::kFSync>;

struct FSyncReq {
  static constexpr MessageId kId = MessageId::kFSync;
  using Response = FSyncResp;
  std::vector<FdId> fds;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.List(m.fds, kMaxBatchFds, [&io](auto& fd) { io.Fd(fd); });
  }
  bool operator==(const FSyncReq&) const = default;
};

// FAllocate (fallocate(2)) on an open FDID.
inline constexpr uint64_t kFallocateModes =
    FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE |
    FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE;

using FAllocateResp = EmptyResp<MessageId::kFAllocate>;

struct FAllocateReq {
  static constexpr MessageId kId = MessageId::kFAllocate;
  using Response = FAllocateResp;
  FdId fd = kNoFdId;
  uint64_t mode = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.Mask(m.mode, kFallocateModes);
    io.AtMost(m.offset, kMaxOffset);
    io.AtMost(m.length, kMaxOffset);
  }
  bool operator==(const FAllocateReq&) const = default;
};

// SeekData (lseek(2) with SEEK_DATA or SEEK_HOLE) on an open FDID: where
// the next data or hole starts at or after offset, as the server's file
// system knows it. A client whose file has no donated descriptor (opened
// only for writing, say, and since unlinked) has no other way to ask.
struct SeekDataResp {
  static constexpr MessageId kId = MessageId::kSeekData;
  uint64_t offset = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.AtMost(m.offset, kMaxOffset);
  }
  bool operator==(const SeekDataResp&) const = default;
};

struct SeekDataReq {
  static constexpr MessageId kId = MessageId::kSeekData;
  using Response = SeekDataResp;
  FdId fd = kNoFdId;
  uint64_t offset = 0;
  uint32_t whence = 3;  // SEEK_DATA (3) or SEEK_HOLE (4)
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.AtMost(m.offset, kMaxOffset);
    io.Num(m.whence);
    io.Check(m.whence == 3 || m.whence == 4);
  }
  bool operator==(const SeekDataReq&) const = default;
};

// Flush: what close(2) does for one descriptor of an open file (the
// ->flush() hook), without forgetting the FDID.
using FlushResp = EmptyResp<MessageId::kFlush>;

struct FlushReq {
  static constexpr MessageId kId = MessageId::kFlush;
  using Response = FlushResp;
  FdId fd = kNoFdId;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
  }
  bool operator==(const FlushReq&) const = default;
};

// Getdents64 (getdents64(2)) on an open directory FDID: entries worth at
// most `count` bytes of linux_dirent64 records. An empty reply means the
// end of the directory.
struct Getdents64Resp {
  static constexpr MessageId kId = MessageId::kGetdents64;
  std::vector<Dirent64> dirents;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.List(m.dirents, kMaxDirents, [&io](auto& d) { io.Struct(d); });
  }
  bool operator==(const Getdents64Resp&) const = default;
};

struct Getdents64Req {
  static constexpr MessageId kId = MessageId::kGetdents64;
  using Response = Getdents64Resp;
  FdId fd = kNoFdId;
  uint32_t count = 0;
  template <typename Io, typename Self>
  static void Schema(Io& io, Self& m) {
    io.Fd(m.fd);
    io.AtMost(m.count, uint32_t{kMaxGetdentsBytes});
  }
  bool operator==(const Getdents64Req&) const = default;
};

}  // namespace veil::lisafs
