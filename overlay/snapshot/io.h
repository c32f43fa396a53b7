// SPDX-License-Identifier: Apache-2.0
//
// Where an image is written to and read from: a host file descriptor (the
// CLI) or memory (tests, the fuzzer).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "overlay/snapshot/error.h"

namespace veil::snapshot {

// An append-only byte stream. Images are written front to back in one
// pass, so a pipe works as well as a file.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual SnapshotResult<void> Write(std::span<const uint8_t> bytes) = 0;
};

// Writes to a borrowed descriptor (the caller keeps it open and closes it).
class FdSink final : public ByteSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  SnapshotResult<void> Write(std::span<const uint8_t> bytes) override;

 private:
  const int fd_;
};

class StringSink final : public ByteSink {
 public:
  SnapshotResult<void> Write(std::span<const uint8_t> bytes) override {
    data_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Done();
  }
  std::string& data() { return data_; }

 private:
  std::string data_;
};

// Random-access bytes of a fixed size. ReadAt may be called from several
// threads at once (Image::Verify does).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Fills `out` from `offset`; the range is within size() (callers check).
  virtual SnapshotResult<void> ReadAt(uint64_t offset,
                                      std::span<uint8_t> out) = 0;
};

// Reads a borrowed descriptor of a regular file; the size is taken once,
// when it is created, so a file that shrinks later reads as damaged.
class FdSource final : public ByteSource {
 public:
  static SnapshotResult<FdSource> Create(int fd);
  uint64_t size() const override { return size_; }
  SnapshotResult<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override;

 private:
  FdSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  uint64_t size_;
};

// Borrows `bytes`, which must outlive it.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  SnapshotResult<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override;

 private:
  std::span<const uint8_t> bytes_;
};

}  // namespace veil::snapshot
