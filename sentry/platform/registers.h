// SPDX-License-Identifier: Apache-2.0
//
// Registers: an x86-64 task's general registers as PTRACE_GETREGS reads
// them, with names for what the sentry touches at a syscall stop (the
// number, the six arguments in the syscall convention, the return value,
// the instruction and stack pointers). Only the tracer thread reads or
// writes a task's registers (ExecStop in tracer.h).
//
// At a seccomp stop, setting the number to -1 skips the call and the task
// sees `return_value()` as its result (ptrace(2), "syscall-enter-stop").
#pragma once

#include <sys/user.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace veil::sentry {

class Registers final {
 public:
  Registers() = default;
  explicit Registers(const user_regs_struct& raw) : raw_(raw) {}

  const user_regs_struct& raw() const { return raw_; }
  user_regs_struct& raw() { return raw_; }

  int64_t syscall_nr() const { return static_cast<int64_t>(raw_.orig_rax); }
  void set_syscall_nr(int64_t nr) { raw_.orig_rax = static_cast<uint64_t>(nr); }

  // Argument `i` (0..5: rdi, rsi, rdx, r10, r8, r9); 0 for any other i.
  uint64_t arg(size_t i) const {
    const unsigned long long* slot = ArgSlot(i);
    return slot != nullptr ? *slot : 0;
  }
  void set_arg(size_t i, uint64_t value) {
    if (unsigned long long* slot = ArgSlot(i)) *slot = value;
  }

  int64_t return_value() const { return static_cast<int64_t>(raw_.rax); }
  void set_return_value(int64_t value) { raw_.rax = static_cast<uint64_t>(value); }

  uint64_t instruction_pointer() const { return raw_.rip; }
  void set_instruction_pointer(uint64_t value) { raw_.rip = value; }
  uint64_t stack_pointer() const { return raw_.rsp; }
  void set_stack_pointer(uint64_t value) { raw_.rsp = value; }

 private:
  const unsigned long long* ArgSlot(size_t i) const {
    switch (i) {
      case 0: return &raw_.rdi;
      case 1: return &raw_.rsi;
      case 2: return &raw_.rdx;
      case 3: return &raw_.r10;
      case 4: return &raw_.r8;
      case 5: return &raw_.r9;
      default: return nullptr;
    }
  }
  unsigned long long* ArgSlot(size_t i) {
    return const_cast<unsigned long long*>(std::as_const(*this).ArgSlot(i));
  }

  user_regs_struct raw_{};
};

}  // namespace veil::sentry
