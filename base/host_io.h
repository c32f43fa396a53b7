// SPDX-License-Identifier: Apache-2.0
//
// Whole-buffer positional I/O on host descriptors: pread(2)/pwrite(2)
// repeated through EINTR and short transfers until the buffer is done, a
// read meets end of file, or an error stops it.
//
//   HostIo io = PWriteFull(fd, bytes, offset);
//   if (io.error != 0 && io.done == 0) return Errno(io.error);  // nothing
//   return io.done;                              // all, or a short write
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace veil {

struct HostIo {
  size_t done = 0;  // bytes transferred
  int error = 0;    // 0, or the errno that stopped the transfer
};

// Reads into `buf` at `offset`. `error` is 0 when `buf` was filled or end
// of file came first (then done < buf.size()).
HostIo PReadFull(int fd, std::span<uint8_t> buf, uint64_t offset);

// Writes all of `buf` at `offset`. A write the kernel reports as 0 bytes
// stops it with EIO.
HostIo PWriteFull(int fd, std::span<const uint8_t> buf, uint64_t offset);

}  // namespace veil
