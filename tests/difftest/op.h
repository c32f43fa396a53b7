// SPDX-License-Identifier: Apache-2.0
//
// One step of a differential run: a plain record of a Backend call, plus a
// C-like one-line rendering for reproduction logs.
#pragma once

#include <time.h>

#include <cstdint>
#include <string>

#include "tests/difftest/backend.h"

namespace veil::difftest {

enum class OpKind : uint8_t {
  kSetCreds,
  kOpen,
  kClose,
  kMkdir,
  kMknod,
  kSymlink,
  kLink,
  kUnlink,
  kRmdir,
  kRename,
  kStat,
  kReadlink,
  kChmod,
  kChown,
  kUtimens,
  kTruncate,
  kAccess,
  kSetXattr,
  kGetXattr,
  kListXattr,
  kRemoveXattr,
  kRead,
  kPread,
  kWrite,
  kPwrite,
  kLseek,
  kFtruncate,
  kFallocate,
  kFstat,
  kFchmod,
  kGetdents,
};

// Which fields matter depends on `kind`; the rest keep their defaults.
struct Op {
  OpKind kind = OpKind::kStat;
  std::string path;   // the path operated on; symlink: the new link's path
  std::string path2;  // rename/link: the new path; symlink: the target
  // Open flags, AT_* flags, renameat2 flags, XATTR_* flags, lseek whence,
  // fallocate mode or access(2) mode, by kind.
  int flags = 0;
  // access(2) only: AT_* flags (flags holds the R_OK/W_OK/X_OK mode).
  int at_flags = 0;
  uint32_t mode = 0;  // open/mkdir/mknod/chmod/fchmod mode bits
  uint64_t dev = 0;   // mknod
  // Harness fd slot: the slot an Open fills or the descriptor an fd op uses.
  // The runner maps slots to each backend's own descriptors.
  int slot = -1;
  int64_t offset = 0;  // pread/pwrite/lseek/fallocate offset, truncate size
  int64_t length = 0;  // fallocate length
  uint64_t count = 0;  // read size
  std::string data;    // write payload, xattr value
  std::string name;    // xattr name
  uint32_t uid = static_cast<uint32_t>(-1);  // chown; -1 keeps the field
  uint32_t gid = static_cast<uint32_t>(-1);
  struct timespec times[2] = {};  // utimens
  Creds creds;                    // kSetCreds
};

// True for operations that take a harness fd slot.
bool IsFdOp(OpKind kind);
const char* OpKindName(OpKind kind);

// One line, C-like: `fd3 = open("/a/b", O_CREAT|O_WRONLY, 0644)`. Strings
// longer than 160 bytes are shortened to head...tail with their length, so
// reproduce long-path cases from the seed rather than from the log.
std::string FormatOp(const Op& op);

// "0", "3" or "-ENOENT".
std::string FormatResult(int64_t rc);

// Renders a string as a C literal, shortened as FormatOp does.
std::string Quote(const std::string& s);

}  // namespace veil::difftest
