// Tests for SparseSelection and its dense helpers.
#include "common/compress/sparse.h"

#include <gtest/gtest.h>

#include <vector>

namespace cddp::common {
namespace {

TEST(SparseSelectionTest, AppendKeepsBothInOrderAndLeavesTheOtherAlone) {
  SparseSelection a{{1, 4}, {0.5f, -1.0f}};
  const SparseSelection b{{7, 9}, {2.0f, 3.0f}};
  a.Append(b);
  EXPECT_EQ(a.indices, (std::vector<uint32_t>{1, 4, 7, 9}));
  EXPECT_EQ(a.values, (std::vector<float>{0.5f, -1.0f, 2.0f, 3.0f}));
  EXPECT_EQ(b.size(), 2u);
  a.Append(SparseSelection{});
  EXPECT_EQ(a.size(), 4u);
}

TEST(SparseSelectionTest, DensifyScattersAndZeroesTheRest) {
  const SparseSelection s{{0, 3}, {1.5f, -2.0f}};
  EXPECT_EQ(Densify(s, 5), (std::vector<float>{1.5f, 0, 0, -2.0f, 0}));
}

}  // namespace
}  // namespace cddp::common
