// SPDX-License-Identifier: Apache-2.0
//
// The wire form of a LoadPlan, as the stub reads it (stub_protocol.h).
// EncodePlan writes what the sentry sends; DecodePlan checks a buffer the
// way the stub does before trusting it (the stub has its own copy of the
// checks in C: stub/stub.c), so tests can hold the two to one rule.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "sentry/loader/load_plan.h"
#include "sentry/loader/stub_protocol.h"

namespace veil::sentry::loader {

// `file_offsets[i]` is where file i's bytes start in the host fd the stub
// will map it from (vfs::HostMemory::offset; page aligned). `vdso` fills
// the plan's AT_SYSINFO_EHDR slot, if it has one. EINVAL if the plan or an
// offset breaks a bound of stub_protocol.h (too many mappings or files,
// an unaligned offset, a plan over VEIL_STUB_MAX_PLAN_BYTES).
Result<std::vector<uint8_t>> EncodePlan(const LoadPlan& plan,
                                        std::span<const uint64_t> file_offsets,
                                        uint64_t vdso);

struct DecodedPlan {
  veil_stub_plan_header header{};
  std::vector<veil_stub_mapping> mappings;
  std::vector<uint8_t> stack_image;
};

// Checks and decodes `wire`. EINVAL for anything the stub would refuse:
// a short or long buffer, a bad magic or version, counts over the bounds,
// unaligned or wrapping ranges, a file index out of range, a zero range
// outside its mapping or on a read-only one, a stack image not ending at
// the stack's end, an rsp outside it or unaligned.
Result<DecodedPlan> DecodePlan(std::span<const uint8_t> wire);

}  // namespace veil::sentry::loader
