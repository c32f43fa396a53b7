// SPDX-License-Identifier: Apache-2.0
//
// RemoteBackend's fd operations (remote_backend.h).
#include <errno.h>

#include "tests/difftest/remote_backend.h"
#include "tests/difftest/wire.h"

namespace veil::difftest {

using wire::WireOp;
using wire::WireReader;
using wire::WireWriter;
using wire::ReadStat;

namespace {

WireWriter FdReq(WireOp op, int fd) {
  WireWriter w;
  w.U8(static_cast<uint8_t>(op));
  w.I64(fd);
  return w;
}

}  // namespace

// read and pread: rc, then the bytes (exactly rc of them, at most count).
int RemoteBackend::Pread(int fd, size_t count, off_t offset,
                         std::string* out) {
  WireWriter w = FdReq(WireOp::kPread, fd);
  w.I64(static_cast<int64_t>(count));
  w.I64(offset);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  std::string data = rc >= 0 ? r.Str() : "";
  if (!r.done() || rc < -4095 ||
      (rc >= 0 && (static_cast<size_t>(rc) != data.size() ||
                   data.size() > count))) {
    Break("malformed pread response");
    return -EIO;
  }
  if (rc >= 0) *out = std::move(data);
  return static_cast<int>(rc);
}

int RemoteBackend::Read(int fd, size_t count, std::string* out) {
  WireWriter w = FdReq(WireOp::kRead, fd);
  w.I64(static_cast<int64_t>(count));
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  std::string data = rc >= 0 ? r.Str() : "";
  if (!r.done() || rc < -4095 ||
      (rc >= 0 && (static_cast<size_t>(rc) != data.size() ||
                   data.size() > count))) {
    Break("malformed read response");
    return -EIO;
  }
  if (rc >= 0) *out = std::move(data);
  return static_cast<int>(rc);
}

int RemoteBackend::Pwrite(int fd, const std::string& data, off_t offset) {
  WireWriter w = FdReq(WireOp::kPwrite, fd);
  w.Str(data);
  w.I64(offset);
  return Simple(w);
}

int RemoteBackend::Write(int fd, const std::string& data) {
  WireWriter w = FdReq(WireOp::kWrite, fd);
  w.Str(data);
  return Simple(w);
}

off_t RemoteBackend::Lseek(int fd, off_t offset, int whence) {
  WireWriter w = FdReq(WireOp::kLseek, fd);
  w.I64(offset);
  w.I64(whence);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  if (!r.done() || rc < -4095) {
    Break("malformed lseek response");
    return -EIO;
  }
  return rc;
}

int RemoteBackend::Ftruncate(int fd, off_t length) {
  WireWriter w = FdReq(WireOp::kFtruncate, fd);
  w.I64(length);
  return Simple(w);
}

int RemoteBackend::Fallocate(int fd, int mode, off_t offset, off_t length) {
  WireWriter w = FdReq(WireOp::kFallocate, fd);
  w.I64(mode);
  w.I64(offset);
  w.I64(length);
  return Simple(w);
}

int RemoteBackend::Fstat(int fd, StatResult* out) {
  WireWriter w = FdReq(WireOp::kFstat, fd);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  StatResult st;
  if (rc == 0 && !ReadStat(r, &st)) rc = 1;
  if (!r.done() || rc > 0 || rc < -4095) {
    Break("malformed fstat response");
    return -EIO;
  }
  if (rc == 0) *out = st;
  return static_cast<int>(rc);
}

int RemoteBackend::Fchmod(int fd, mode_t mode) {
  WireWriter w = FdReq(WireOp::kFchmod, fd);
  w.I64(mode);
  return Simple(w);
}

// rc, then on success: a count and that many (name, ino, type).
int RemoteBackend::Getdents(int fd, std::vector<DirEntry>* out) {
  WireWriter w = FdReq(WireOp::kGetdents, fd);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  std::vector<DirEntry> entries;
  if (rc == 0) {
    int64_t n = r.I64();
    // Each entry takes at least 20 bytes: no count can exceed the frame.
    if (n < 0 || n > static_cast<int64_t>(body.size() / 20)) {
      Break("malformed getdents count");
      return -EIO;
    }
    for (int64_t i = 0; i < n && r.ok(); ++i) {
      DirEntry d;
      d.name = r.Str();
      d.ino = static_cast<uint64_t>(r.I64());
      d.type = static_cast<uint8_t>(r.I64());
      entries.push_back(std::move(d));
    }
  }
  if (!r.done() || rc > 0 || rc < -4095) {
    Break("malformed getdents response");
    return -EIO;
  }
  if (rc == 0) *out = std::move(entries);
  return static_cast<int>(rc);
}

}  // namespace veil::difftest
