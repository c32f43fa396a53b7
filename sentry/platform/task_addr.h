// SPDX-License-Identifier: Apache-2.0
//
// TaskAddr: an address in an app task's memory. Never dereferenced by the
// sentry: task memory is reached only through Platform::ReadMemory and
// WriteMemory (process_vm_readv/writev), so a task address can never be
// mistaken for one of ours. Linux analogue: a `void __user *`; SerenityOS:
// Userspace<T>.
#pragma once

#include <compare>
#include <cstdint>

#include "base/result.h"

namespace veil::sentry {

class TaskAddr final {
 public:
  constexpr TaskAddr() = default;
  constexpr explicit TaskAddr(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  constexpr bool IsNull() const { return value_ == 0; }

  // `this + bytes`; EFAULT if it wraps around the address space (Linux:
  // access_ok fails for a range that wraps).
  // Not constexpr: Result is not a literal type (g++ 12 rejects it).
  Result<TaskAddr> Offset(uint64_t bytes) const {
    if (value_ + bytes < value_) return Errno(EFAULT);
    return TaskAddr(value_ + bytes);
  }

  friend constexpr auto operator<=>(TaskAddr, TaskAddr) = default;

 private:
  uint64_t value_ = 0;
};

}  // namespace veil::sentry
