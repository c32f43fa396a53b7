// SPDX-License-Identifier: Apache-2.0
//
// SeccompFilter: the classic-BPF program that decides, per x86-64 syscall
// number, what the host kernel does with an app task's call: run it
// (kAllow), hand it to the sentry (kNotify, seccomp user notification),
// fail it with an errno (kErrno), or stop the task for its ptrace tracer
// (kTrace, RET_TRACE; execve and execveat only). Numbers without a rule get
// the default action.
//
// Before any rule, the program kills the whole process (RET_KILL_PROCESS,
// the task dies of SIGSYS) when the call is not x86-64: another audit arch
// (an `int 0x80` call is AUDIT_ARCH_I386) or an x32 number (bit 0x40000000
// set; every number with that bit, including -1, is treated as x32). So a
// rule only ever sees a number below 0x40000000 or one with the top bit set.
//
// The program is hand-written BPF, laid out as a binary search over the
// sorted number ranges that share an action: about log2(ranges) + 7
// instructions per call, whatever the length of the table (plus one per
// argument guard, five for the guarded number).
// `ActionFor(nr)` answers what the program answers, without running it;
// the unit test runs the program in a small BPF interpreter and checks
// the two agree.
//
// Linux analogue: a filter handed to seccomp(SECCOMP_SET_MODE_FILTER);
// sandbox2's PolicyBuilder builds the same kind of program.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace veil::sentry {

// What the filter does with one syscall number.
class SeccompAction final {
 public:
  enum class Kind : uint8_t { kAllow, kNotify, kErrno, kTrace, kKillProcess };

  static constexpr SeccompAction Allow() { return {Kind::kAllow, 0}; }
  static constexpr SeccompAction Notify() { return {Kind::kNotify, 0}; }
  // The call fails with `error` (1..4095) without running.
  static constexpr SeccompAction Error(uint16_t error) {
    return {Kind::kErrno, error};
  }
  // The task stops in PTRACE_EVENT_SECCOMP; the tracer reads `data` with
  // PTRACE_GETEVENTMSG. Without a tracer the call fails with ENOSYS.
  static constexpr SeccompAction Trace(uint16_t data) {
    return {Kind::kTrace, data};
  }
  static constexpr SeccompAction KillProcess() {
    return {Kind::kKillProcess, 0};
  }

  constexpr Kind kind() const { return kind_; }
  constexpr uint16_t data() const { return data_; }
  // The SECCOMP_RET_* value the program returns.
  uint32_t ReturnValue() const;

  friend constexpr bool operator==(SeccompAction, SeccompAction) = default;

 private:
  constexpr SeccompAction(Kind kind, uint16_t data)
      : kind_(kind), data_(data) {}
  Kind kind_;
  uint16_t data_;
};

// One row of the table: what happens to x86-64 syscall `nr`.
struct SeccompRule {
  int32_t nr = 0;
  SeccompAction action = SeccompAction::Allow();
};

// A check of one argument before the table: a call `nr` whose argument
// `arg` (its low 32 bits) has any bit of `mask` set gets `action` instead
// of its rule's. Registers are values, so the check cannot be raced
// (unlike memory). Used to refuse clone(2) flags that make namespaces.
// kNoneSet turns the test around: the action applies when no bit of
// `mask` is set (mmap(2) without MAP_ANONYMOUS: a file mapping).
enum class GuardWhen : uint8_t { kAnySet, kNoneSet };
struct SeccompArgGuard {
  int32_t nr = 0;
  uint8_t arg = 0;  // 0..5
  uint32_t mask = 0;
  SeccompAction action = SeccompAction::Error(1);
  GuardWhen when = GuardWhen::kAnySet;
};

// Flags for SeccompFilter::Install.
enum class FilterListener : uint8_t {
  kNone,        // plain filter (no kNotify rule may be used)
  kNewListener  // SECCOMP_FILTER_FLAG_NEW_LISTENER |
                // SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
};

class SeccompFilter final {
 public:
  // EINVAL: a number below 0 or with the x32 bit, twice the same number,
  // an errno outside 1..4095. E2BIG: the program would exceed the kernel's
  // 4,096 instructions.
  static Result<SeccompFilter> Create(std::span<const SeccompRule> rules,
                                      SeccompAction default_action,
                                      std::span<const SeccompArgGuard> guards =
                                          {});

  // What the program answers for an x86-64 call `nr` (seccomp_data.nr;
  // with the x32 bit set: kKillProcess).
  SeccompAction ActionFor(int32_t nr) const;
  std::span<const sock_filter> program() const { return program_; }

  // Installs the program on the calling thread (which must have
  // no_new_privs or CAP_SYS_ADMIN). Returns the listener with kNewListener
  // (O_CLOEXEC, made by the kernel), an invalid fd otherwise.
  // Async-signal-safe (allocates nothing): usable between fork and exec.
  // Errors are seccomp(2)'s.
  Result<UniqueFd> Install(FilterListener listener) const;

 private:
  SeccompFilter() = default;

  std::vector<SeccompRule> rules_;  // sorted by nr
  SeccompAction default_ = SeccompAction::Allow();
  std::vector<sock_filter> program_;
};

}  // namespace veil::sentry
