// SPDX-License-Identifier: Apache-2.0
//
// The syscall table: one constexpr entry per x86-64 syscall number, from
// 0 to the highest Linux 6.18 has (469), with the gap Linux leaves
// (335..423) unallocated. Each entry says what happens to the call:
//  - kHandler: the sentry serves it (a trapped call); a null handler means
//    "not served yet" and answers the entry's errno (ENOSYS), as the CLI's
//    verb table answers "not built yet";
//  - kNative: the host kernel runs it (the seccomp filter allows it);
//  - kDenied: the filter answers the entry's errno without a trap.
// A per-entry data-plane mark names the calls that run natively on an
// installed host fd by default but are trapped (and served) under
// `--strict`. Every entry has a one-line reason; `veil syscalls` prints
// the table. static_asserts keep it sorted and complete.
//
// Dispatch is the only place a handler's Result becomes the answer.
//
// Thread-safety: the table is constant; Dispatch may run concurrently for
// different tasks (one request at a time per task).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "base/result.h"
#include "sentry/kernel/task_memory.h"
#include "sentry/platform/platform.h"

namespace veil::sentry {

class Task;

// The arguments of one trapped call, and the memory of its task.
struct SyscallArgs {
  TaskMemory& mem;
  const std::array<uint64_t, 6>& raw;

  // An `int` argument: the low 32 bits, as the kernel's int parameters.
  int Int(int i) const { return static_cast<int>(raw[i]); }
  unsigned UInt(int i) const { return static_cast<unsigned>(raw[i]); }
  int64_t Long(int i) const { return static_cast<int64_t>(raw[i]); }
  uint64_t ULong(int i) const { return raw[i]; }
  TaskAddr Addr(int i) const { return TaskAddr(raw[i]); }
};

using SyscallHandler = Result<int64_t> (*)(Task& task, SyscallArgs& args);

enum class SyscallKind : uint8_t { kHandler, kNative, kDenied };
enum class DataPlane : uint8_t { kNo, kYes };

struct SyscallEntry {
  int nr;
  const char* name;
  SyscallKind kind;
  SyscallHandler handler;  // kHandler only; null: not served yet
  int error;               // the answer of a denied or unserved call
  DataPlane data_plane;    // native by default, trapped under --strict
  const char* reason;
};

// The highest syscall number Linux 6.18 assigns on x86-64 (file_setattr).
inline constexpr int kMaxSyscall = 469;
// Linux leaves [335, 424) unassigned on x86-64 (the numbers the other
// architectures use for their 32-bit time64 calls).
inline constexpr int kGapFirst = 335;
inline constexpr int kGapEnd = 424;
inline constexpr size_t kSyscallCount =
    (kMaxSyscall + 1) - (kGapEnd - kGapFirst);

// Every entry, sorted by number.
std::span<const SyscallEntry> SyscallTable();
// The entry of `nr`, or null for a number Linux does not assign.
const SyscallEntry* FindSyscall(int nr);

enum class Mode : uint8_t {
  kDefault,  // data-plane calls run natively on installed fds
  kStrict,   // every file call is trapped
};
// Whether the seccomp filter traps `entry` in `mode` (rather than allowing
// or denying it in the kernel).
bool Trapped(const SyscallEntry& entry, Mode mode);

// Serves one trapped call of `task`: decodes it through the table, runs
// the handler, and turns its Result into the answer (an errno, or the
// value). A number the table does not know answers ENOSYS; a denied or
// native entry that reached the sentry anyway answers its errno (ENOSYS
// for a native one: the sentry never lets a call continue). Returns
// nullopt when the request stopped being pending (nothing to answer).
std::optional<SyscallAnswer> Dispatch(Task& task, const SyscallRequest& req);

// Dispatch, then Platform::Answer: serves `req` completely. An answer the
// platform refuses with ENOENT (the call was interrupted and will come
// again) is dropped, as platform.h asks; other Answer errors are returned.
Result<void> Serve(Task& task, const SyscallRequest& req);

}  // namespace veil::sentry
