// SPDX-License-Identifier: Apache-2.0
#include "base/result.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/util/matchers.h"

namespace veil {
namespace {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;
using ::veil::testing::IsOkAndHolds;

Result<int> Half(int x) {
  if (x % 2) return Errno(EINVAL, "odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  int h = VEIL_TRY(Half(x));
  return VEIL_TRY(Half(h));
}

Result<void> CheckPositive(int x) {
  if (x <= 0) return Errno(ERANGE);
  return Ok();
}

Result<void> CheckBoth(int a, int b) {
  VEIL_TRY_VOID(CheckPositive(a));
  VEIL_TRY_VOID(CheckPositive(b));
  return Ok();
}

TEST(ResultTest, HoldsValueOrErrno) {
  EXPECT_THAT(Half(4), IsOkAndHolds(2));
  Result<int> r = Half(3);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_STREQ(r.error().message(), "odd");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(ResultTest, TryPropagatesTheFirstFailure) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(6), ErrnoIs(EINVAL));  // 6/2 = 3 is odd
  EXPECT_THAT(CheckBoth(1, 2), IsOk());
  EXPECT_THAT(CheckBoth(1, -2), ErrnoIs(ERANGE));
}

TEST(ResultTest, MovesOnlyValues) {
  auto make = []() -> Result<std::unique_ptr<std::string>> {
    return std::make_unique<std::string>("x");
  };
  auto use = [&]() -> Result<size_t> {
    std::unique_ptr<std::string> s = VEIL_TRY(make());
    return s->size();
  };
  EXPECT_THAT(use(), IsOkAndHolds(1u));
}

TEST(ResultDeathTest, ValueOfAFailureAborts) {
  Result<int> r = Errno(EIO);
  EXPECT_DEATH((void)r.value(), "");
}

}  // namespace
}  // namespace veil
