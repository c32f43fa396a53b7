// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/syscall_runner_calls.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace veil::difftest::runner {
namespace {

long Ret(long rc) { return rc < 0 ? -errno : rc; }

long Statx(int dirfd, const char* path, int at_flags, struct stat* st) {
  struct statx sx;
  long rc = Ret(statx(dirfd, path, at_flags | AT_STATX_SYNC_AS_STAT,
                      STATX_BASIC_STATS, &sx));
  if (rc != 0) return rc;
  *st = {};
  st->st_mode = sx.stx_mode;
  st->st_nlink = sx.stx_nlink;
  st->st_uid = sx.stx_uid;
  st->st_gid = sx.stx_gid;
  st->st_size = static_cast<off_t>(sx.stx_size);
  st->st_blocks = static_cast<blkcnt_t>(sx.stx_blocks);
  st->st_ino = sx.stx_ino;
  st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
  st->st_atim = {sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec};
  st->st_mtim = {sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec};
  st->st_ctim = {sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec};
  return 0;
}

}  // namespace

long StatVariant(unsigned turn, const char* path, int at_flags,
                 struct stat* st) {
  if (turn % 3 == 1) return Statx(AT_FDCWD, path, at_flags, st);
  if (turn % 3 == 2 && at_flags == 0) return Ret(syscall(SYS_stat, path, st));
  if (turn % 3 == 2 && at_flags == AT_SYMLINK_NOFOLLOW)
    return Ret(syscall(SYS_lstat, path, st));
  return Ret(syscall(SYS_newfstatat, AT_FDCWD, path, st, at_flags));
}

long FstatVariant(unsigned turn, int fd, struct stat* st) {
  switch (turn % 3) {
    case 0:
      return Ret(fstat(fd, st));
    case 1:
      return Ret(fstatat(fd, "", st, AT_EMPTY_PATH));
    default:
      return Statx(fd, "", AT_EMPTY_PATH, st);
  }
}

long ReadVariant(unsigned turn, int fd, char* buf, size_t count,
                 const off_t* offset) {
  if (turn % 3 == 0) {
    return offset == nullptr ? Ret(read(fd, buf, count))
                             : Ret(pread(fd, buf, count, *offset));
  }
  struct iovec iov[2] = {{buf, count}, {nullptr, 0}};
  int n = 1;
  if (turn % 3 == 2 && count > 1) {  // two segments
    iov[0].iov_len = count / 2;
    iov[1] = {buf + count / 2, count - count / 2};
    n = 2;
  }
  return offset == nullptr ? Ret(readv(fd, iov, n))
                           : Ret(preadv(fd, iov, n, *offset));
}

long WriteVariant(unsigned turn, int fd, const char* buf, size_t count,
                  const off_t* offset) {
  if (turn % 3 == 0) {
    return offset == nullptr ? Ret(write(fd, buf, count))
                             : Ret(pwrite(fd, buf, count, *offset));
  }
  char* b = const_cast<char*>(buf);  // iovec is not const; never written
  struct iovec iov[2] = {{b, count}, {nullptr, 0}};
  int n = 1;
  if (turn % 3 == 2 && count > 1) {
    iov[0].iov_len = count / 2;
    iov[1] = {b + count / 2, count - count / 2};
    n = 2;
  }
  return offset == nullptr ? Ret(writev(fd, iov, n))
                           : Ret(pwritev(fd, iov, n, *offset));
}

long MaybeDuplicate(unsigned turn, int fd, int free_fd) {
  long dup_fd;
  switch (turn % 9) {
    case 2:
      dup_fd = Ret(fcntl(fd, F_DUPFD_CLOEXEC, 0));
      break;
    case 5:
      dup_fd = Ret(fcntl(fd, F_DUPFD_CLOEXEC, 20));
      break;
    case 8:
      dup_fd = Ret(dup3(fd, free_fd, O_CLOEXEC));
      break;
    default:
      return fd;
  }
  close(fd);
  return dup_fd;
}

// The runner's frame I/O.
bool ReadFull(int fd, char* buf, size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, buf, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool WriteFull(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

size_t DentsBufferSize(unsigned turn) {
  static constexpr size_t kSizes[] = {32768, 512, 4096};
  return kSizes[turn % 3];
}

}  // namespace veil::difftest::runner
