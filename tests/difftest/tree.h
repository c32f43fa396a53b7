// SPDX-License-Identifier: Apache-2.0
//
// Whole-tree snapshots of a Backend and the rules for comparing two of them
// (and two stat results): inode numbers as identity classes, timestamps as
// classes and change flags. Used by the runner.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tests/difftest/backend.h"

namespace veil::difftest {

// What a walk learned about one name.
struct Node {
  int stat_rc = 0;  // lstat
  StatResult st;
  uint8_t dirent_type = 0;  // d_type in the parent's listing (not for "/")
  bool dirent_ino_matches = true;  // d_ino == st_ino
  int list_rc = 0;                 // directories: open + getdents
  // The walk itself may have moved atime (it read the directory, file or
  // link after the lstat above), so the runner must reset this node's times.
  bool perturbed = false;
  // Full walks only.
  int readlink_rc = 0;
  std::string target;
  int xattr_rc = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // sorted by name
  int content_rc = 0;
  std::string contents;  // regular files, up to kMaxContents
};
using Tree = std::map<std::string, Node>;  // canonical path -> node

inline constexpr size_t kMaxContents = 4 << 20;

enum class WalkDepth {
  kStat,  // names, lstat, directory listings
  kFull,  // plus symlink targets, xattrs and file contents
};

// Walks `backend` from "/" without following symlinks. The caller sets root
// credentials first. Never opens anything but directories and (kFull)
// regular files, both O_NONBLOCK.
void WalkTree(Backend& backend, WalkDepth depth, Tree* out);

// A bijection between the two sides' inode numbers: the harness never
// compares inode numbers, only which names and descriptors share an inode.
class InodeMatch final {
 public:
  // Records that expected inode `e` and actual inode `a` are one object.
  // False (and *why) if either is already matched to something else.
  bool Pair(uint64_t e, uint64_t a, std::string* why);
  // 0 when unknown (no backend uses inode number 0).
  uint64_t ActualFor(uint64_t e) const;
  uint64_t ExpectedFor(uint64_t a) const;

 private:
  std::unordered_map<uint64_t, uint64_t> e2a_, a2e_;
};

struct CompareOptions {
  bool blocks = true;
  bool times = true;
};

// Timestamps within an hour of `now` are "recent": set implicitly by the
// file system, they differ between backends and compare only as a class.
// Others were set explicitly (utimensat, or the runner's fixed probe values)
// and must match to the nanosecond.
bool IsRecent(int64_t sec, int64_t now);
int64_t NowSeconds();

// "" when equal. Compares mode, nlink, uid, gid, size, blocks, rdev (device
// nodes only), time classes, and pairs the inode numbers in `match`.
std::string DiffStat(const StatResult& e, const StatResult& a, int64_t now,
                     const CompareOptions& options, InodeMatch* match);

// "" when the same timestamps changed on both sides between before and
// after. ctime and mtime are always compared (host tmpfs uses multigrain
// timestamps, so a change after a stat is always visible); atime only when
// its before value was explicit, because atime updates use the coarse clock
// and may land on the value they replace.
std::string DiffTimeChanges(const StatResult& before_e,
                            const StatResult& after_e,
                            const StatResult& before_a,
                            const StatResult& after_a, int64_t now);

// Per-side inode number -> stat before the operation.
using InodeTimes = std::unordered_map<uint64_t, StatResult>;

struct TreeDiffInput {
  const Tree* expected = nullptr;
  const Tree* actual = nullptr;
  // State before the operation; nullptr on the first comparison.
  const InodeTimes* before_e = nullptr;
  const InodeTimes* before_a = nullptr;
  const InodeMatch* before_match = nullptr;
};

// "" when equal; else the first difference, naming the path. Fills *match
// with the identity classes of the two trees.
std::string DiffTrees(const TreeDiffInput& in, const CompareOptions& options,
                      InodeMatch* match);

}  // namespace veil::difftest
