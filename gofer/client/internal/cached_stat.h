// SPDX-License-Identifier: Apache-2.0
//
// CachedStat: a file's attributes as the gofer client keeps them between
// calls, in 80 bytes rather than a Statx's 144: timestamps as nanoseconds
// since the epoch (1678 to 2262), the block size as a power of two, the
// host device as Linux's 32-bit encoding (12-bit major, 20-bit minor). A
// Statx any of whose values does not fit (a device node's rdev, a
// timestamp outside that range, an odd block size, a big device number)
// is kept whole, out of line. statx's `attributes` and `attributes_mask`
// are not kept: nothing in the VFS reports them.
//
// Not thread-safe: the owner (GoferInode) guards it with the filesystem
// mutex.
#pragma once

#include <cstdint>

#include "gofer/client/gofer_fs.h"
#include "lisafs/types.h"

namespace veil::gofer::client::internal {

class CachedStat final {
 public:
  explicit CachedStat(const lisafs::Statx& st) { Set(st); }
  ~CachedStat() { Clear(); }
  CachedStat(const CachedStat&) = delete;
  CachedStat& operator=(const CachedStat&) = delete;

  void Set(const lisafs::Statx& st);
  // The Statx as set (attributes and attributes_mask zero).
  lisafs::Statx Get() const;

  uint32_t mask() const { return full_ ? Full()->mask : mask_; }
  uint32_t mode() const { return full_ ? Full()->mode : mode_; }
  uint32_t uid() const { return full_ ? Full()->uid : uid_; }
  uint32_t gid() const { return full_ ? Full()->gid : gid_; }
  uint64_t size() const { return full_ ? Full()->size : size_; }
  uint64_t blocks() const { return full_ ? Full()->blocks : blocks_; }
  lisafs::Timestamp atime() const;
  lisafs::Timestamp mtime() const;
  lisafs::Timestamp ctime() const;
  lisafs::Timestamp btime() const;
  HostKey key() const;

  // What a successful SetStat changed.
  void set_mode(uint32_t mode);
  void set_uid(uint32_t uid);
  void set_gid(uint32_t gid);

  // Whether the last Set() needed the out-of-line form (for tests).
  bool is_full() const { return full_; }

 private:
  static constexpr uint8_t kNoBlksize = 0xff;  // blksize 0
  // Fills the compact fields; false (and nothing changed) if `st` does
  // not fit them.
  bool Pack(const lisafs::Statx& st);
  // The out-of-line Statx, whose pointer takes atime_ns_'s place.
  lisafs::Statx* Full() const;
  void Clear();

  int64_t atime_ns_ = 0, mtime_ns_ = 0, ctime_ns_ = 0, btime_ns_ = 0;
  uint64_t size_ = 0, blocks_ = 0, ino_ = 0;
  uint32_t nlink_ = 0, uid_ = 0, gid_ = 0, dev_ = 0;
  uint16_t mode_ = 0, mask_ = 0;
  uint8_t blksize_log2_ = kNoBlksize;
  bool full_ = false;
};

}  // namespace veil::gofer::client::internal
