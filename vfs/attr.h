// SPDX-License-Identifier: Apache-2.0
//
// Inode attributes (the statx subset veil keeps) and attribute changes.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>

namespace veil::vfs {

struct Attr {
  uint32_t mode = 0;  // S_IFMT | permission bits
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units actually allocated
  uint64_t ino = 0;
  uint64_t dev = 0;   // st_dev of the filesystem
  uint64_t rdev = 0;  // device number of a device node
  uint32_t blksize = 4096;
  timespec atime{}, mtime{}, ctime{}, btime{};

  uint32_t type() const { return mode & S_IFMT; }
  bool IsDir() const { return S_ISDIR(mode); }
  bool IsRegular() const { return S_ISREG(mode); }
  bool IsSymlink() const { return S_ISLNK(mode); }
};

// struct stat as Linux's cp_new_stat fills it from these attributes (for
// stat(2) in the sentry and the FUSE adapter's replies).
inline struct stat ToStat(const Attr& a) {
  struct stat st {};
  st.st_dev = a.dev;
  st.st_ino = a.ino;
  st.st_nlink = a.nlink;
  st.st_mode = a.mode;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_rdev = a.rdev;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blksize = a.blksize;
  st.st_blocks = static_cast<blkcnt_t>(a.blocks);
  st.st_atim = a.atime;
  st.st_mtim = a.mtime;
  st.st_ctim = a.ctime;
  return st;
}

// Which fields of SetAttr to apply. Mirrors Linux ATTR_* (iattr).
enum SetAttrMask : uint32_t {
  kSetMode = 1u << 0,
  kSetUid = 1u << 1,
  kSetGid = 1u << 2,
  kSetSize = 1u << 3,
  kSetAtime = 1u << 4,     // to `atime`
  kSetMtime = 1u << 5,     // to `mtime`
  kSetAtimeNow = 1u << 6,  // to the current time
  kSetMtimeNow = 1u << 7,
  kSetCtimeNow = 1u << 8,  // ctime to the current time
  // Clears the bits in `kill` from the mode as it is when the change is
  // applied (Linux ATTR_KILL_SUID/ATTR_KILL_SGID, which notify_change
  // resolves under the inode lock): a truncate's set-id removal then
  // cannot put back a bit that a write cleared meanwhile (tmpfs writes
  // clear bits under a per-inode lock, not the filesystem mutex).
  kKillModeBits = 1u << 9,
};

struct SetAttr {
  uint32_t mask = 0;
  uint32_t mode = 0;  // permission bits only (07777)
  uint32_t kill = 0;  // kKillModeBits: the bits to clear (S_ISUID, S_ISGID)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  timespec atime{}, mtime{};
};

// The clock the VFS stamps times with (CLOCK_REALTIME, full resolution).
timespec Now();

inline bool operator==(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}
inline bool operator<=(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

}  // namespace veil::vfs
