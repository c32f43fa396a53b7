// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <array>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "tests/difftest/exec.h"
#include "tests/difftest/op.h"
#include "tests/difftest/tree.h"

namespace veil::difftest {
namespace {

// Probe timestamps (see runner.h). atime <= mtime makes relatime update
// atime on the next access; an atime in the future makes it leave atime
// alone (it is newer than mtime and ctime and not older than a day).
constexpr struct timespec kOldAtime = kProbeOldAtime;
constexpr struct timespec kFutureAtime = {4000000000, 0};
constexpr struct timespec kOldMtime = kProbeOldMtime;

bool SameTime(int64_t sec, int64_t nsec, const struct timespec& ts) {
  return sec == ts.tv_sec && nsec == ts.tv_nsec;
}

// See RunOptions::settle_ctime. Gives up after 100 ms, so that a backend
// whose clock runs ahead cannot stall the run.
void WaitForCoarseClockPast(int64_t sec, int64_t nsec) {
  for (int naps = 0; naps < 200; ++naps) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_sec > sec || (now.tv_sec == sec && now.tv_nsec > nsec)) return;
    struct timespec nap = {0, 500000};
    nanosleep(&nap, nullptr);
  }
}

std::string CredsTag(const Creds& creds) {
  return creds.uid == 0 ? "root" : "uid" + std::to_string(creds.uid);
}

// One harness fd slot, open on both sides.
struct Slot {
  bool open = false;
  int fd_e = -1, fd_a = -1;
  bool is_dir = false;
  uint64_t ino_e = 0, ino_a = 0;
};

class Runner final {
 public:
  Runner(Backend& expected, Backend& actual, uint64_t seed,
         const RunOptions& options)
      : e_(expected),
        a_(actual),
        seed_(seed),
        options_(options),
        compare_{options.compare_blocks, options.compare_times},
        generator_(seed, options.generator),
        rng_(seed ^ 0x9e3779b97f4a7c15ull) {}

  bool Run(int steps);
  const std::string& report() const { return report_; }

 private:
  bool Start();
  bool Step();
  bool Finish();
  bool PresetTimes();
  bool WalkAndCompare(WalkDepth depth);
  bool FdStats(Slot* slot, StatResult* e, StatResult* a);
  void SetRoot() {
    e_.SetCreds(RootCreds());
    a_.SetCreds(RootCreds());
  }
  bool Fail(const std::string& what);
  void Log(const std::string& line);

  Backend& e_;
  Backend& a_;
  const uint64_t seed_;
  const RunOptions options_;
  const CompareOptions compare_;
  Generator generator_;
  std::mt19937_64 rng_;  // the runner's own choices (probe atime)
  struct timespec probe_atime_ = kOldAtime;
  Creds creds_ = RootCreds();
  std::array<Slot, kMaxFdSlots> slots_;
  int step_ = -1;
  // State after the previous step: both trees, identity classes, and the
  // stat of every inode per side (times as set by PresetTimes()).
  Tree tree_e_, tree_a_;
  InodeMatch match_;
  InodeTimes before_e_, before_a_;
  std::deque<std::string> log_;
  std::string report_;
  std::map<std::string, std::pair<int, int>> counts_;  // kind -> ok, failed
};

void Runner::Log(const std::string& line) {
  if (options_.trace != nullptr) fprintf(options_.trace, "%s\n", line.c_str());
  log_.push_back(line);
  while (static_cast<int>(log_.size()) > options_.log_tail + 1) {
    log_.pop_front();
  }
}

bool Runner::Fail(const std::string& what) {
  report_ =
      "DIVERGENCE seed=" + std::to_string(seed_) +
      " step=" + std::to_string(step_) + "\n  " + what +
      "\n  expected: " + e_.Name() + "\n  actual:   " + a_.Name() +
      "\n  reproduce: RunDifferential(..., seed=" + std::to_string(seed_) +
      ", steps>=" + std::to_string(step_ + 1) +
      ")\n  last operations (root = uid 0; results expected [/ actual]):\n";
  for (const std::string& line : log_) report_ += "    " + line + "\n";
  return false;
}

bool Runner::Run(int steps) {
  if (!Start()) return false;
  for (step_ = 0; step_ < steps; ++step_) {
    if (!Step()) return false;
  }
  if (!Finish()) return false;
  int ok = 0, failed = 0;
  std::string kinds;
  for (const auto& [kind, c] : counts_) {
    ok += c.first;
    failed += c.second;
    kinds += " " + kind + "=" + std::to_string(c.first) + "/" +
             std::to_string(c.first + c.second);
  }
  report_ = "seed=" + std::to_string(seed_) + ": " + std::to_string(steps) +
            " steps, no divergence; " + std::to_string(ok) + " succeeded, " +
            std::to_string(failed) + " failed; per op (ok/total):" + kinds +
            "\n";
  return true;
}

bool Runner::Start() {
  // Both roots start as root:root 0777 so that every identity can create.
  SetRoot();
  for (Backend* b : {&e_, &a_}) {
    if (int rc = b->Chown("/", 0, 0, 0); rc != 0) {
      return Fail(std::string(b->Name()) +
                  ": chown(\"/\") failed: " + FormatResult(rc));
    }
    if (int rc = b->Chmod("/", 0777); rc != 0) {
      return Fail(std::string(b->Name()) +
                  ": chmod(\"/\") failed: " + FormatResult(rc));
    }
  }
  return WalkAndCompare(WalkDepth::kFull);
}

bool Runner::Finish() {
  SetRoot();
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (!slot.open) continue;
    int rc_e = e_.Close(slot.fd_e), rc_a = a_.Close(slot.fd_a);
    slot = Slot();
    if (rc_e != rc_a) {
      return Fail("closing fd" + std::to_string(i) + " at the end: expected " +
                  FormatResult(rc_e) + ", actual " + FormatResult(rc_a));
    }
  }
  return WalkAndCompare(WalkDepth::kFull);
}

// Walks both sides as root and compares them with each other and with the
// state before the step; on success the walk becomes the new "before".
bool Runner::WalkAndCompare(WalkDepth depth) {
  SetRoot();
  Tree tree_e, tree_a;
  WalkTree(e_, depth, &tree_e);
  WalkTree(a_, depth, &tree_a);
  bool first = step_ < 0;
  TreeDiffInput in{&tree_e, &tree_a, first ? nullptr : &before_e_,
                   first ? nullptr : &before_a_, first ? nullptr : &match_};
  InodeMatch match;
  std::string diff = DiffTrees(in, compare_, &match);
  if (!diff.empty()) {
    return Fail(std::string(depth == WalkDepth::kFull ? "full" : "stat") +
                " tree comparison: " + diff);
  }
  tree_e_ = std::move(tree_e);
  tree_a_ = std::move(tree_a);
  match_ = std::move(match);
  before_e_.clear();
  before_a_.clear();
  for (const auto& [path, node] : tree_e_) {
    if (node.stat_rc == 0) before_e_[node.st.ino] = node.st;
  }
  for (const auto& [path, node] : tree_a_) {
    if (node.stat_rc == 0) before_a_[node.st.ino] = node.st;
  }
  return true;
}

// Puts every reachable inode's atime/mtime at the probe values and records
// the resulting stat (which also marks ctime as queried for multigrain).
bool Runner::PresetTimes() {
  if (!options_.compare_times) return true;
  if (step_ % 50 == 0 && !options_.quiet_time_probes) {
    probe_atime_ = (rng_() & 1) != 0 ? kOldAtime : kFutureAtime;
  }
  const struct timespec times[2] = {probe_atime_, kOldMtime};
  const int64_t now = NowSeconds();
  std::set<uint64_t> done;
  for (const auto& [path, ne] : tree_e_) {
    if (ne.stat_rc != 0 || !done.insert(ne.st.ino).second) continue;
    const Node& na = tree_a_.at(path);
    auto at_probe = [&](const StatResult& st) {
      return SameTime(st.atime_sec, st.atime_nsec, probe_atime_) &&
             SameTime(st.mtime_sec, st.mtime_nsec, kOldMtime);
    };
    if (!ne.perturbed && !na.perturbed && at_probe(ne.st) && at_probe(na.st)) {
      continue;
    }
    if (options_.quiet_time_probes && (ne.perturbed || na.perturbed)) {
      // Did the walk really move them? (See RunOptions.)
      StatResult st_e, st_a;
      if (e_.Stat(path, AT_SYMLINK_NOFOLLOW, &st_e) == 0 &&
          a_.Stat(path, AT_SYMLINK_NOFOLLOW, &st_a) == 0 && at_probe(st_e) &&
          at_probe(st_a)) {
        before_e_[st_e.ino] = st_e;
        before_a_[st_a.ino] = st_a;
        continue;
      }
    }
    int rc_e = e_.Utimens(path, times, AT_SYMLINK_NOFOLLOW);
    int rc_a = a_.Utimens(path, times, AT_SYMLINK_NOFOLLOW);
    StatResult st_e, st_a;
    int src_e = e_.Stat(path, AT_SYMLINK_NOFOLLOW, &st_e);
    int src_a = a_.Stat(path, AT_SYMLINK_NOFOLLOW, &st_a);
    if (rc_e != rc_a || src_e != src_a) {
      return Fail("resetting times of " + Quote(path) + " as root: expected " +
                  FormatResult(rc_e) + "/" + FormatResult(src_e) + ", actual " +
                  FormatResult(rc_a) + "/" + FormatResult(src_a));
    }
    if (src_e != 0) continue;
    InodeMatch scratch;
    if (std::string d = DiffStat(st_e, st_a, now, compare_, &scratch);
        !d.empty()) {
      return Fail("after resetting times of " + Quote(path) + ": " + d);
    }
    before_e_[st_e.ino] = st_e;
    before_a_[st_a.ino] = st_a;
  }
  return true;
}

bool Runner::FdStats(Slot* slot, StatResult* e, StatResult* a) {
  int rc_e = e_.Fstat(slot->fd_e, e);
  int rc_a = a_.Fstat(slot->fd_a, a);
  if (rc_e != 0 || rc_a != 0) {
    return Fail("harness fstat of an open slot failed: expected " +
                FormatResult(rc_e) + ", actual " + FormatResult(rc_a));
  }
  if (e->ino != slot->ino_e || a->ino != slot->ino_a) {
    // See RunOptions::fd_ino_may_change.
    if (!options_.fd_ino_may_change || e->ino == slot->ino_e ||
        a->ino == slot->ino_a) {
      return Fail("an open descriptor changed inode number: expected #" +
                  std::to_string(slot->ino_e) + " -> #" +
                  std::to_string(e->ino) + ", actual #" +
                  std::to_string(slot->ino_a) + " -> #" +
                  std::to_string(a->ino));
    }
    slot->ino_e = e->ino;
    slot->ino_a = a->ino;
  }
  return true;
}

bool Runner::Step() {
  if (!PresetTimes()) return false;
  std::vector<TreeEntry> entries;
  for (const auto& [path, node] : tree_e_) {
    if (node.stat_rc == 0) entries.push_back({path, node.st.mode});
  }
  Op op = generator_.Next(entries);
  const bool has_slot = op.slot >= 0 && op.slot < kMaxFdSlots;
  Slot* slot = has_slot ? &slots_[op.slot] : nullptr;
  // Directory offsets are cookies (tmpfs: indices into a per-directory
  // offset map), so for directories only rewinds are compared.
  if (op.kind == OpKind::kLseek && has_slot && slot->open && slot->is_dir &&
      (op.flags == SEEK_SET || op.flags == SEEK_CUR)) {
    op.flags = SEEK_SET;
    op.offset = 0;
  }
  if (options_.settle_ctime &&
      (options_.settle_ctime_always || op.kind == OpKind::kUnlink ||
       op.kind == OpKind::kRmdir || op.kind == OpKind::kLink ||
       op.kind == OpKind::kRename)) {
    int64_t sec = 0, nsec = 0;
    for (const InodeTimes* side : {&before_e_, &before_a_}) {
      for (const auto& [ino, st] : *side) {
        if (st.ctime_sec > sec ||
            (st.ctime_sec == sec && st.ctime_nsec > nsec)) {
          sec = st.ctime_sec;
          nsec = st.ctime_nsec;
        }
      }
    }
    WaitForCoarseClockPast(sec, nsec);
  }
  const bool fd_live =
      IsFdOp(op.kind) && op.kind != OpKind::kClose && has_slot && slot->open;
  StatResult fd_before_e, fd_before_a;
  if (fd_live && !FdStats(slot, &fd_before_e, &fd_before_a)) return false;

  if (op.kind == OpKind::kSetCreds) creds_ = op.creds;
  e_.SetCreds(creds_);
  a_.SetCreds(creds_);
  const int fd_e = has_slot && slot->open ? slot->fd_e : -1;
  const int fd_a = has_slot && slot->open ? slot->fd_a : -1;
  Outcome oe = Execute(e_, op, fd_e);
  Outcome oa = Execute(a_, op, fd_a);
  SetRoot();

  std::string line = "#" + std::to_string(step_) + " [" + CredsTag(creds_) +
                     "] " + FormatOp(op) + " = " + FormatResult(oe.rc);
  bool rc_differs = op.kind == OpKind::kOpen
                        ? (oe.rc < 0 || oa.rc < 0) && oe.rc != oa.rc
                        : oe.rc != oa.rc;
  if (rc_differs) line += " / " + FormatResult(oa.rc);
  Log(line);
  auto& count = counts_[OpKindName(op.kind)];
  (oe.rc >= 0 ? count.first : count.second)++;

  InodeMatch step_match = match_;
  if (std::string d = DiffOutcome(op, oe, oa, compare_, &step_match);
      !d.empty()) {
    return Fail(FormatOp(op) + ": " + d);
  }
  if (op.kind == OpKind::kOpen && oe.rc >= 0) {
    *slot = Slot{true, static_cast<int>(oe.rc), static_cast<int>(oa.rc)};
    StatResult st_e, st_a;
    if (e_.Fstat(slot->fd_e, &st_e) != 0 || a_.Fstat(slot->fd_a, &st_a) != 0) {
      return Fail("harness fstat of a new descriptor failed");
    }
    slot->is_dir = S_ISDIR(st_e.mode);
    slot->ino_e = st_e.ino;
    slot->ino_a = st_a.ino;
    std::string why;
    if (!step_match.Pair(st_e.ino, st_a.ino, &why)) {
      return Fail("the new descriptor's inode: " + why);
    }
  }
  if (op.kind == OpKind::kClose && has_slot) *slot = Slot();
  if (fd_live) {
    StatResult after_e, after_a;
    if (!FdStats(slot, &after_e, &after_a)) return false;
    const int64_t now = NowSeconds();
    std::string d = DiffStat(after_e, after_a, now, compare_, &step_match);
    if (d.empty() && options_.compare_times) {
      d = DiffTimeChanges(fd_before_e, after_e, fd_before_a, after_a, now);
    }
    if (!d.empty())
      return Fail("fstat(fd" + std::to_string(op.slot) +
                  ") after the operation: " + d);
  }
  generator_.Observe(op, oe.rc);
  bool full = options_.full_compare_every > 0 &&
              (step_ + 1) % options_.full_compare_every == 0;
  return WalkAndCompare(full ? WalkDepth::kFull : WalkDepth::kStat);
}

}  // namespace

bool RunDifferential(Backend& expected, Backend& actual, uint64_t seed,
                     int steps, std::string* report,
                     const RunOptions& options) {
  Runner runner(expected, actual, seed, options);
  bool ok = runner.Run(steps);
  *report = runner.report();
  return ok;
}

}  // namespace veil::difftest
