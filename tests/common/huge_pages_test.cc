// HugePageFloats: zeroed buffers of the asked size, 2 MiB aligned from
// 1 MiB up (where huge pages pay), cache-line aligned below.
#include "common/huge_pages.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace cddp::common {
namespace {

void ExpectZeroed(const HugePageFloats& b) {
  for (float v : b.span()) ASSERT_EQ(v, 0.0f);
}

TEST(HugePageFloatsTest, SmallBuffersAreCacheLineAlignedAndZeroed) {
  HugePageFloats b(17);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), 17u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  ExpectZeroed(b);
}

TEST(HugePageFloatsTest, LargeBuffersAreHugePageAlignedAndZeroed) {
  HugePageFloats b((size_t{1} << 20) / sizeof(float) + 1);  // just over 1 MiB
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (size_t{2} << 20), 0u);
  ExpectZeroed(b);
}

TEST(HugePageFloatsTest, AnEmptyBufferHasNoData) {
  HugePageFloats b(0);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.size(), 0u);
}

}  // namespace
}  // namespace cddp::common
