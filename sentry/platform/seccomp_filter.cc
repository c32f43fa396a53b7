// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/seccomp_filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>

namespace veil::sentry {
namespace {

constexpr uint32_t kX32Bit = 0x40000000;
constexpr size_t kMaxInstructions = 4096;  // the kernel's BPF_MAXINSNS
constexpr uint16_t kMaxErrno = 4095;       // the kernel's MAX_ERRNO

sock_filter Stmt(uint16_t code, uint32_t k) {
  return sock_filter{code, 0, 0, k};
}
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return sock_filter{code, jt, jf, k};
}

// A run of numbers [first, next range's first) sharing one action.
struct Range {
  uint32_t first;
  SeccompAction action;
};

// Emits a binary search over ranges[lo..hi] (inclusive; they cover all of
// [ranges[lo].first, ranges[hi + 1].first)). The accumulator holds nr.
std::vector<sock_filter> Search(const std::vector<Range>& ranges, size_t lo,
                                size_t hi) {
  if (lo == hi) return {Stmt(BPF_RET | BPF_K, ranges[lo].action.ReturnValue())};
  size_t mid = lo + (hi - lo + 1) / 2;  // first range of the upper half
  std::vector<sock_filter> below = Search(ranges, lo, mid - 1);
  std::vector<sock_filter> above = Search(ranges, mid, hi);
  std::vector<sock_filter> out;
  out.reserve(below.size() + above.size() + 2);
  if (below.size() <= 255) {
    out.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, ranges[mid].first,
                       static_cast<uint8_t>(below.size()), 0));
  } else {
    // cBPF conditional offsets are 8 bits: hop over `below` with a ja.
    out.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, ranges[mid].first, 0, 1));
    out.push_back(Stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(below.size())));
  }
  out.insert(out.end(), below.begin(), below.end());
  out.insert(out.end(), above.begin(), above.end());
  return out;
}

}  // namespace

uint32_t SeccompAction::ReturnValue() const {
  switch (kind_) {
    case Kind::kAllow:
      return SECCOMP_RET_ALLOW;
    case Kind::kNotify:
      return SECCOMP_RET_USER_NOTIF;
    case Kind::kErrno:
      return SECCOMP_RET_ERRNO | (data_ & SECCOMP_RET_DATA);
    case Kind::kTrace:
      return SECCOMP_RET_TRACE | (data_ & SECCOMP_RET_DATA);
    case Kind::kKillProcess:
      break;
  }
  return SECCOMP_RET_KILL_PROCESS;
}

Result<SeccompFilter> SeccompFilter::Create(
    std::span<const SeccompRule> rules, SeccompAction default_action,
    std::span<const SeccompArgGuard> guards) {
  SeccompFilter filter;
  filter.default_ = default_action;
  filter.rules_.assign(rules.begin(), rules.end());
  std::sort(filter.rules_.begin(), filter.rules_.end(),
            [](const SeccompRule& a, const SeccompRule& b) { return a.nr < b.nr; });
  auto bad_errno = [](SeccompAction a) {
    return a.kind() == SeccompAction::Kind::kErrno &&
           (a.data() == 0 || a.data() > kMaxErrno);
  };
  // Invalid filters are EINVAL, as seccomp(2) answers for a program it
  // refuses (Linux: seccomp_prepare_filter, seccomp_check_filter).
  if (bad_errno(default_action)) return Errno(EINVAL, "errno out of range");
  for (size_t i = 0; i < filter.rules_.size(); ++i) {
    const SeccompRule& r = filter.rules_[i];
    if (r.nr < 0 || (static_cast<uint32_t>(r.nr) & kX32Bit) != 0) {
      return Errno(EINVAL, "not an x86-64 syscall number");
    }
    if (i > 0 && filter.rules_[i - 1].nr == r.nr) {
      return Errno(EINVAL, "two rules for one syscall number");
    }
    if (bad_errno(r.action)) return Errno(EINVAL, "errno out of range");
  }

  // Ranges covering [0, 2^32): rule runs and the default in the gaps,
  // neighbours with the same action merged.
  std::vector<Range> ranges;
  auto add = [&ranges](uint32_t first, SeccompAction action) {
    if (!ranges.empty() && ranges.back().action == action) return;
    ranges.push_back({first, action});
  };
  uint32_t next = 0;
  for (const SeccompRule& r : filter.rules_) {
    uint32_t nr = static_cast<uint32_t>(r.nr);
    if (nr > next) add(next, default_action);
    add(nr, r.action);
    next = nr + 1;
  }
  add(next, default_action);

  std::vector<sock_filter>& p = filter.program_;
  p = {
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      Jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      Jump(BPF_JMP | BPF_JSET | BPF_K, kX32Bit, 0, 1),
      Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  for (const SeccompArgGuard& g : guards) {
    if (g.nr < 0 || (static_cast<uint32_t>(g.nr) & kX32Bit) != 0 ||
        g.arg > 5 || g.mask == 0 || bad_errno(g.action)) {
      return Errno(EINVAL, "bad argument guard");
    }
    // The accumulator holds nr: another number skips the guard; this one
    // loads the argument's low word (x86-64 is little-endian), tests the
    // mask, and reloads nr for the search.
    p.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(g.nr),
                     0, 4));
    p.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS,
                     static_cast<uint32_t>(offsetof(seccomp_data, args) +
                                           g.arg * sizeof(uint64_t))));
    if (g.when == GuardWhen::kAnySet) {
      p.push_back(Jump(BPF_JMP | BPF_JSET | BPF_K, g.mask, 0, 1));
    } else {
      p.push_back(Jump(BPF_JMP | BPF_JSET | BPF_K, g.mask, 1, 0));
    }
    p.push_back(Stmt(BPF_RET | BPF_K, g.action.ReturnValue()));
    p.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  }
  std::vector<sock_filter> search = Search(ranges, 0, ranges.size() - 1);
  p.insert(p.end(), search.begin(), search.end());
  // Linux: seccomp_prepare_filter rejects a longer program with EINVAL;
  // ours says what is wrong before the kernel sees it.
  if (p.size() > kMaxInstructions) return Errno(E2BIG, "filter too long");
  return filter;
}

SeccompAction SeccompFilter::ActionFor(int32_t nr) const {
  if ((static_cast<uint32_t>(nr) & kX32Bit) != 0) {
    return SeccompAction::KillProcess();
  }
  auto it = std::lower_bound(
      rules_.begin(), rules_.end(), nr,
      [](const SeccompRule& r, int32_t n) { return r.nr < n; });
  if (it != rules_.end() && it->nr == nr) return it->action;
  return default_;
}

Result<UniqueFd> SeccompFilter::Install(FilterListener listener) const {
  sock_fprog prog{static_cast<unsigned short>(program_.size()),
                  const_cast<sock_filter*>(program_.data())};
  unsigned long flags = 0;
  if (listener == FilterListener::kNewListener) {
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER |
            SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  }
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc < 0) return Errno::FromErrno();
  if (listener == FilterListener::kNewListener) {
    return UniqueFd(static_cast<int>(rc));
  }
  return UniqueFd();
}

}  // namespace veil::sentry
