// SPDX-License-Identifier: Apache-2.0
//
// The differential runner: drives two Backends with the same random
// operations and reports the first observable difference.
#pragma once

#include <time.h>

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
  // Settle before every operation, not only those four: on an overlay any
  // copy-up (truncate, chmod, open for write, ...) links the copy into its
  // upper directory, with the same effect on the directory's ctime.
  bool settle_ctime_always = false;
  // An open descriptor's st_ino may change if it changes on both sides at
  // once: overlayfs (index=off) gives a file a new inode number when its
  // copy-up breaks a lower hard link, open descriptors included.
  bool fd_ino_may_change = false;
  // When set, every operation's log line is also written here as it runs.
  std::FILE* trace = nullptr;
  // For backends where setting times is not free (on an overlay,
  // utimensat copies a lower file up): the probe atime is always
  // kProbeOldAtime, and a node the walk read is reset only if an lstat
  // shows its times moved. Trees that start populated (an overlay's lower
  // layer) should give their nodes the probe times up front.
  bool quiet_time_probes = false;
};

// The probe times (see RunDifferential): atime far in the past (relatime
// updates it on access) and the mtime every reset sets.
inline constexpr struct timespec kProbeOldAtime = {1000000000, 0};
inline constexpr struct timespec kProbeOldMtime = {1000000100, 0};

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
