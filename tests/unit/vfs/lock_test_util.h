// SPDX-License-Identifier: Apache-2.0
//
// What the file-lock tests share: a struct flock for a range.
#pragma once

#include <fcntl.h>

#include <cstdint>

namespace veil::vfs::testing {

// A struct flock of `type` (F_RDLCK, F_WRLCK, F_UNLCK) for `len` bytes
// from `start`, relative to `whence`.
inline struct flock MakeFlock(short type, int64_t start, int64_t len,
                              short whence = SEEK_SET) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = whence;
  fl.l_start = start;
  fl.l_len = len;
  return fl;
}

}  // namespace veil::vfs::testing
