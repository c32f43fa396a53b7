// SPDX-License-Identifier: Apache-2.0
//
// Generator: a seeded stream of random, deliberately awkward file system
// operations for the differential harness.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/difftest/op.h"

namespace veil::difftest {

// One name in the expected backend's tree, as the runner last walked it.
struct TreeEntry {
  std::string path;   // canonical: "/", "/a", "/a/b" (no symlinks inside)
  uint32_t mode = 0;  // st_mode of lstat (type and permission bits)
};

struct GeneratorOptions {
  // Creation ops are steered to existing names once the tree has this many
  // entries, so per-step tree comparisons stay cheap.
  int max_entries = 60;
  // Harness fd slots; Open fills the lowest free one.
  int max_fds = 16;
  // How often rename comes up (relative to about 120 for everything
  // else), and how often its source is a directory (percent). Raised to
  // stress directory moves (the overlay's redirects).
  int rename_weight = 8;
  int rename_dir_percent = 30;
  // How often (percent of steps) the identity switches among root and
  // the two users. 0 keeps every operation root's (the sentry difftest:
  // the sentry does not serve setfsuid & co. yet).
  int set_creds_percent = 3;
};

inline constexpr int kMaxFdSlots = 32;

// The three identities the generator switches between.
Creds RootCreds();
Creds UserACreds();  // uid 1000, gid 1000, groups {1000}
Creds UserBCreds();  // uid 1001, gid 1001, groups {1000, 1001}

// Deterministic for a seed and a sequence of trees/results. Most operations
// name existing entries; some name missing ones; paths are rendered with
// ".", "..", "//", symlinks, trailing slashes, and occasionally empty, with
// 255/256-byte names or over PATH_MAX.
//
// The generator keeps no model of the namespace beyond what the runner hands
// it each step (the expected side's walked tree), so it can never drift from
// reality; it only tracks which fd slots are open, from Observe().
class Generator final {
 public:
  explicit Generator(uint64_t seed, GeneratorOptions options = {});

  // The next operation, given the expected backend's current tree.
  Op Next(const std::vector<TreeEntry>& tree);
  // Reports the expected backend's result of `op` (slot bookkeeping).
  void Observe(const Op& op, int64_t result);

  const GeneratorOptions& options() const { return options_; }

 private:
  // Target selection for path arguments.
  enum class Want { kAny, kDir, kEmptyDir, kFile, kSymlink, kNonDir, kNew };
  enum class OpenKind { kCreate, kExisting };

  // Path construction (generator.cc).
  bool Chance(int percent);
  int Uniform(int lo, int hi);  // inclusive
  template <typename T>
  const T& PickOf(const std::vector<T>& items) {
    return items[Uniform(0, static_cast<int>(items.size()) - 1)];
  }
  std::string PickCanonical(Want want);
  std::string NewName();
  uint32_t TypeOf(const std::string& canonical) const;  // 0: not in tree
  std::string NewCanonical();
  std::string Render(const std::string& canonical);
  std::string PathArg(Want want);
  std::string SymlinkTarget(const std::string& link_path);
  std::string RandomData(int max_len);
  int FreeSlot() const;
  // A slot for an fd op: mostly open ones, preferring those whose file had
  // type `type` when opened (0: any).
  int PickSlot(uint32_t type = 0);
  bool HasOpenSlot() const;
  bool TreeFull() const;

  // Operation builders (generator_ops.cc).
  Op MakeOpen(OpenKind open_kind);
  Op MakeMknod();
  Op MakeRename();
  Op MakeLink();
  Op MakeChmod(OpKind kind);
  Op MakeChown();
  Op MakeUtimens();
  Op MakeXattr(OpKind kind);
  Op MakeFdOp(OpKind kind);
  Op MakeSetCreds();
  Op MakeRepair();
  Op MakePathOp(OpKind kind);
  uint32_t RandomMode();
  int64_t RandomOffset();
  int64_t RandomSize();
  struct timespec RandomTime();

  GeneratorOptions options_;
  std::mt19937_64 rng_;
  std::array<bool, kMaxFdSlots> slot_open_ = {};
  // S_IFMT of what each slot's open targeted (a guess: the path may have been
  // spelled through symlinks); steers getdents to directories.
  std::array<uint32_t, kMaxFdSlots> slot_type_ = {};
  uint32_t pending_open_type_ = 0;
  // Recent successful lsetxattr (path, name) pairs, so that get and remove
  // often find a value.
  std::vector<std::pair<std::string, std::string>> xattrs_set_;
  int creds_index_ = 0;  // 0 root, 1 user A, 2 user B
  // The tree passed to the current Next() call, split by type.
  std::vector<TreeEntry> tree_;
  std::vector<std::string> dirs_, empty_dirs_, files_, symlinks_, others_;
  // Directories some identity cannot search (no x for "other").
  std::vector<std::string> closed_dirs_;
};

}  // namespace veil::difftest
