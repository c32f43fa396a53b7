// SPDX-License-Identifier: Apache-2.0
#include "gofer/client/internal/cached_stat.h"

#include <cstring>
#include <limits>

namespace veil::gofer::client::internal {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
// The seconds whose nanoseconds fit in an int64, with room for nsec.
constexpr int64_t kMaxSec = std::numeric_limits<int64_t>::max() / kNsPerSec - 1;
constexpr int64_t kMinSec = std::numeric_limits<int64_t>::min() / kNsPerSec + 1;

bool PackTime(const lisafs::Timestamp& t, int64_t* ns) {
  if (t.sec < kMinSec || t.sec > kMaxSec || t.nsec >= kNsPerSec) return false;
  *ns = t.sec * kNsPerSec + static_cast<int64_t>(t.nsec);
  return true;
}

lisafs::Timestamp UnpackTime(int64_t ns) {
  int64_t sec = ns / kNsPerSec;
  int64_t rem = ns % kNsPerSec;
  if (rem < 0) {
    rem += kNsPerSec;
    --sec;
  }
  return lisafs::Timestamp{sec, static_cast<uint32_t>(rem)};
}

}  // namespace

bool CachedStat::Pack(const lisafs::Statx& st) {
  if (st.rdev_major != 0 || st.rdev_minor != 0) return false;
  if (st.dev_major >= (1u << 12) || st.dev_minor >= (1u << 20)) return false;
  if (st.mask > 0xffff) return false;
  if (st.blksize != 0 && (st.blksize & (st.blksize - 1)) != 0) return false;
  int64_t atime, mtime, ctime, btime;
  if (!PackTime(st.atime, &atime) || !PackTime(st.mtime, &mtime) ||
      !PackTime(st.ctime, &ctime) || !PackTime(st.btime, &btime))
    return false;
  Clear();
  atime_ns_ = atime;
  mtime_ns_ = mtime;
  ctime_ns_ = ctime;
  btime_ns_ = btime;
  blksize_log2_ = st.blksize == 0
                      ? kNoBlksize
                      : static_cast<uint8_t>(__builtin_ctz(st.blksize));
  size_ = st.size;
  blocks_ = st.blocks;
  ino_ = st.ino;
  nlink_ = st.nlink;
  uid_ = st.uid;
  gid_ = st.gid;
  dev_ = (st.dev_major << 20) | st.dev_minor;
  mode_ = st.mode;
  mask_ = static_cast<uint16_t>(st.mask);
  return true;
}

lisafs::Statx* CachedStat::Full() const {
  lisafs::Statx* full;
  std::memcpy(&full, &atime_ns_, sizeof full);
  return full;
}

void CachedStat::Clear() {
  if (full_) delete Full();
  full_ = false;
}

void CachedStat::Set(const lisafs::Statx& st) {
  if (Pack(st)) return;
  if (!full_) {
    lisafs::Statx* full = new lisafs::Statx;
    static_assert(sizeof full <= sizeof atime_ns_);
    std::memcpy(&atime_ns_, &full, sizeof full);
    full_ = true;
  }
  lisafs::Statx* full = Full();
  *full = st;
  full->attributes = 0;
  full->attributes_mask = 0;
}

lisafs::Statx CachedStat::Get() const {
  if (full_) return *Full();
  lisafs::Statx st;
  st.mask = mask_;
  st.blksize = blksize_log2_ == kNoBlksize ? 0 : 1u << blksize_log2_;
  st.nlink = nlink_;
  st.uid = uid_;
  st.gid = gid_;
  st.mode = mode_;
  st.ino = ino_;
  st.size = size_;
  st.blocks = blocks_;
  st.atime = UnpackTime(atime_ns_);
  st.btime = UnpackTime(btime_ns_);
  st.ctime = UnpackTime(ctime_ns_);
  st.mtime = UnpackTime(mtime_ns_);
  st.dev_major = dev_ >> 20;
  st.dev_minor = dev_ & ((1u << 20) - 1);
  return st;
}

lisafs::Timestamp CachedStat::atime() const {
  return full_ ? Full()->atime : UnpackTime(atime_ns_);
}
lisafs::Timestamp CachedStat::mtime() const {
  return full_ ? Full()->mtime : UnpackTime(mtime_ns_);
}
lisafs::Timestamp CachedStat::ctime() const {
  return full_ ? Full()->ctime : UnpackTime(ctime_ns_);
}
lisafs::Timestamp CachedStat::btime() const {
  return full_ ? Full()->btime : UnpackTime(btime_ns_);
}

HostKey CachedStat::key() const {
  if (full_) {
    const lisafs::Statx* f = Full();
    return HostKey{f->dev_major, f->dev_minor, f->ino};
  }
  return HostKey{dev_ >> 20, dev_ & ((1u << 20) - 1), ino_};
}

void CachedStat::set_mode(uint32_t mode) {
  if (full_) {
    Full()->mode = static_cast<uint16_t>(mode);
  } else {
    mode_ = static_cast<uint16_t>(mode);
  }
}

void CachedStat::set_uid(uint32_t uid) {
  if (full_) {
    Full()->uid = uid;
  } else {
    uid_ = uid;
  }
}

void CachedStat::set_gid(uint32_t gid) {
  if (full_) {
    Full()->gid = gid;
  } else {
    gid_ = gid;
  }
}

}  // namespace veil::gofer::client::internal
