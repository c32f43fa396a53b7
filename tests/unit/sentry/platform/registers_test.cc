// SPDX-License-Identifier: Apache-2.0
#include "sentry/platform/registers.h"

#include <gtest/gtest.h>

namespace veil::sentry {
namespace {

TEST(Registers, ArgumentsFollowTheSyscallConvention) {
  Registers regs;
  for (size_t i = 0; i < 6; ++i) regs.set_arg(i, 100 + i);
  regs.set_arg(6, 999);  // no seventh argument: ignored
  EXPECT_EQ(regs.raw().rdi, 100u);
  EXPECT_EQ(regs.raw().rsi, 101u);
  EXPECT_EQ(regs.raw().rdx, 102u);
  EXPECT_EQ(regs.raw().r10, 103u);  // not rcx: syscall clobbers it
  EXPECT_EQ(regs.raw().r8, 104u);
  EXPECT_EQ(regs.raw().r9, 105u);
  EXPECT_EQ(regs.raw().rcx, 0u);
  EXPECT_EQ(regs.arg(3), 103u);
  EXPECT_EQ(regs.arg(6), 0u);
}

TEST(Registers, NumberResultAndPointers) {
  Registers regs;
  regs.set_syscall_nr(-1);
  regs.set_return_value(-13);
  regs.set_instruction_pointer(0x401000);
  regs.set_stack_pointer(0x7ffd0000);
  EXPECT_EQ(regs.raw().orig_rax, ~0ull);
  EXPECT_EQ(regs.syscall_nr(), -1);
  EXPECT_EQ(regs.raw().rax, static_cast<unsigned long long>(-13));
  EXPECT_EQ(regs.return_value(), -13);
  EXPECT_EQ(regs.raw().rip, 0x401000u);
  EXPECT_EQ(regs.stack_pointer(), 0x7ffd0000u);
}

}  // namespace
}  // namespace veil::sentry
