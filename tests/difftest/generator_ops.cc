// SPDX-License-Identifier: Apache-2.0
//
// Generator: one builder per operation family. Argument mixes lean towards
// valid calls but keep a share of each documented failure mode.
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <tuple>

#include "tests/difftest/generator.h"

namespace veil::difftest {
namespace {

constexpr uint32_t kNoId = static_cast<uint32_t>(-1);

}  // namespace

uint32_t Generator::RandomMode() {
  static const uint32_t kPerms[] = {0644, 0600, 0755, 0777, 0700, 0666,
                                    0444, 0111, 0000, 0751, 0640, 0070};
  static const uint32_t kSpecial[] = {01000, 02000, 04000, 06000, 07000, 03000};
  uint32_t mode = kPerms[Uniform(0, 11)];
  if (Chance(30)) mode |= kSpecial[Uniform(0, 5)];
  return mode;
}

int64_t Generator::RandomOffset() {
  int roll = Uniform(0, 99);
  if (roll < 40) return Uniform(0, 200);
  // Around page boundaries, where tmpfs allocates and SEEK_DATA/HOLE turn.
  if (roll < 70) return Uniform(0, 4) * 4096 + Uniform(-1, 1);
  if (roll < 90) return Uniform(0, 20000);
  if (roll < 96) return (1 << 20) + Uniform(-2, 2);  // a big hole
  return Chance(50) ? -1 : -4096;                    // EINVAL
}

int64_t Generator::RandomSize() {
  int64_t size = RandomOffset();
  // Mostly valid sizes; -1 stays for EINVAL.
  return size < -1 ? Uniform(0, 100) : size;
}

struct timespec Generator::RandomTime() {
  static const int64_t kSecs[] = {0,          1,  123456789, 1500000000,
                                  2000000000, -1, -31536000, 4102444800};
  static const long kNsecs[] = {0, 1, 500000000, 999999999};
  int roll = Uniform(0, 99);
  if (roll < 45) return {kSecs[Uniform(0, 7)], kNsecs[Uniform(0, 3)]};
  if (roll < 70) return {0, UTIME_NOW};
  if (roll < 94) return {0, UTIME_OMIT};
  return {1234, Chance(50) ? 1000000000L : -1L};  // EINVAL
}

Op Generator::MakeSetCreds() {
  int next = creds_index_;
  while (next == creds_index_) next = Uniform(0, 2);
  creds_index_ = next;
  Op op;
  op.kind = OpKind::kSetCreds;
  op.creds = next == 0 ? RootCreds() : next == 1 ? UserACreds() : UserBCreds();
  return op;
}

Op Generator::MakeOpen(OpenKind open_kind) {
  Op op;
  op.slot = FreeSlot();
  if (op.slot < 0) {  // all slots in use
    op.kind = OpKind::kClose;
    op.slot = PickSlot();
    return op;
  }
  op.kind = OpKind::kOpen;
  bool create = open_kind == OpenKind::kCreate;
  bool want_dir = !create && Chance(25);
  std::string canonical =
      create ? PickCanonical(Chance(70) ? Want::kNew : Want::kAny)
             : PickCanonical(want_dir     ? Want::kDir
                             : Chance(60) ? Want::kFile
                                          : Want::kAny);
  pending_open_type_ = TypeOf(canonical);
  if (pending_open_type_ == 0) pending_open_type_ = S_IFREG;  // if created
  op.path = Chance(55) ? canonical : Render(canonical);
  int roll = Uniform(0, 99);
  int flags = roll < 35   ? O_RDONLY
              : roll < 60 ? O_WRONLY
              : roll < 95 ? O_RDWR
                          : O_ACCMODE;
  // Always non-blocking: opening a FIFO would otherwise wait for a peer.
  flags |= O_NONBLOCK;
  if (create) {
    flags |= O_CREAT;
    if (Chance(30)) flags |= O_EXCL;
    if (Chance(20)) flags |= O_TRUNC;
    if (Chance(15)) flags |= O_APPEND;
    if (Chance(5)) flags |= O_DIRECTORY;  // EINVAL with O_CREAT
    if (Chance(10)) flags |= O_NOFOLLOW;
    if (Chance(3)) flags |= O_PATH;  // O_PATH ignores O_CREAT
    op.mode = RandomMode();
  } else {
    if (Chance(10)) flags |= O_TRUNC;
    if (Chance(10)) flags |= O_APPEND;
    if (want_dir && Chance(80)) flags = O_RDONLY | O_NONBLOCK;
    if (Chance(want_dir ? 60 : 10)) flags |= O_DIRECTORY;
    if (Chance(15)) flags |= O_NOFOLLOW;
    if (Chance(8)) flags |= O_PATH;
    if (Chance(5)) op.mode = 0644;  // ignored without O_CREAT
  }
  op.flags = flags;
  return op;
}

Op Generator::MakeMknod() {
  Op op;
  op.kind = OpKind::kMknod;
  op.path = PathArg(Chance(85) ? Want::kNew : Want::kAny);
  static const uint32_t kTypes[] = {
      S_IFIFO, S_IFIFO, S_IFIFO, S_IFSOCK, S_IFSOCK, S_IFCHR, S_IFCHR,
      S_IFBLK, 0,       S_IFREG, S_IFDIR,  S_IFLNK,  0030000};
  uint32_t type = kTypes[Uniform(0, 12)];
  op.mode = type | RandomMode();
  // Majors 60..63 are reserved for local experiments: never a real driver.
  if (type == S_IFCHR || type == S_IFBLK) {
    op.dev = makedev(Uniform(60, 63), Uniform(0, 3));
  }
  return op;
}

Op Generator::MakeRepair() {
  // Root reopens a directory that blocks searching, so that a locked-down
  // tree does not turn most later operations into EACCES.
  static const uint32_t kOpenModes[] = {0777, 01777, 0755, 0711, 02777};
  Op op;
  op.kind = OpKind::kChmod;
  op.path = PickOf(closed_dirs_);
  op.mode = kOpenModes[Uniform(0, 4)];
  return op;
}

Op Generator::MakeRename() {
  Op op;
  op.kind = OpKind::kRename;
  std::string src = PickCanonical(
      Chance(options_.rename_dir_percent) ? Want::kDir : Want::kAny);
  if (src == "/" && Chance(85)) src = PickCanonical(Want::kNonDir);  // EBUSY
  std::string dst;
  int roll = Uniform(0, 99);
  if (roll < 20) {
    dst = NewCanonical();
  } else if (roll < 50) {
    dst = PickCanonical(Want::kAny);
  } else if (roll < 58) {
    dst = src;  // onto itself (or another spelling of it)
  } else if (roll < 68) {
    // Into its own subtree: EINVAL for directories.
    dst = (src == "/" ? "" : src) + "/" + NewName();
  } else if (roll < 82) {
    dst = PickCanonical(Want::kDir);
  } else {
    dst = PickCanonical(Want::kNonDir);
  }
  op.path = Chance(55) ? src : Render(src);
  op.path2 = Chance(55) ? dst : Render(dst);
  roll = Uniform(0, 99);
  if (roll < 55) {
    op.flags = 0;
  } else if (roll < 70) {
    op.flags = RENAME_NOREPLACE;
  } else if (roll < 88) {
    op.flags = RENAME_EXCHANGE;
  } else if (roll < 96) {
    op.flags = RENAME_WHITEOUT;
  } else {
    static const int kInvalid[] = {RENAME_NOREPLACE | RENAME_EXCHANGE,
                                   RENAME_EXCHANGE | RENAME_WHITEOUT, 0x10};
    op.flags = kInvalid[Uniform(0, 2)];
  }
  return op;
}

Op Generator::MakeLink() {
  Op op;
  op.kind = OpKind::kLink;
  op.path = PathArg(Chance(70) ? Want::kFile : Want::kAny);
  op.path2 = PathArg(Chance(75) ? Want::kNew : Want::kAny);
  int roll = Uniform(0, 99);
  op.flags = roll < 60   ? 0
             : roll < 97 ? AT_SYMLINK_FOLLOW
                         : AT_SYMLINK_NOFOLLOW;
  return op;
}

Op Generator::MakeChmod(OpKind kind) {
  Op op;
  op.kind = kind;
  if (kind == OpKind::kChmod) {
    op.path = PathArg(Want::kAny);
  } else {
    op.slot = PickSlot();
  }
  op.mode = RandomMode();
  if (Chance(2)) op.mode |= S_IFREG;  // type bits are ignored
  return op;
}

Op Generator::MakeChown() {
  static const uint32_t kIds[] = {0, 1000, 1001, kNoId};
  Op op;
  op.kind = OpKind::kChown;
  op.path = PathArg(Want::kAny);
  op.uid = kIds[Uniform(0, 3)];
  op.gid = kIds[Uniform(0, 3)];
  op.flags = Chance(30) ? AT_SYMLINK_NOFOLLOW : 0;
  return op;
}

Op Generator::MakeUtimens() {
  Op op;
  op.kind = OpKind::kUtimens;
  op.path = PathArg(Want::kAny);
  op.times[0] = RandomTime();
  op.times[1] = RandomTime();
  int roll = Uniform(0, 99);
  op.flags = roll < 65 ? 0 : roll < 98 ? AT_SYMLINK_NOFOLLOW : 0x1;
  return op;
}

Op Generator::MakeXattr(OpKind kind) {
  Op op;
  op.kind = kind;
  op.path = PathArg(Chance(85) ? Want::kAny : Want::kSymlink);
  static const std::pair<const char*, int> kNameMix[] = {
      {"user.a", 30}, {"user.b", 20}, {"trusted.t", 15}, {"trusted.u", 5},
      {"foo.x", 5},   {"user.", 3},   {"", 2},           {"system.x", 2},
      {"long255", 3}, {"long256", 2}};
  int total = 0;
  for (const auto& [name, weight] : kNameMix) total += weight;
  int roll = Uniform(0, total - 1);
  for (const auto& [name, weight] : kNameMix) {
    if (roll < weight) {
      op.name = name;
      break;
    }
    roll -= weight;
  }
  if (op.name == "long255") op.name = "user." + std::string(250, 'n');
  if (op.name == "long256") op.name = "user." + std::string(251, 'n');
  if (kind != OpKind::kSetXattr && !xattrs_set_.empty() && Chance(60)) {
    std::tie(op.path, op.name) = PickOf(xattrs_set_);
  }
  if (kind == OpKind::kSetXattr) {
    roll = Uniform(0, 99);
    op.data = roll < 5   ? ""
              : roll < 8 ? RandomData(3000)
              : roll < 9 ? std::string(65537, 'v')  // E2BIG
                         : RandomData(32);
    roll = Uniform(0, 99);
    op.flags = roll < 60   ? 0
               : roll < 78 ? XATTR_CREATE
               : roll < 96 ? XATTR_REPLACE
               : roll < 98 ? XATTR_CREATE | XATTR_REPLACE
                           : 0x4;
  }
  return op;
}

Op Generator::MakeFdOp(OpKind kind) {
  Op op;
  op.kind = kind;
  switch (kind) {
    case OpKind::kGetdents:
      op.slot = PickSlot(S_IFDIR);
      break;
    case OpKind::kClose:
    case OpKind::kLseek:
    case OpKind::kFstat:
      op.slot = PickSlot();
      break;
    default:
      op.slot = PickSlot(S_IFREG);
  }
  switch (kind) {
    case OpKind::kRead:
      op.count = Chance(90) ? Uniform(0, 300) : Uniform(0, 9000);
      break;
    case OpKind::kPread:
      op.count = Chance(90) ? Uniform(0, 300) : Uniform(0, 9000);
      // A far offset reads nothing but must not fail.
      op.offset = Chance(3) ? LLONG_MAX - Uniform(0, 10) : RandomOffset();
      break;
    case OpKind::kWrite:
      op.data = Chance(95) ? RandomData(64) : RandomData(5000);
      break;
    case OpKind::kPwrite:
      op.data = Chance(95) ? RandomData(64) : RandomData(5000);
      op.offset = RandomOffset();
      break;
    case OpKind::kLseek: {
      int roll = Uniform(0, 99);
      op.flags = roll < 30   ? SEEK_SET
                 : roll < 50 ? SEEK_CUR
                 : roll < 65 ? SEEK_END
                 : roll < 80 ? SEEK_DATA
                 : roll < 95 ? SEEK_HOLE
                             : std::vector<int>{5, 7, -1}[Uniform(0, 2)];
      op.offset = Chance(3) ? LLONG_MAX - Uniform(0, 10) : RandomOffset();
      if (op.flags == SEEK_CUR && Chance(30)) op.offset = -Uniform(0, 300);
      break;
    }
    case OpKind::kFtruncate:
      op.offset = RandomSize();
      break;
    case OpKind::kFallocate: {
      static const std::pair<int, int> kModes[] = {
          {0, 35},
          {FALLOC_FL_KEEP_SIZE, 20},
          {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 25},
          {FALLOC_FL_PUNCH_HOLE, 5},  // EOPNOTSUPP: must keep size
          {FALLOC_FL_ZERO_RANGE, 3},
          {FALLOC_FL_COLLAPSE_RANGE, 3},
          {FALLOC_FL_INSERT_RANGE, 2},
          {0x100, 2},
      };
      int total = 0;
      for (const auto& [mode, weight] : kModes) total += weight;
      int roll = Uniform(0, total - 1);
      for (const auto& [mode, weight] : kModes) {
        if (roll < weight) {
          op.flags = mode;
          break;
        }
        roll -= weight;
      }
      op.offset = RandomSize();
      roll = Uniform(0, 99);
      op.length = roll < 3 ? 0 : roll < 5 ? -1 : Uniform(1, 20000);
      break;
    }
    default:  // close, fstat, getdents
      break;
  }
  return op;
}

Op Generator::MakePathOp(OpKind kind) {
  Op op;
  op.kind = kind;
  switch (kind) {
    case OpKind::kMkdir: {
      op.path = PathArg(Chance(85) ? Want::kNew : Want::kAny);
      static const uint32_t kDirModes[] = {0755, 0777, 01777, 02775, 0700};
      op.mode = Chance(70) ? kDirModes[Uniform(0, 4)] : RandomMode();
      break;
    }
    case OpKind::kSymlink: {
      std::string link = PickCanonical(Chance(85) ? Want::kNew : Want::kAny);
      op.path = Chance(60) ? link : Render(link);
      op.path2 = SymlinkTarget(link);
      break;
    }
    case OpKind::kUnlink:
      op.path = PathArg(Chance(75) ? Want::kNonDir : Want::kAny);
      break;
    case OpKind::kRmdir:
      op.path = PathArg(Chance(50)   ? Want::kEmptyDir
                        : Chance(60) ? Want::kDir
                                     : Want::kAny);
      break;
    case OpKind::kStat:
      op.path = PathArg(Want::kAny);
      op.flags = Chance(50) ? AT_SYMLINK_NOFOLLOW : Chance(96) ? 0 : 0x1;
      break;
    case OpKind::kReadlink:
      op.path = PathArg(Chance(70) ? Want::kSymlink : Want::kAny);
      break;
    case OpKind::kTruncate:
      op.path = PathArg(Chance(80) ? Want::kFile : Want::kAny);
      op.offset = RandomSize();
      break;
    case OpKind::kAccess: {
      static const int kModes[] = {
          F_OK,        R_OK, W_OK, X_OK, R_OK | W_OK, R_OK | W_OK | X_OK,
          R_OK | X_OK, 8};
      op.path = PathArg(Want::kAny);
      op.flags = kModes[Uniform(0, 7)];
      op.at_flags = Chance(30) ? AT_SYMLINK_NOFOLLOW : 0;
      break;
    }
    default:
      op.kind = OpKind::kStat;
      op.path = PathArg(Want::kAny);
      break;
  }
  return op;
}

}  // namespace veil::difftest
