// SPDX-License-Identifier: Apache-2.0
//
// HostBackend: I/O on open FDIDs. Each open FDID owns a host descriptor
// opened by OpenAt/OpenCreateAt; these calls are the matching p*() system
// calls on it, so the kernel keeps all per-file state.
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "gofer/server/host_backend.h"

namespace veil::gofer {
namespace {

const HostOpenFd& OpenOf(lisafs::ServerFd& fd) {
  // The server only passes open FDIDs here, which this backend made as
  // HostOpenFd (OpenAt, OpenCreateAt).
  return static_cast<HostOpenFd&>(fd);
}

// The fixed part of struct linux_dirent64 (the kernel's layout, which
// glibc does not declare).
struct LinuxDirent64Head {
  uint64_t d_ino;
  int64_t d_off;
  uint16_t d_reclen;
  uint8_t d_type;
};
constexpr size_t kDirentNameOffset = 19;

}  // namespace

Result<std::vector<uint8_t>> HostBackend::PRead(lisafs::ServerFd& fd,
                                                const lisafs::PReadReq& req) {
  std::vector<uint8_t> data(req.count);
  ssize_t n;
  do {
    n = ::pread(OpenOf(fd).fd(), data.data(), data.size(),
                static_cast<off_t>(req.offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Errno::FromErrno();
  data.resize(static_cast<size_t>(n));
  return data;
}

Result<uint64_t> HostBackend::PWrite(lisafs::ServerFd& fd,
                                     const lisafs::PWriteReq& req) {
  // A read-only export has no writable open FDIDs (OpenAt refuses them), so
  // the kernel's EBADF would do; EROFS says why.
  if (read_only()) return Errno(EROFS);
  ssize_t n;
  do {
    n = ::pwrite(OpenOf(fd).fd(), req.data.data(), req.data.size(),
                 static_cast<off_t>(req.offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Errno::FromErrno();
  return static_cast<uint64_t>(n);
}

Result<void> HostBackend::FSync(lisafs::ServerFd& fd) {
  return FromSyscall(::fsync(OpenOf(fd).fd()));
}

Result<void> HostBackend::FAllocate(lisafs::ServerFd& fd,
                                    const lisafs::FAllocateReq& req) {
  if (read_only()) return Errno(EROFS);
  return FromSyscall(::fallocate(OpenOf(fd).fd(), static_cast<int>(req.mode),
                                 static_cast<off_t>(req.offset),
                                 static_cast<off_t>(req.length)));
}

Result<uint64_t> HostBackend::SeekData(lisafs::ServerFd& fd,
                                       const lisafs::SeekDataReq& req) {
  const off_t at = ::lseek(OpenOf(fd).fd(), static_cast<off_t>(req.offset),
                           static_cast<int>(req.whence));
  if (at < 0) return Errno::FromErrno();
  return static_cast<uint64_t>(at);
}

Result<std::vector<lisafs::Dirent64>> HostBackend::Getdents64(
    lisafs::ServerFd& fd, const lisafs::Getdents64Req& req) {
  const HostOpenFd& dir = OpenOf(fd);
  // getdents64(2) on a non-directory: ENOTDIR.
  if (!dir.node()->is_dir()) return Errno(ENOTDIR);
  const InodeKey key = dir.node()->key();
  const uint32_t dev_major = major(key.dev);
  const uint32_t dev_minor = minor(key.dev);

  // The host's records have exactly the size lisafs budgets for
  // (DirentRecordSize), so a host buffer of req.count bytes yields entries
  // that fit the reply. "." and ".." are dropped (the client makes its
  // own); if a whole buffer held only those, read on, or the client would
  // take the empty reply for the end of the directory.
  std::vector<lisafs::Dirent64> out;
  std::vector<char> buffer(req.count);
  while (out.empty()) {
    long n;
    do {
      n = ::syscall(SYS_getdents64, dir.fd(), buffer.data(), buffer.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Errno::FromErrno();  // EINVAL: count too small.
    if (n == 0) break;                     // End of directory.
    for (long pos = 0; pos < n;) {
      LinuxDirent64Head head;
      std::memcpy(&head, buffer.data() + pos, sizeof(head));
      std::string_view name(buffer.data() + pos + kDirentNameOffset);
      pos += head.d_reclen;
      if (name == "." || name == "..") continue;
      out.push_back(lisafs::Dirent64{head.d_ino, dev_major, dev_minor,
                                     head.d_off, head.d_type,
                                     std::string(name)});
    }
  }
  return out;
}

}  // namespace veil::gofer
