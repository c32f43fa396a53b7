// SPDX-License-Identifier: Apache-2.0
//
// Helpers for the lisafs tests: errno extraction and hand-built frames.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "lisafs/codec.h"

namespace veil::lisafs::testing {

// 0 for success, else the errno; lets tests write
// EXPECT_EQ(ErrnoOf(result), EINVAL).
template <typename T>
int ErrnoOf(const Result<T>& result) {
  return result.has_value() ? 0 : result.error().code();
}

// A frame with a valid header around whatever `fill` writes with a raw
// Writer (whose Num calls do no checking), for malformed-input tests.
template <typename F>
std::vector<uint8_t> RawFrame(MessageId id, F&& fill, uint64_t tag = 1) {
  std::vector<uint8_t> frame(kHeaderSize, 0);
  Writer writer(&frame);
  fill(writer);
  return VEIL_MUST(internal::SealFrame(id, tag, std::move(frame)));
}

// Makes the header's payload size agree with the frame's length again.
inline void PatchPayloadSize(std::vector<uint8_t>& frame) {
  const uint32_t size = static_cast<uint32_t>(frame.size() - kHeaderSize);
  for (int i = 0; i < 4; ++i)
    frame[4 + i] = static_cast<uint8_t>(size >> (8 * i));
}

}  // namespace veil::lisafs::testing
