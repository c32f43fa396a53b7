// SPDX-License-Identifier: Apache-2.0
//
// The differential runner: drives two Backends with the same random
// operations and reports the first observable difference.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "tests/difftest/backend.h"
#include "tests/difftest/generator.h"

namespace veil::difftest {

struct RunOptions {
  // Symlink targets, xattrs and file contents are compared every this many
  // steps (and at the start and the end); names, lstat fields, identities
  // and timestamps after every step.
  int full_compare_every = 50;
  // Operations shown before the divergent one in the report.
  int log_tail = 30;
  // st_blocks depends on the allocator (tmpfs counts whole pages).
  bool compare_blocks = true;
  // Timestamp classes and change flags.
  bool compare_times = true;
  GeneratorOptions generator;
  // Before unlink, rmdir, link and rename, wait until the coarse clock is
  // past every ctime in the tree (at most one tick, 4 ms at HZ=250). Host
  // tmpfs stamps the parent directory of an unlinked or linked name with
  // the *child's* new ctime, which under multigrain timestamps may equal the
  // directory's previous ctime, so without the wait "ctime changed" would
  // depend on timing. Harmless for backends with fine clocks.
  bool settle_ctime = true;
  // When set, every operation's log line is also written here as it runs.
  std::FILE* trace = nullptr;
};

// Runs `steps` generated operations (deterministic for `seed`) against both
// backends, which must start empty; the runner first sets "/" to root:root
// 0777 on both. Every operation's return value or errno and returned data
// are compared, then both trees. Returns true if no difference was found.
// *report gets a one-paragraph summary, or on divergence the seed, step,
// the last operations and the exact difference.
//
// Timestamps. Host tmpfs timestamps cannot be compared by value, and "did
// this operation update atime/mtime/ctime" is only observable with care:
//  - Before each step the runner sets, as root, every reachable inode whose
//    atime/mtime are not already at them to fixed old values (utimensat, on
//    both sides), then lstats it. Any implicit update afterwards lands on
//    "now", which is distinguishable from those values whatever the clock
//    granularity. atime is set either far in the past (relatime will update
//    it on access) or far in the future (relatime will not), alternating
//    every 50 steps, so both relatime outcomes are exercised.
//  - ctime cannot be set. It is compared as "changed or not" between that
//    lstat and the one after the operation: tmpfs uses multigrain
//    timestamps (Linux >= 6.13), so a change after a stat always gets a
//    strictly newer ctime, and so does mtime.
//  - Values within an hour of now compare only as "recent"; all others were
//    set explicitly and must match exactly, so utimensat results are checked
//    to the nanosecond.
//  - The runner's own walks read directories, files and links after
//    lstat-ing them; what they touched is reset before the next step, so
//    they never leak into a comparison.
//  Descriptors of unlinked files are checked by fstat before and after the
//  operation (ctime/mtime change flags only).
bool RunDifferential(Backend& expected, Backend& actual, uint64_t seed,
                     int steps, std::string* report,
                     const RunOptions& options = {});

}  // namespace veil::difftest
