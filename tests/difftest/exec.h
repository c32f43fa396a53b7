// SPDX-License-Identifier: Apache-2.0
//
// Executing one Op against a Backend, and comparing two outcomes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/difftest/backend.h"
#include "tests/difftest/op.h"
#include "tests/difftest/tree.h"

namespace veil::difftest {

// Everything an operation returned.
struct Outcome {
  int64_t rc = 0;                  // >= 0 or -errno; for Open, the backend's fd
  std::string data;                // read, pread, readlink, getxattr
  StatResult st;                   // stat, fstat
  std::vector<std::string> names;  // listxattr, sorted
  std::vector<DirEntry> dents;     // getdents, sorted by name
};

// Runs `op` on `backend`; `fd` is the backend's descriptor for op.slot (-1
// when the slot is closed, which every backend must reject with EBADF).
// kSetCreds is a no-op here: the runner applies credentials itself.
Outcome Execute(Backend& backend, const Op& op, int fd);

// "" when equal. Descriptors returned by Open are compared only as
// success; inode numbers (stat, getdents) are paired in *match.
std::string DiffOutcome(const Op& op, const Outcome& e, const Outcome& a,
                        const CompareOptions& options, InodeMatch* match);

}  // namespace veil::difftest
