// SPDX-License-Identifier: Apache-2.0
//
// The wire format between RemoteBackend (remote_backend.h, in the harness)
// and syscall_runner (syscall_runner.cc, a static program that performs
// the calls, inside `veil do` or as a plain host process).
//
// Frames, in both directions: a 32-bit length, then that many bytes of
// body. Integers are 64-bit little-endian (x86-64 only), strings a 32-bit
// length and the bytes.
//   request:  u8 WireOp, then the call's arguments (see syscall_runner.cc)
//   response: i64 rc (>= 0 or -errno), then the call's returned data
// The runner sends one response frame (kHello's) before reading anything:
// rc 0 once it has entered its root, else -errno of the step that failed.
//
// Both ends treat the other's bytes as hostile: WireReader never reads past
// the frame, every length is checked against what is left, and a frame
// over kMaxFrame is refused before anything is allocated for it.
//
// Header-only and free of veil_base, so that the static runner needs
// nothing but libc and libstdc++.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/difftest/backend.h"

namespace veil::difftest::wire {

// Big enough for a 1 MiB read or a directory of a few thousand entries;
// the generator's reads are far smaller.
inline constexpr uint32_t kMaxFrame = 4u << 20;

enum class WireOp : uint8_t {
  kHello = 0,  // the runner's first response only; never a request
  kSetCreds,
  kOpen,
  kClose,
  kMkdir,
  kMknod,
  kSymlink,
  kLink,
  kUnlink,
  kRmdir,
  kRename,
  kStat,
  kReadlink,
  kChmod,
  kChown,
  kUtimens,
  kTruncate,
  kAccess,
  kSetXattr,
  kGetXattr,
  kListXattr,
  kRemoveXattr,
  kPread,
  kPwrite,
  kRead,
  kWrite,
  kLseek,
  kFtruncate,
  kFallocate,
  kFstat,
  kFchmod,
  kGetdents,
  kLast = kGetdents,
};

class WireWriter {
 public:
  void U8(uint8_t v) { body_.push_back(static_cast<char>(v)); }
  void I64(int64_t v) {
    char b[8];
    std::memcpy(b, &v, 8);
    body_.append(b, 8);
  }
  void Str(const std::string& s) {
    uint32_t n = static_cast<uint32_t>(s.size());
    char b[4];
    std::memcpy(b, &n, 4);
    body_.append(b, 4);
    body_.append(s);
  }
  // The frame: length prefix and body.
  std::string Frame() const {
    uint32_t n = static_cast<uint32_t>(body_.size());
    std::string out(4, '\0');
    std::memcpy(out.data(), &n, 4);
    return out + body_;
  }
  size_t size() const { return body_.size(); }

 private:
  std::string body_;
};

// Reads one frame's body; after any short read ok() stays false and every
// further read yields zeros and empty strings.
class WireReader {
 public:
  explicit WireReader(const std::string& body) : body_(body) {}
  uint8_t U8() {
    if (!Need(1)) return 0;
    return static_cast<uint8_t>(body_[pos_++]);
  }
  int64_t I64() {
    if (!Need(8)) return 0;
    int64_t v;
    std::memcpy(&v, body_.data() + pos_, 8);
    pos_ += 8;
    return v;
  }
  std::string Str() {
    if (!Need(4)) return {};
    uint32_t n;
    std::memcpy(&n, body_.data() + pos_, 4);
    pos_ += 4;
    if (!Need(n)) return {};
    std::string s = body_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  bool ok() const { return ok_; }
  // True when the whole body was consumed without a short read.
  bool done() const { return ok_ && pos_ == body_.size(); }

 private:
  bool Need(size_t n) {
    if (!ok_ || body_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  const std::string& body_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// A StatResult as the runner sends it: 14 integers in StatResult's order.
inline bool ReadStat(WireReader& r, StatResult* out) {
  int64_t v[14];
  for (int64_t& x : v) x = r.I64();
  if (!r.ok()) return false;
  out->mode = static_cast<uint32_t>(v[0]);
  out->nlink = static_cast<uint32_t>(v[1]);
  out->uid = static_cast<uint32_t>(v[2]);
  out->gid = static_cast<uint32_t>(v[3]);
  out->size = static_cast<uint64_t>(v[4]);
  out->blocks = static_cast<uint64_t>(v[5]);
  out->ino = static_cast<uint64_t>(v[6]);
  out->rdev = static_cast<uint64_t>(v[7]);
  out->atime_sec = v[8];
  out->atime_nsec = v[9];
  out->mtime_sec = v[10];
  out->mtime_nsec = v[11];
  out->ctime_sec = v[12];
  out->ctime_nsec = v[13];
  return true;
}


}  // namespace veil::difftest::wire
