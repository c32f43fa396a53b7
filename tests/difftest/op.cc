// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/op.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cinttypes>
#include <utility>
#include <vector>

namespace veil::difftest {
namespace {

struct FlagName {
  int bit;
  const char* name;
};

// Renders `value` as NAME|NAME|0x.. using `names`; unknown bits in hex.
std::string FormatBits(int value, const std::vector<FlagName>& names,
                       const char* zero = "0") {
  std::string out;
  int rest = value;
  for (const FlagName& f : names) {
    if (f.bit != 0 && (rest & f.bit) == f.bit) {
      if (!out.empty()) out += "|";
      out += f.name;
      rest &= ~f.bit;
    }
  }
  if (rest != 0) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%s0x%x", out.empty() ? "" : "|", rest);
    out += buf;
  }
  return out.empty() ? zero : out;
}

std::string FormatOpenFlags(int flags) {
  static const char* const kAccess[] = {"O_RDONLY", "O_WRONLY", "O_RDWR",
                                        "O_ACCMODE"};
  std::string out = kAccess[flags & O_ACCMODE];
  int rest = flags & ~O_ACCMODE;
  if (rest != 0) {
    out += "|" + FormatBits(rest, {{O_CREAT, "O_CREAT"},
                                   {O_EXCL, "O_EXCL"},
                                   {O_TRUNC, "O_TRUNC"},
                                   {O_APPEND, "O_APPEND"},
                                   {O_DIRECTORY, "O_DIRECTORY"},
                                   {O_NOFOLLOW, "O_NOFOLLOW"},
                                   {O_PATH, "O_PATH"},
                                   {O_NONBLOCK, "O_NONBLOCK"},
                                   {O_CLOEXEC, "O_CLOEXEC"}});
  }
  return out;
}

std::string FormatAtFlags(int flags) {
  return FormatBits(flags, {{AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
                            {AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"},
                            {AT_EMPTY_PATH, "AT_EMPTY_PATH"}});
}

std::string Octal(uint32_t mode) {
  char buf[16];
  snprintf(buf, sizeof(buf), "0%o", mode);
  return buf;
}

std::string FormatMknodMode(uint32_t mode) {
  static const std::pair<uint32_t, const char*> kTypes[] = {
      {S_IFIFO, "S_IFIFO"},  {S_IFCHR, "S_IFCHR"}, {S_IFDIR, "S_IFDIR"},
      {S_IFBLK, "S_IFBLK"},  {S_IFREG, "S_IFREG"}, {S_IFLNK, "S_IFLNK"},
      {S_IFSOCK, "S_IFSOCK"}};
  uint32_t type = mode & S_IFMT;
  for (const auto& [bits, name] : kTypes) {
    if (bits == type) return std::string(name) + "|" + Octal(mode & ~S_IFMT);
  }
  return Octal(mode);
}

std::string FormatTime(const struct timespec& ts) {
  if (ts.tv_nsec == UTIME_NOW) return "{0, UTIME_NOW}";
  if (ts.tv_nsec == UTIME_OMIT) return "{0, UTIME_OMIT}";
  char buf[64];
  snprintf(buf, sizeof(buf), "{%" PRId64 ", %" PRId64 "}",
           static_cast<int64_t>(ts.tv_sec), static_cast<int64_t>(ts.tv_nsec));
  return buf;
}

std::string Fd(const Op& op) { return "fd" + std::to_string(op.slot); }

std::string Id(uint32_t id) {
  return id == static_cast<uint32_t>(-1) ? "-1" : std::to_string(id);
}

}  // namespace

bool IsFdOp(OpKind kind) {
  switch (kind) {
    case OpKind::kClose:
    case OpKind::kRead:
    case OpKind::kPread:
    case OpKind::kWrite:
    case OpKind::kPwrite:
    case OpKind::kLseek:
    case OpKind::kFtruncate:
    case OpKind::kFallocate:
    case OpKind::kFstat:
    case OpKind::kFchmod:
    case OpKind::kGetdents:
      return true;
    default:
      return false;
  }
}

const char* OpKindName(OpKind kind) {
  static const char* const kNames[] = {
      "setcreds", "open",      "close",       "mkdir",     "mknod",  "symlink",
      "link",     "unlink",    "rmdir",       "rename",    "stat",   "readlink",
      "chmod",    "chown",     "utimensat",   "truncate",  "access", "setxattr",
      "getxattr", "listxattr", "removexattr", "read",      "pread",  "write",
      "pwrite",   "lseek",     "ftruncate",   "fallocate", "fstat",  "fchmod",
      "getdents"};
  return kNames[static_cast<int>(kind)];
}

std::string Quote(const std::string& s) {
  auto escape = [](const std::string& in) {
    std::string out;
    for (unsigned char c : in) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c >= 0x7f) {
        char buf[8];
        snprintf(buf, sizeof(buf), "\\x%02x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out;
  };
  if (s.size() <= 160) return "\"" + escape(s) + "\"";
  return "\"" + escape(s.substr(0, 60)) + "\"...<" + std::to_string(s.size()) +
         " bytes>...\"" + escape(s.substr(s.size() - 60)) + "\"";
}

std::string FormatResult(int64_t rc) {
  if (rc >= 0) return std::to_string(rc);
  const char* name = strerrorname_np(static_cast<int>(-rc));
  return name != nullptr ? std::string("-") + name : std::to_string(rc);
}

std::string FormatOp(const Op& op) {
  const std::string p = Quote(op.path);
  switch (op.kind) {
    case OpKind::kSetCreds: {
      std::string groups;
      for (gid_t g : op.creds.groups) {
        groups += (groups.empty() ? "" : ",") + std::to_string(g);
      }
      return "setcreds(uid=" + std::to_string(op.creds.uid) +
             ", gid=" + std::to_string(op.creds.gid) + ", groups={" + groups +
             "})";
    }
    case OpKind::kOpen:
      return Fd(op) + " = open(" + p + ", " + FormatOpenFlags(op.flags) + ", " +
             Octal(op.mode) + ")";
    case OpKind::kClose:
      return "close(" + Fd(op) + ")";
    case OpKind::kMkdir:
      return "mkdir(" + p + ", " + Octal(op.mode) + ")";
    case OpKind::kMknod:
      return "mknod(" + p + ", " + FormatMknodMode(op.mode) + ", makedev(" +
             std::to_string(major(op.dev)) + ", " +
             std::to_string(minor(op.dev)) + "))";
    case OpKind::kSymlink:
      return "symlink(" + Quote(op.path2) + ", " + p + ")";
    case OpKind::kLink:
      return "linkat(" + p + ", " + Quote(op.path2) + ", " +
             FormatAtFlags(op.flags) + ")";
    case OpKind::kUnlink:
      return "unlink(" + p + ")";
    case OpKind::kRmdir:
      return "rmdir(" + p + ")";
    case OpKind::kRename:
      return "renameat2(" + p + ", " + Quote(op.path2) + ", " +
             FormatBits(op.flags, {{RENAME_NOREPLACE, "RENAME_NOREPLACE"},
                                   {RENAME_EXCHANGE, "RENAME_EXCHANGE"},
                                   {RENAME_WHITEOUT, "RENAME_WHITEOUT"}}) +
             ")";
    case OpKind::kStat:
      return "fstatat(" + p + ", " + FormatAtFlags(op.flags) + ")";
    case OpKind::kReadlink:
      return "readlink(" + p + ")";
    case OpKind::kChmod:
      return "chmod(" + p + ", " + Octal(op.mode) + ")";
    case OpKind::kChown:
      return "fchownat(" + p + ", " + Id(op.uid) + ", " + Id(op.gid) + ", " +
             FormatAtFlags(op.flags) + ")";
    case OpKind::kUtimens:
      return "utimensat(" + p + ", {" + FormatTime(op.times[0]) + ", " +
             FormatTime(op.times[1]) + "}, " + FormatAtFlags(op.flags) + ")";
    case OpKind::kTruncate:
      return "truncate(" + p + ", " + std::to_string(op.offset) + ")";
    case OpKind::kAccess:
      return "faccessat(" + p + ", " +
             FormatBits(op.flags,
                        {{R_OK, "R_OK"}, {W_OK, "W_OK"}, {X_OK, "X_OK"}},
                        "F_OK") +
             ", " + FormatAtFlags(op.at_flags) + ")";
    case OpKind::kSetXattr:
      return "lsetxattr(" + p + ", " + Quote(op.name) + ", " + Quote(op.data) +
             ", " +
             FormatBits(op.flags, {{XATTR_CREATE, "XATTR_CREATE"},
                                   {XATTR_REPLACE, "XATTR_REPLACE"}}) +
             ")";
    case OpKind::kGetXattr:
      return "lgetxattr(" + p + ", " + Quote(op.name) + ")";
    case OpKind::kListXattr:
      return "llistxattr(" + p + ")";
    case OpKind::kRemoveXattr:
      return "lremovexattr(" + p + ", " + Quote(op.name) + ")";
    case OpKind::kRead:
      return "read(" + Fd(op) + ", " + std::to_string(op.count) + ")";
    case OpKind::kPread:
      return "pread(" + Fd(op) + ", " + std::to_string(op.count) + ", " +
             std::to_string(op.offset) + ")";
    case OpKind::kWrite:
      return "write(" + Fd(op) + ", " + Quote(op.data) + ")";
    case OpKind::kPwrite:
      return "pwrite(" + Fd(op) + ", " + Quote(op.data) + ", " +
             std::to_string(op.offset) + ")";
    case OpKind::kLseek: {
      static const char* const kWhence[] = {"SEEK_SET", "SEEK_CUR", "SEEK_END",
                                            "SEEK_DATA", "SEEK_HOLE"};
      std::string whence = op.flags >= 0 && op.flags <= 4
                               ? kWhence[op.flags]
                               : std::to_string(op.flags);
      return "lseek(" + Fd(op) + ", " + std::to_string(op.offset) + ", " +
             whence + ")";
    }
    case OpKind::kFtruncate:
      return "ftruncate(" + Fd(op) + ", " + std::to_string(op.offset) + ")";
    case OpKind::kFallocate:
      return "fallocate(" + Fd(op) + ", " +
             FormatBits(op.flags,
                        {{FALLOC_FL_KEEP_SIZE, "FALLOC_FL_KEEP_SIZE"},
                         {FALLOC_FL_PUNCH_HOLE, "FALLOC_FL_PUNCH_HOLE"},
                         {FALLOC_FL_COLLAPSE_RANGE, "FALLOC_FL_COLLAPSE_RANGE"},
                         {FALLOC_FL_ZERO_RANGE, "FALLOC_FL_ZERO_RANGE"},
                         {FALLOC_FL_INSERT_RANGE, "FALLOC_FL_INSERT_RANGE"}}) +
             ", " + std::to_string(op.offset) + ", " +
             std::to_string(op.length) + ")";
    case OpKind::kFstat:
      return "fstat(" + Fd(op) + ")";
    case OpKind::kFchmod:
      return "fchmod(" + Fd(op) + ", " + Octal(op.mode) + ")";
    case OpKind::kGetdents:
      return "getdents64(" + Fd(op) + ")";
  }
  return "?";
}

}  // namespace veil::difftest
