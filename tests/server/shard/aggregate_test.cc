// SumInWorkerOrder equals scatter-adding each worker, in worker order, into
// zeros, bit for bit, for one, two and many workers, with sparse pushes,
// pushes of the whole range (summed without merging), and a mix. SumRound
// equals it whatever earlier round its running sum holds, and tells a round
// whose averaged gradient is beyond its bound anywhere (FirstBeyondBound
// says where), with whole-range blocks and parts of every size.
#include "server/shard/aggregate.h"

#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/shard/parallel_for.h"
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

// Whole ranges of n = 1000 and of 500 after rounds whose union had 500
// indices (not 0..499), 1000, or none.
TEST(SumRoundTest, EqualsSumInWorkerOrderAfterAnyEarlierRound) {
  const auto whole = [](uint64_t seed, uint32_t n) {
    return testing::RandomSelection(seed, n, 1.0);
  };
  common::SparseSelection upper;  // 500..999
  for (uint32_t i = 500; i < 1000; ++i) {
    upper.indices.push_back(i);
    upper.values.push_back(1.0f);
  }
  const std::vector<std::vector<common::SparseSelection>> rounds = {
      {whole(1, 1000), whole(2, 1000)},
      {upper, upper},
      {whole(3, 500), whole(4, 500)},
      {whole(5, 1000)},
      {whole(6, 500)},
      {whole(7, 1000), upper}};
  common::SparseSelection running;
  for (size_t r = 0; r < rounds.size(); ++r) {
    std::vector<const common::SparseSelection*> ptrs;
    for (const auto& p : rounds[r]) ptrs.push_back(&p);
    EXPECT_TRUE(SumRound(ptrs, &running, AverageBound{1.0f, 1e30f})) << r;
    common::SparseSelection fresh;
    SumInWorkerOrder(ptrs, &fresh);
    EXPECT_EQ(running.indices, fresh.indices) << r;
    ASSERT_EQ(running.values.size(), fresh.values.size()) << r;
    EXPECT_EQ(std::memcmp(running.values.data(), fresh.values.data(),
                          fresh.values.size() * sizeof(float)),
              0)
        << r;
  }
}

// Whole-range pushes of `n` entries from two workers, worker 1's entry
// `at` set to `bad`; every sum is within 10 at scale 0.5 otherwise.
struct BoundCase {
  uint32_t n;
  uint32_t at;
  float bad;
  int threads;
};

class SumRoundBoundTest : public ::testing::TestWithParam<BoundCase> {};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr uint32_t kTwoParts = 2 * kMinEntriesPerPart + 7;

INSTANTIATE_TEST_SUITE_P(
    OffendersAnywhere, SumRoundBoundTest,
    ::testing::Values(BoundCase{1, 0, kNaN, 1}, BoundCase{5000, 0, kInf, 1},
                      BoundCase{5000, 2047, -kInf, 1},
                      BoundCase{5000, 2048, 20.01f, 1},
                      BoundCase{5000, 4999, -20.01f, 1},
                      BoundCase{kTwoParts, kMinEntriesPerPart + 1, kNaN, 2},
                      BoundCase{kTwoParts, kTwoParts - 1, 1e30f, 2}),
    [](const ::testing::TestParamInfo<BoundCase>& info) {
      return absl::StrCat("n", info.param.n, "_at", info.param.at, "_threads",
                          info.param.threads);
    });

TEST_P(SumRoundBoundTest, RefusesTheRoundAndFindsTheFirstOffender) {
  const BoundCase c = GetParam();
  const AverageBound bound{0.5f, 10.0f};
  std::vector<common::SparseSelection> pushes(2);
  for (auto& p : pushes) {
    p.indices.resize(c.n);
    std::iota(p.indices.begin(), p.indices.end(), 0u);
    p.values.assign(c.n, 10.0f);  // sums 20: |20 * 0.5| is the bound itself
  }
  const std::vector<const common::SparseSelection*> ptrs = {&pushes[0],
                                                            &pushes[1]};
  common::SparseSelection sum;
  EXPECT_TRUE(SumRound(ptrs, &sum, bound, c.threads));
  EXPECT_EQ(FirstBeyondBound(sum.values, bound), c.n);
  pushes[1].values[c.at] = c.bad - 10.0f;
  EXPECT_FALSE(SumRound(ptrs, &sum, bound, c.threads));
  EXPECT_EQ(FirstBeyondBound(sum.values, bound), c.at);
  // Worker 0 holding entry `at` alone: the merge, then one checking pass.
  pushes[0].indices = {c.at};
  pushes[0].values = {10.0f};
  EXPECT_FALSE(SumRound(ptrs, &sum, bound, c.threads));
  EXPECT_EQ(FirstBeyondBound(sum.values, bound), c.at);
}

}  // namespace
}  // namespace cddp::server
