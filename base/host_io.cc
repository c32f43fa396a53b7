// SPDX-License-Identifier: Apache-2.0
#include "base/host_io.h"

#include <unistd.h>

#include <cerrno>

namespace veil {

HostIo PReadFull(int fd, std::span<uint8_t> buf, uint64_t offset) {
  HostIo io;
  while (io.done < buf.size()) {
    ssize_t n = pread(fd, buf.data() + io.done, buf.size() - io.done,
                      static_cast<off_t>(offset + io.done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      io.error = errno;
      break;
    }
    if (n == 0) break;  // end of file
    io.done += static_cast<size_t>(n);
  }
  return io;
}

HostIo PWriteFull(int fd, std::span<const uint8_t> buf, uint64_t offset) {
  HostIo io;
  while (io.done < buf.size()) {
    ssize_t n = pwrite(fd, buf.data() + io.done, buf.size() - io.done,
                       static_cast<off_t>(offset + io.done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      io.error = n < 0 ? errno : EIO;
      break;
    }
    io.done += static_cast<size_t>(n);
  }
  return io;
}

}  // namespace veil
