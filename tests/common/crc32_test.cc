// Crc32: the standard check value, continuation, and piecing (what spans
// over 4 GiB go through) giving the same result as one call.
#include "common/crc32.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cddp::common {
namespace {

TEST(Crc32Test, StandardCheckValue) {
  EXPECT_EQ(Crc32(std::string_view("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32(std::string_view()), 0u);
}

TEST(Crc32Test, ContinuesFromAPreviousCrc) {
  EXPECT_EQ(Crc32(std::string_view("6789"), Crc32(std::string_view("12345"))),
            0xCBF43926u);
}

TEST(Crc32Test, PiecesGiveTheSameCrcAsOneCall) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 31));
  const auto bytes = std::as_bytes(std::span<const char>(data));
  const uint32_t whole = Crc32(bytes);
  for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{999},
                       size_t{1000}, size_t{4096}}) {
    EXPECT_EQ(internal::Crc32InPieces(bytes, 0, piece), whole) << piece;
  }
}

TEST(Crc32Test, FloatsAsBytes) {
  const std::vector<float> v = {1.0f, -2.5f, 0.0f};
  const auto bytes = std::as_bytes(std::span<const float>(v));
  EXPECT_EQ(Crc32(bytes),
            Crc32(std::string_view(reinterpret_cast<const char*>(v.data()),
                                   v.size() * sizeof(float))));
}

}  // namespace
}  // namespace cddp::common
