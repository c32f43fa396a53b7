// SPDX-License-Identifier: Apache-2.0
//
// The syscall variants syscall_runner rotates through, so that one Backend
// call exercises several of the syscalls that serve it. `turn` is the
// runner's own count of calls of that kind: both runners of a differential
// run receive the same calls in the same order, so they make the same
// choices, and each variant's answer is compared with the host kernel's
// answer to the same variant. Every function returns >= 0 or -errno.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace veil::difftest::runner {

// newfstatat, statx(AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS) with its
// fields put in *st, or stat/lstat where the flags allow.
long StatVariant(unsigned turn, const char* path, int at_flags,
                 struct stat* st);
// fstat, newfstatat(fd, "", AT_EMPTY_PATH), statx(fd, "", AT_EMPTY_PATH).
long FstatVariant(unsigned turn, int fd, struct stat* st);
// read/pread (offset null: read), or readv/preadv with the buffer in one
// or two segments; the same for writes.
long ReadVariant(unsigned turn, int fd, char* buf, size_t count,
                 const off_t* offset);
long WriteVariant(unsigned turn, int fd, const char* buf, size_t count,
                  const off_t* offset);
// Every third successful open hands back a duplicate instead:
// fcntl(F_DUPFD_CLOEXEC, 0), fcntl(F_DUPFD_CLOEXEC, 20) or dup3(fd, free_fd,
// O_CLOEXEC) (free_fd: a number the caller knows is not open), then closes
// the original. The duplicate shares the open file description, so the
// later calls on it exercise the sentry's fd table. On failure the
// original is closed and -errno returned.
long MaybeDuplicate(unsigned turn, int fd, int free_fd);
// getdents64 buffer sizes: one large read, or several short ones that make
// the directory continue from its offset (512 still fits a 255-byte name).
size_t DentsBufferSize(unsigned turn);

// Path calls (syscall_runner_paths.cc): the *at form, or the old call
// that Linux (and the sentry) turn into it, wherever the old call can
// express the same request; raw syscalls, so libc picks nothing.
long OpenVariant(unsigned turn, const char* path, int flags, mode_t mode);
long MkdirVariant(unsigned turn, const char* path, mode_t mode);
long MknodVariant(unsigned turn, const char* path, mode_t mode, dev_t dev);
long SymlinkVariant(unsigned turn, const char* target, const char* path);
long LinkVariant(unsigned turn, const char* from, const char* to, int flags);
long UnlinkVariant(unsigned turn, const char* path, int at_flags);
long RenameVariant(unsigned turn, const char* from, const char* to,
                   unsigned flags);
long ReadlinkVariant(unsigned turn, const char* path, char* buf, size_t size);
long ChmodVariant(unsigned turn, const char* path, mode_t mode);
long ChownVariant(unsigned turn, const char* path, uid_t uid, gid_t gid,
                  int at_flags);
// faccessat2(flags | AT_EACCESS); access and faccessat check the real ids,
// so they stand in only for root (Ids::kRoot: the fs ids are 0).
enum class Ids : uint8_t { kRoot, kOther };
long AccessVariant(unsigned turn, const char* path, int mode, int at_flags,
                   Ids ids);

// Reads exactly n bytes (false at EOF or on an error); writes all of data.
// EINTR is retried.
bool ReadFull(int fd, char* buf, size_t n);
bool WriteFull(int fd, const std::string& data);

}  // namespace veil::difftest::runner
