// Tests for the push digest's hash (common/wire/bytes_digest.h): it changes
// with any one bit, with the length, and with the differences a gradient
// is likely to have (two signs flipped, two values swapped), at every
// position of the 32-byte blocks and of the tail; and the fused finite
// check agrees with AllFiniteFp32 and with BytesDigest.
#include "common/wire/bytes_digest.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "common/wire/wire_codec.h"

namespace cddp::common {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Lengths around the 32-byte block and the 8-byte word.
constexpr size_t kLengths[] = {0, 1, 7, 8, 31, 32, 33, 63, 64, 100, 1027};

TEST(BytesDigestTest, EveryBitFlipChangesIt) {
  for (size_t n : kLengths) {
    const std::string s = RandomBytes(n, n);
    std::set<uint64_t> seen = {BytesDigest(s)};
    for (size_t bit = 0; bit < 8 * n; ++bit) {
      std::string t = s;
      t[bit / 8] = static_cast<char>(t[bit / 8] ^ (1 << (bit % 8)));
      EXPECT_TRUE(seen.insert(BytesDigest(t)).second) << n << " " << bit;
    }
  }
}

TEST(BytesDigestTest, LengthAndZeroPaddingChangeIt) {
  std::set<uint64_t> seen;
  for (size_t n = 0; n < 200; ++n) {
    EXPECT_TRUE(seen.insert(BytesDigest(std::string(n, '\0'))).second) << n;
  }
}

TEST(BytesDigestTest, TwoSignsFlippedOrTwoValuesSwappedChangeIt) {
  // 67 floats: 8 blocks and a tail of three.
  const std::string s = RandomBytes(67 * 4, 3);
  const uint64_t d = BytesDigest(s);
  for (size_t i = 0; i < 67; ++i) {
    for (size_t j = i + 1; j < 67; ++j) {
      std::string flipped = s;
      flipped[4 * i + 3] = static_cast<char>(flipped[4 * i + 3] ^ 0x80);
      flipped[4 * j + 3] = static_cast<char>(flipped[4 * j + 3] ^ 0x80);
      EXPECT_NE(BytesDigest(flipped), d) << i << " " << j;
      std::string swapped = s;
      for (int b = 0; b < 4; ++b)
        std::swap(swapped[4 * i + b], swapped[4 * j + b]);
      EXPECT_NE(BytesDigest(swapped), d) << i << " " << j;
    }
  }
}

TEST(BytesDigestTest, FusedFiniteCheckAgreesWithBoth) {
  const float bad[] = {std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity(),
                       std::numeric_limits<float>::quiet_NaN()};
  for (size_t count : {1u, 7u, 8u, 9u, 67u}) {
    std::string s = RandomBytes(4 * count, count);
    for (size_t k = 0; k < count; ++k) {  // finite: random sign and mantissa
      const float v = static_cast<float>(k) * 0.5f - 3.0f;
      std::memcpy(s.data() + 4 * k, &v, 4);
    }
    uint64_t digest = 0;
    EXPECT_TRUE(AllFiniteFp32WithDigest(s, &digest));
    EXPECT_EQ(digest, BytesDigest(s));
    for (size_t k = 0; k < count; ++k) {
      for (float b : bad) {
        std::string t = s;
        std::memcpy(t.data() + 4 * k, &b, 4);
        EXPECT_FALSE(AllFiniteFp32WithDigest(t, &digest)) << count << " " << k;
        EXPECT_EQ(AllFiniteFp32(t), false);
        EXPECT_EQ(digest, BytesDigest(t));
      }
    }
  }
}

}  // namespace
}  // namespace cddp::common
