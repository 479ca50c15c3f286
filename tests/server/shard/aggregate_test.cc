// SumInWorkerOrder equals scatter-adding each worker, in worker order, into
// zeros, bit for bit, for one, two and many workers, with sparse pushes,
// pushes of the whole range (summed without merging), and a mix.
#include "server/shard/aggregate.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace cddp::server {
namespace {

// Worker 0's density, then every other worker's.
struct Densities {
  double first, others;
};

class AggregateTest : public ::testing::TestWithParam<Densities> {};

INSTANTIATE_TEST_SUITE_P(SparseWholeAndMixed, AggregateTest,
                         ::testing::Values(Densities{0.3, 0.3},
                                           Densities{1.0, 1.0},
                                           Densities{1.0, 0.3},
                                           Densities{0.3, 1.0}));

TEST_P(AggregateTest, MatchesScatterAddInWorkerOrder) {
  constexpr uint32_t kN = 5000;
  for (size_t workers : {1, 2, 3, 5}) {
    SCOPED_TRACE(workers);
    std::vector<common::SparseSelection> pushes;
    std::vector<const common::SparseSelection*> ptrs;
    for (size_t w = 0; w < workers; ++w) {
      pushes.push_back(testing::RandomSelection(
          w + 17, kN, w == 0 ? GetParam().first : GetParam().others));
    }
    pushes[0].values[0] = -0.0f;  // 0.0f + -0.0f is +0.0f on both sides
    for (const auto& p : pushes) ptrs.push_back(&p);
    common::SparseSelection sum;
    SumInWorkerOrder(ptrs, &sum);
    std::vector<float> dense(kN, 0.0f);
    std::vector<bool> hit(kN, false);
    for (const auto& p : pushes) {
      for (size_t k = 0; k < p.size(); ++k) {
        dense[p.indices[k]] += p.values[k];
        hit[p.indices[k]] = true;
      }
    }
    size_t k = 0;
    for (uint32_t i = 0; i < kN; ++i) {
      if (!hit[i]) continue;
      ASSERT_LT(k, sum.size());
      ASSERT_EQ(sum.indices[k], i);
      ASSERT_EQ(std::memcmp(&sum.values[k], &dense[i], sizeof(float)), 0);
      ++k;
    }
    EXPECT_EQ(k, sum.size());
  }
}

}  // namespace
}  // namespace cddp::server
