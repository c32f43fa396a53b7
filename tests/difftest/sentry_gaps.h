// SPDX-License-Identifier: Apache-2.0
//
// SentryGaps: the sentry's known differences from Linux that the sentry
// difftest must not keep finding, each excluded as narrowly as it can be.
// Put around *both* backends (like the FUSE difftest's FuseKernelEffects),
// so both sides answer the excluded calls identically; every other call
// passes through. Remove a gap when the sentry closes it.
//
//  - kNativeFifo (veil do's default mode). A FIFO node has no host twin
//    yet: its fd's twin is the dead directory (sentry/kernel/host_twins.h),
//    so the calls that run natively on the twin answer as a directory's:
//    lseek(SEEK_END) succeeds and SEEK_DATA is ENXIO where Linux says
//    ESPIPE; read and write fail where Linux's would work. read, write,
//    pread, pwrite and lseek on a FIFO fd are therefore not performed on
//    either side and answer -ESPIPE (harmless: neither side's FIFO moves).
//  - kHostFileTimes. A tmpfs file's data moves to a host file (a memfd)
//    when veil first needs one (at the first open of a regular file in the
//    default mode, for its twin; at fallocate in both modes), and
//    TmpfsInode::GetAttrLocked (vfs/tmpfs/tmpfs.cc) reports the later of
//    the host file's times and veil's. So the host file's own stamps leak
//    into stat: its creation ("now"), and veil's ftruncate/fallocate on it
//    (ftruncate(2) stamps mtime and ctime even when the size does not
//    change, where truncate(2) to the same size changes nothing). Seen:
//    open without O_TRUNC changing atime, mtime and ctime; fallocate
//    (KEEP_SIZE) changing atime; truncate to the same size changing mtime.
//    After open (of a regular file, default mode only), truncate,
//    ftruncate and fallocate, the file's three times read as kMaskedTime
//    on both sides until they are next set explicitly (the runner does
//    that before the next step): only that step's times of that file go
//    uncompared.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "tests/difftest/forwarding_backend.h"

namespace veil::difftest {

enum class SentryGap {
  kNativeFifo,
  kHostFileTimes,        // after truncate, ftruncate, fallocate
  kHostFileTimesOnOpen,  // after an open of a regular file, too
};

class SentryGaps final : public ForwardingBackend {
 public:
  SentryGaps(Backend& inner, std::set<SentryGap> gaps)
      : ForwardingBackend(inner), gaps_(std::move(gaps)) {}

  static constexpr struct timespec kMaskedTime = {2, 0};

  int Read(int fd, size_t count, std::string* out) override {
    if (NativeFifo(fd)) return -ESPIPE;
    return inner().Read(fd, count, out);
  }
  int Pread(int fd, size_t count, off_t offset, std::string* out) override {
    if (NativeFifo(fd)) return -ESPIPE;
    return inner().Pread(fd, count, offset, out);
  }
  int Write(int fd, const std::string& data) override {
    if (NativeFifo(fd)) return -ESPIPE;
    return inner().Write(fd, data);
  }
  int Pwrite(int fd, const std::string& data, off_t offset) override {
    if (NativeFifo(fd)) return -ESPIPE;
    return inner().Pwrite(fd, data, offset);
  }
  off_t Lseek(int fd, off_t offset, int whence) override {
    if (NativeFifo(fd)) return -ESPIPE;
    return inner().Lseek(fd, offset, whence);
  }
  int Open(const std::string& path, int flags, mode_t mode) override {
    int fd = inner().Open(path, flags, mode);
    StatResult st;
    if (fd >= 0 && gaps_.count(SentryGap::kHostFileTimesOnOpen) &&
        inner().Fstat(fd, &st) == 0 && S_ISREG(st.mode))
      masked_.insert(st.ino);
    return fd;
  }
  int Fallocate(int fd, int mode, off_t offset, off_t length) override {
    int rc = inner().Fallocate(fd, mode, offset, length);
    if (rc == 0) MaskFd(fd);
    return rc;
  }
  int Ftruncate(int fd, off_t length) override {
    int rc = inner().Ftruncate(fd, length);
    if (rc == 0) MaskFd(fd);
    return rc;
  }
  int Truncate(const std::string& path, off_t length) override {
    int rc = inner().Truncate(path, length);
    StatResult st;
    if (rc == 0 && gaps_.count(SentryGap::kHostFileTimes) &&
        inner().Stat(path, 0, &st) == 0)
      masked_.insert(st.ino);
    return rc;
  }
  int Utimens(const std::string& path, const struct timespec times[2],
              int flags) override {
    int rc = inner().Utimens(path, times, flags);
    StatResult st;
    if (rc == 0 && (!times || times[0].tv_nsec != UTIME_OMIT) &&
        inner().Stat(path, flags & AT_SYMLINK_NOFOLLOW, &st) == 0)
      masked_.erase(st.ino);
    return rc;
  }
  int Stat(const std::string& path, int flags, StatResult* out) override {
    int rc = inner().Stat(path, flags, out);
    if (rc == 0) Mask(out);
    return rc;
  }
  int Fstat(int fd, StatResult* out) override {
    int rc = inner().Fstat(fd, out);
    if (rc == 0) Mask(out);
    return rc;
  }

 private:
  bool NativeFifo(int fd) {
    StatResult st;
    return gaps_.count(SentryGap::kNativeFifo) &&
           inner().Fstat(fd, &st) == 0 && S_ISFIFO(st.mode);
  }
  void MaskFd(int fd) {
    StatResult st;
    if (gaps_.count(SentryGap::kHostFileTimes) && inner().Fstat(fd, &st) == 0)
      masked_.insert(st.ino);
  }
  void Mask(StatResult* st) const {
    if (!masked_.count(st->ino)) return;
    st->atime_sec = st->mtime_sec = st->ctime_sec = kMaskedTime.tv_sec;
    st->atime_nsec = st->mtime_nsec = st->ctime_nsec = kMaskedTime.tv_nsec;
  }

  const std::set<SentryGap> gaps_;
  std::set<uint64_t> masked_;  // inodes whose times are masked
};

}  // namespace veil::difftest
