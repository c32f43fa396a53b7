// SPDX-License-Identifier: Apache-2.0
//
// Task memory as the syscall handlers see it: typed copies between the
// sentry and the memory of the task whose trapped call is being served
// (Linux: copy_from_user, copy_to_user, getname, import_iovec). Every
// argument is copied in once, into sentry memory, and only the copy is
// looked at afterwards: the task (or another of its threads) may change
// its memory at any time, so nothing is read twice.
//
// Trust boundary: every address, length and count here comes from an
// untrusted task. Ranges that wrap, or reach past the user address space,
// fail with EFAULT before any copy; counts are checked against Linux's
// limits before anything is allocated for them.
//
// Thread-safety: a TaskMemory belongs to the thread serving its request.
#pragma once

#include <climits>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/result.h"
#include "sentry/platform/platform.h"
#include "sentry/platform/task_addr.h"

namespace veil::sentry {

// The end of the x86-64 user address space with 4-level paging (Linux
// TASK_SIZE_MAX): access_ok fails for a range that reaches past it.
inline constexpr uint64_t kTaskSizeMax = (uint64_t{1} << 47) - 4096;
// Linux MAX_RW_COUNT (INT_MAX & PAGE_MASK): the most one read or write
// moves.
inline constexpr uint64_t kMaxRwCount = 0x7ffff000;
// Linux UIO_MAXIOV.
inline constexpr uint64_t kUioMaxIov = 1024;

// An internal code (outside Linux's errnos, as vfs::kWouldBlock): the
// request no longer waits for an answer (the task died or was
// interrupted). The dispatcher answers nothing a task would see.
inline constexpr int kNotPendingCode = 4001;
inline constexpr Errno kNotPending(kNotPendingCode, "request not pending");

// The memory of the task that made `request`.
class TaskMemory final {
 public:
  // Both borrowed: they outlive the serving of one request.
  TaskMemory(Platform& platform, const SyscallRequest& request)
      : platform_(platform), request_(request) {}
  TaskMemory(const TaskMemory&) = delete;
  TaskMemory& operator=(const TaskMemory&) = delete;

  // As Platform::ReadMemory/WriteMemory: fewer bytes than asked when the
  // range runs into unmapped memory, EFAULT if none; plus EFAULT for a
  // range past the user address space.
  Result<size_t> ReadPartial(TaskAddr addr, std::span<uint8_t> out);
  Result<size_t> WritePartial(TaskAddr addr, std::span<const uint8_t> in);
  // All or EFAULT (copy_from_user/copy_to_user with a nonzero remainder).
  Result<void> Read(TaskAddr addr, std::span<uint8_t> out);
  Result<void> Write(TaskAddr addr, std::span<const uint8_t> in);

  // kNotPending once the request stopped waiting; call after copying the
  // arguments in and before acting on them.
  Result<void> CheckStillPending();

  const SyscallRequest& request() const { return request_; }

 private:
  Platform& platform_;
  const SyscallRequest& request_;
};

// EFAULT unless [addr, addr + size) lies in the user address space
// (Linux access_ok on x86-64).
Result<void> CheckUserRange(TaskAddr addr, uint64_t size);

template <typename T>
Result<T> CopyIn(TaskMemory& mem, TaskAddr addr) {
  static_assert(std::is_trivially_copyable_v<T>);
  T value{};
  VEIL_TRY_VOID(mem.Read(
      addr, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
  return value;
}

template <typename T>
Result<void> CopyOut(TaskMemory& mem, TaskAddr addr, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  return mem.Write(
      addr, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&value),
                                     sizeof(T)));
}

enum class EmptyPath : uint8_t {
  kDeny,   // "" is ENOENT (getname)
  kAllow,  // "" is returned (getname_flags with LOOKUP_EMPTY: AT_EMPTY_PATH)
};

// A NUL-terminated path (Linux getname / strncpy_from_user): reads up to
// PATH_MAX bytes including the NUL. Errors: EFAULT if the first byte is
// unreadable or the string runs into unmapped memory before its NUL;
// ENAMETOOLONG if no NUL within PATH_MAX bytes; ENOENT for "" unless
// `empty` allows it.
Result<std::string> CopyInPath(TaskMemory& mem, TaskAddr addr, EmptyPath empty);

// A NUL-terminated string of at most `max` bytes before the NUL (for
// xattr names and the like); ERANGE-free: returns ENAMETOOLONG past
// `max`, as getname does, callers map it. Errors as CopyInPath, but ""
// is returned.
Result<std::string> CopyInString(TaskMemory& mem, TaskAddr addr, size_t max);

// One segment of a vectored read or write.
struct IoSegment {
  TaskAddr base;
  uint64_t len = 0;
};

// struct iovec[count] at `addr` (Linux import_iovec): EINVAL for count >
// UIO_MAXIOV or a segment length that is negative as ssize_t; EFAULT if
// the array is unreadable or a segment reaches past the user address
// space. Lengths are clamped so their total is at most MAX_RW_COUNT
// (rw_verify_area's limit; later segments become empty).
Result<std::vector<IoSegment>> CopyInIovecs(TaskMemory& mem, TaskAddr addr,
                                            uint64_t count);

}  // namespace veil::sentry
