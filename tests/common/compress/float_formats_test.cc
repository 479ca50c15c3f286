// Tests for the fp16 / bf16 conversions used on the wire.
#include "common/compress/float_formats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cddp::common {
namespace {

TEST(Fp16Test, EveryHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Fp16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Fp16ToFloat(FloatToFp16(f))));
      continue;
    }
    ASSERT_EQ(FloatToFp16(f), h) << std::hex << h;
  }
}

TEST(Fp16Test, RoundsToNearestEven) {
  EXPECT_EQ(Fp16ToFloat(FloatToFp16(1.0f + 1.0f / 2048)), 1.0f);  // tie: even
  EXPECT_EQ(Fp16ToFloat(FloatToFp16(1.0f + 3.0f / 2048)),
            1.0f + 2.0f / 1024);                      // tie: up
  EXPECT_EQ(FloatToFp16(65519.0f), 0x7bffu);          // max half
  EXPECT_EQ(FloatToFp16(65520.0f), 0x7c00u);          // -> inf
  EXPECT_EQ(FloatToFp16(std::ldexp(1.0f, -25)), 0u);  // tie -> 0
  EXPECT_EQ(FloatToFp16(std::ldexp(1.5f, -25)), 1u);  // min sub
}

TEST(Bf16Test, RoundsToNearestEvenAndKeepsNan) {
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f)), 1.0f);
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f808000u)), 0x3f80u);  // tie: even
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f818000u)), 0x3f82u);  // tie: up
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(NAN))));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Bf16ToFloat(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(FloatToBf16(f), h);
    }
  }
}

}  // namespace
}  // namespace cddp::common
