// SPDX-License-Identifier: Apache-2.0
//
// Generator core: choosing and rendering path arguments, and the op mix.
// The per-operation builders are in generator_ops.cc.
#include "tests/difftest/generator.h"

#include <sys/stat.h>

#include <algorithm>

namespace veil::difftest {
namespace {

// A small pool so that new names often collide with existing ones.
const char* const kNames[] = {"a", "b", "c", "d", "e", "f", "g", "h"};

std::vector<std::string> Components(const std::string& canonical) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < canonical.size()) {
    size_t end = canonical.find('/', pos);
    if (end == std::string::npos) end = canonical.size();
    if (end > pos) out.push_back(canonical.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string JoinComponents(const std::vector<std::string>& parts, size_t begin,
                           size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    if (!out.empty()) out += "/";
    out += parts[i];
  }
  return out;
}

std::string Child(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

}  // namespace

Creds RootCreds() { return Creds{0, 0, {}}; }
Creds UserACreds() { return Creds{1000, 1000, {1000}}; }
Creds UserBCreds() { return Creds{1001, 1001, {1000, 1001}}; }

Generator::Generator(uint64_t seed, GeneratorOptions options)
    : options_(options), rng_(seed) {
  options_.max_fds = std::clamp(options_.max_fds, 1, kMaxFdSlots);
}

bool Generator::Chance(int percent) { return Uniform(0, 99) < percent; }

int Generator::Uniform(int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng_);
}

bool Generator::TreeFull() const {
  return static_cast<int>(tree_.size()) >= options_.max_entries;
}

uint32_t Generator::TypeOf(const std::string& canonical) const {
  auto it = std::lower_bound(
      tree_.begin(), tree_.end(), canonical,
      [](const TreeEntry& e, const std::string& p) { return e.path < p; });
  return it != tree_.end() && it->path == canonical ? it->mode & S_IFMT : 0;
}

std::string Generator::NewName() {
  int roll = Uniform(0, 99);
  if (roll < 90) return kNames[Uniform(0, 7)];
  if (roll < 93) return std::string(254, 'L') + kNames[Uniform(0, 1)];  // 255
  if (roll < 95) return std::string(256, 'M');  // one over NAME_MAX
  static const char* const kOdd[] = {"...", ".a",  "a b",
                                     "-",   "x.y", "\xc3\xa9"};
  return kOdd[Uniform(0, 5)];
}

std::string Generator::NewCanonical() {
  // Once the tree is full, "new" names mostly land on existing ones.
  if (TreeFull() && Chance(85)) return PickOf(tree_).path;
  // Keep new entries shallow enough for every path to fit in PATH_MAX.
  std::vector<std::string> parents;
  for (const std::string& d : dirs_) {
    if (d.size() < 1024) parents.push_back(d);
  }
  if (parents.empty()) parents.push_back("/");
  return Child(PickOf(parents), NewName());
}

std::string Generator::PickCanonical(Want want) {
  const std::vector<std::string>* pool = nullptr;
  std::vector<std::string> mixed;
  switch (want) {
    case Want::kDir:
      pool = &dirs_;
      break;
    case Want::kEmptyDir:
      pool = &empty_dirs_;
      break;
    case Want::kFile:
      pool = &files_;
      break;
    case Want::kSymlink:
      pool = &symlinks_;
      break;
    case Want::kNonDir:
      mixed = files_;
      mixed.insert(mixed.end(), symlinks_.begin(), symlinks_.end());
      mixed.insert(mixed.end(), others_.begin(), others_.end());
      pool = &mixed;
      break;
    case Want::kAny:
      for (const TreeEntry& e : tree_) mixed.push_back(e.path);
      pool = &mixed;
      break;
    case Want::kNew:
      return NewCanonical();
  }
  if (pool->empty()) return NewCanonical();
  return PickOf(*pool);
}

// Spells `canonical` in one of many equivalent (or deliberately not quite
// equivalent) ways.
std::string Generator::Render(const std::string& canonical) {
  int roll = Uniform(0, 99);
  if (roll < 1) return "";  // ENOENT
  if (roll < 2) {
    // Just at or over PATH_MAX (4096 with the NUL): pad with slashes.
    int total = std::vector<int>{4095, 4096, 5000}[Uniform(0, 2)];
    std::string tail = canonical == "/" ? "" : canonical;
    return std::string(std::max<int>(1, total - tail.size()), '/') + tail;
  }
  std::vector<std::string> parts = Components(canonical);
  if (Chance(45) && !parts.empty()) {
    // Through a symlink: replace a leading run of components by a link.
    if (Chance(20) && !symlinks_.empty()) {
      size_t keep = Uniform(1, static_cast<int>(parts.size()));
      std::vector<std::string> link = Components(PickOf(symlinks_));
      link.insert(link.end(), parts.begin() + keep, parts.end());
      parts = link;
    }
    // A "." or "x/.." detour at a random depth; x may be missing, a file or
    // a symlink, each of which changes the outcome.
    if (Chance(25)) {
      size_t at = Uniform(0, static_cast<int>(parts.size()));
      if (Chance(50)) {
        parts.insert(parts.begin() + at, ".");
      } else {
        std::string x = kNames[Uniform(0, 7)];
        if (Chance(70) && !tree_.empty()) {
          std::vector<std::string> picked = Components(PickOf(tree_).path);
          x = picked.empty() ? "." : picked.back();
        }
        parts.insert(parts.begin() + at, {x, ".."});
      }
    }
    // ".." above the root stays at the root.
    if (Chance(10)) parts.insert(parts.begin(), {"..", ".."});
  }
  std::string path = JoinComponents(parts, 0, parts.size());
  if (Chance(12)) {
    size_t slash = path.find('/', Uniform(0, static_cast<int>(path.size())));
    // Concatenation rather than insert(): g++ 12 misreports -Wrestrict there.
    if (slash != std::string::npos) {
      path = path.substr(0, slash) + "/" + path.substr(slash);
    }
  }
  // Absolute or relative to the cwd, which is the root.
  if (Chance(60) || path.empty()) {
    path = (Chance(5) ? "//" : "/") + path;
  }
  int tail = Uniform(0, 99);
  if (tail < 6) {
    path += "/";
  } else if (tail < 8) {
    path += "/.";
  } else if (tail < 9) {
    path += "/..";
  }
  return path;
}

std::string Generator::PathArg(Want want) {
  std::string canonical =
      Chance(12) && want != Want::kNew ? NewCanonical() : PickCanonical(want);
  return Chance(55) ? canonical : Render(canonical);
}

std::string Generator::SymlinkTarget(const std::string& link_path) {
  int roll = Uniform(0, 99);
  if (roll < 22) return PickCanonical(Chance(60) ? Want::kDir : Want::kAny);
  if (roll < 44) {
    // Relative from the link's directory to an existing entry.
    std::vector<std::string> from = Components(link_path);
    if (!from.empty()) from.pop_back();
    std::vector<std::string> to =
        Components(PickCanonical(Chance(60) ? Want::kDir : Want::kAny));
    size_t common = 0;
    while (common < from.size() && common < to.size() &&
           from[common] == to[common]) {
      ++common;
    }
    std::string rel;
    for (size_t i = common; i < from.size(); ++i) rel += "../";
    rel += JoinComponents(to, common, to.size());
    return rel.empty() ? "." : rel;
  }
  if (roll < 54) return Chance(50) ? "/nowhere/x" : "zz";  // dangling
  if (roll < 62) {
    std::vector<std::string> self = Components(link_path);
    return self.empty() ? "." : self.back();  // a loop when it is itself
  }
  if (roll < 70 && !symlinks_.empty()) return PickOf(symlinks_);  // chain
  if (roll < 75) return "/";
  if (roll < 80) return "..";
  if (roll < 83) return "../../..";
  if (roll < 86) return std::string(Chance(70) ? 4095 : 4096, 'T');
  if (roll < 87) return "";
  return Render(PickCanonical(Want::kAny));
}

std::string Generator::RandomData(int max_len) {
  // Letters and digits only: readable in logs, and never a "#!" or ELF
  // header in a set-id file on the host.
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  int len = Uniform(0, max_len);
  std::string out(len, 'a');
  for (char& c : out) c = kAlphabet[Uniform(0, 35)];
  return out;
}

int Generator::FreeSlot() const {
  for (int i = 0; i < options_.max_fds; ++i) {
    if (!slot_open_[i]) return i;
  }
  return -1;
}

bool Generator::HasOpenSlot() const {
  for (int i = 0; i < options_.max_fds; ++i) {
    if (slot_open_[i]) return true;
  }
  return false;
}

int Generator::PickSlot(uint32_t type) {
  std::vector<int> open, typed;
  for (int i = 0; i < options_.max_fds; ++i) {
    if (!slot_open_[i]) continue;
    open.push_back(i);
    if (slot_type_[i] == type) typed.push_back(i);
  }
  // Now and then a closed slot: EBADF paths.
  if (open.empty() || Chance(4)) return Uniform(0, options_.max_fds - 1);
  if (type != 0 && !typed.empty() && Chance(85)) return PickOf(typed);
  return PickOf(open);
}

Op Generator::Next(const std::vector<TreeEntry>& tree) {
  tree_ = tree;
  dirs_.clear();
  empty_dirs_.clear();
  closed_dirs_.clear();
  files_.clear();
  symlinks_.clear();
  others_.clear();
  for (const TreeEntry& e : tree_) {
    switch (e.mode & S_IFMT) {
      case S_IFDIR:
        dirs_.push_back(e.path);
        if ((e.mode & 0111) != 0111) closed_dirs_.push_back(e.path);
        break;
      case S_IFREG:
        files_.push_back(e.path);
        break;
      case S_IFLNK:
        symlinks_.push_back(e.path);
        break;
      default:
        others_.push_back(e.path);
    }
  }
  if (dirs_.empty()) dirs_.push_back("/");
  // The tree is sorted, so a directory is empty iff the next path is not
  // inside it.
  for (size_t i = 0; i < tree_.size(); ++i) {
    if ((tree_[i].mode & S_IFMT) != S_IFDIR) continue;
    const std::string prefix = tree_[i].path == "/" ? "/" : tree_[i].path + "/";
    bool empty = true;
    for (size_t j = i + 1; j < tree_.size() && empty; ++j) {
      if (tree_[j].path.compare(0, prefix.size(), prefix) == 0) empty = false;
    }
    if (empty) empty_dirs_.push_back(tree_[i].path);
  }
  if (creds_index_ == 0 && !closed_dirs_.empty() && Chance(10)) {
    return MakeRepair();
  }

  if (Chance(options_.set_creds_percent)) return MakeSetCreds();
  // Relative weights of the operations.
  const std::pair<OpKind, int> kMix[] = {
      {OpKind::kOpen, 15},     {OpKind::kClose, 4},
      {OpKind::kMkdir, 6},     {OpKind::kMknod, 3},
      {OpKind::kSymlink, 5},   {OpKind::kLink, 4},
      {OpKind::kUnlink, 5},    {OpKind::kRmdir, 4},
      {OpKind::kRename, options_.rename_weight}, {OpKind::kStat, 4},
      {OpKind::kReadlink, 2},  {OpKind::kChmod, 4},
      {OpKind::kChown, 3},     {OpKind::kUtimens, 3},
      {OpKind::kTruncate, 2},  {OpKind::kAccess, 3},
      {OpKind::kSetXattr, 5},  {OpKind::kGetXattr, 2},
      {OpKind::kListXattr, 1}, {OpKind::kRemoveXattr, 2},
      {OpKind::kRead, 3},      {OpKind::kPread, 3},
      {OpKind::kWrite, 3},     {OpKind::kPwrite, 5},
      {OpKind::kLseek, 3},     {OpKind::kFtruncate, 2},
      {OpKind::kFallocate, 3}, {OpKind::kFstat, 2},
      {OpKind::kFchmod, 2},    {OpKind::kGetdents, 3},
  };
  int total = 0;
  for (const auto& [kind, weight] : kMix) total += weight;
  int roll = Uniform(0, total - 1);
  OpKind kind = OpKind::kStat;
  for (const auto& [k, weight] : kMix) {
    if (roll < weight) {
      kind = k;
      break;
    }
    roll -= weight;
  }
  if (IsFdOp(kind) && !HasOpenSlot() && Chance(90)) kind = OpKind::kOpen;
  switch (kind) {
    case OpKind::kOpen:
      return MakeOpen(Chance(45) ? OpenKind::kCreate : OpenKind::kExisting);
    case OpKind::kMknod:
      return MakeMknod();
    case OpKind::kRename:
      return MakeRename();
    case OpKind::kLink:
      return MakeLink();
    case OpKind::kChmod:
    case OpKind::kFchmod:
      return MakeChmod(kind);
    case OpKind::kChown:
      return MakeChown();
    case OpKind::kUtimens:
      return MakeUtimens();
    case OpKind::kSetXattr:
    case OpKind::kGetXattr:
    case OpKind::kListXattr:
    case OpKind::kRemoveXattr:
      return MakeXattr(kind);
    default:
      return IsFdOp(kind) ? MakeFdOp(kind) : MakePathOp(kind);
  }
}

void Generator::Observe(const Op& op, int64_t result) {
  if (op.slot < 0 || op.slot >= kMaxFdSlots) return;
  if (op.kind == OpKind::kOpen && result >= 0) {
    slot_open_[op.slot] = true;
    slot_type_[op.slot] = pending_open_type_;
  }
  if (op.kind == OpKind::kSetXattr && result == 0) {
    xattrs_set_.emplace_back(op.path, op.name);
    if (xattrs_set_.size() > 16) xattrs_set_.erase(xattrs_set_.begin());
  }
  // close() releases the descriptor whatever it returns.
  if (op.kind == OpKind::kClose) slot_open_[op.slot] = false;
}

}  // namespace veil::difftest
