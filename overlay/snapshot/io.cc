// SPDX-License-Identifier: Apache-2.0
#include "overlay/snapshot/io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace veil::snapshot {

SnapshotError FromErrno(Errno error, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += std::strerror(error.code());
  if (error.message() != nullptr) {
    message += " (";
    message += error.message();
    message += ")";
  }
  return SnapshotError{error.code(), std::move(message)};
}

SnapshotResult<void> FdSink::Write(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno(Errno::FromErrno(), "writing the image");
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Done();
}

SnapshotResult<FdSource> FdSource::Create(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return FromErrno(Errno::FromErrno(), "reading the image");
  if (!S_ISREG(st.st_mode))
    return SnapshotError{EINVAL, "the image is not a regular file"};
  return FdSource(fd, static_cast<uint64_t>(st.st_size));
}

SnapshotResult<void> FdSource::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  while (!out.empty()) {
    ssize_t n =
        ::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno(Errno::FromErrno(), "reading the image");
    }
    if (n == 0)
      return Damaged("image truncated while reading at offset " +
                     std::to_string(offset));
    out = out.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Done();
}

SnapshotResult<void> MemorySource::ReadAt(uint64_t offset,
                                          std::span<uint8_t> out) {
  if (offset > bytes_.size() || out.size() > bytes_.size() - offset)
    return Damaged("read past the end of the image");
  if (out.empty()) return Done();  // out.data() may be null
  std::memcpy(out.data(), bytes_.data() + offset, out.size());
  return Done();
}

}  // namespace veil::snapshot
