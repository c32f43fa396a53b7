// SPDX-License-Identifier: Apache-2.0
#include "base/ref.h"

#include <gtest/gtest.h>

namespace veil {
namespace {

class Counted final : public RefCounted<Counted> {
 public:
  explicit Counted(int* destroyed) : destroyed_(destroyed) {}

 private:
  friend class RefCounted<Counted>;
  ~Counted() { ++*destroyed_; }
  int* destroyed_;
};

TEST(RefTest, DestroysWithTheLastReference) {
  int destroyed = 0;
  {
    Ref<Counted> a = MakeRef<Counted>(&destroyed);
    {
      Ref<Counted> b = a;
      RefPtr<Counted> c(b);
      EXPECT_EQ(a->RefCountForTesting(), 3u);
    }
    EXPECT_EQ(a->RefCountForTesting(), 1u);
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 1);
}

TEST(RefTest, TryAddRefFailsOnlyForDeadObjects) {
  int destroyed = 0;
  Ref<Counted> a = MakeRef<Counted>(&destroyed);
  EXPECT_TRUE(a->TryAddRef());
  a->Release();
  EXPECT_EQ(a->RefCountForTesting(), 1u);
}

TEST(RefTest, MovesWithoutCounting) {
  int destroyed = 0;
  RefPtr<Counted> p(MakeRef<Counted>(&destroyed));
  RefPtr<Counted> q = std::move(p);
  EXPECT_FALSE(p);
  EXPECT_EQ(q->RefCountForTesting(), 1u);
  q = nullptr;
  EXPECT_EQ(destroyed, 1);
}

}  // namespace
}  // namespace veil
