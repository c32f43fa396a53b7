// SPDX-License-Identifier: Apache-2.0
//
// GoogleTest matchers for veil::Result.
//
//   EXPECT_THAT(vfs.MkdirAt(...), IsOk());
//   EXPECT_THAT(vfs.StatAt(...), ErrnoIs(ENOENT));
//   EXPECT_THAT(vfs.ReadlinkAt(...), IsOkAndHolds("target"));
#pragma once

#include <gmock/gmock.h>

#include <cstring>

#include "base/result.h"

namespace veil::testing {

MATCHER(IsOk, "succeeds") {
  if (arg.has_value()) return true;
  *result_listener << "failed with " << strerrorname_np(arg.error().code());
  return false;
}

MATCHER_P(ErrnoIs, code,
          std::string("fails with ") + strerrorname_np(code)) {
  if (arg.has_value()) {
    *result_listener << "succeeded";
    return false;
  }
  if (arg.error().code() == code) return true;
  *result_listener << "failed with " << strerrorname_np(arg.error().code());
  return false;
}

MATCHER_P(IsOkAndHolds, inner, "succeeds with a matching value") {
  if (!arg.has_value()) {
    *result_listener << "failed with " << strerrorname_np(arg.error().code());
    return false;
  }
  return ::testing::ExplainMatchResult(inner, arg.value(), result_listener);
}

}  // namespace veil::testing
