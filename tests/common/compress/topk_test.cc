// Tests for the Top-K selectors: the order (magnitude, then lowest index),
// k = ceil(ratio * n), and that the fast selector always equals the exact one.
#include "common/compress/topk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/compress/float_formats.h"

namespace cddp::common {
namespace {

// The obvious reference: sort all indices by (|x| desc, index asc), take k,
// sort ascending.
std::vector<uint32_t> ReferenceTopK(const std::vector<float>& x, size_t k) {
  std::vector<uint32_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0u);
  std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
    return MagnitudeKey(x[a]) > MagnitudeKey(x[b]);
  });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<uint32_t> Exact(const std::vector<float>& x, size_t k) {
  std::vector<uint32_t> out;
  ExactTopK(x, k, &out);
  return out;
}
std::vector<uint32_t> Fast(const std::vector<float>& x, size_t k) {
  std::vector<uint32_t> out;
  FastTopK(x, k, &out);
  return out;
}

TEST(TopKCountTest, CeilClampedToOneAndN) {
  EXPECT_EQ(TopKCount(0, 0.5), 0u);
  EXPECT_EQ(TopKCount(1000, 0.01), 10u);
  EXPECT_EQ(TopKCount(1001, 0.01), 11u);  // ceil(10.01)
  EXPECT_EQ(TopKCount(10, 0.0001), 1u);   // at least 1
  EXPECT_EQ(TopKCount(10, 1.0), 10u);
  EXPECT_EQ(TopKCount(10, 5.0), 10u);  // at most n
  EXPECT_EQ(TopKCount(25'600'000, 0.001), 25'600u);
}

TEST(TopKTest, SelectsLargestMagnitudes) {
  const std::vector<float> x = {0.1f, -5.0f, 3.0f, 0.0f, 4.0f, -0.2f};
  EXPECT_EQ(Exact(x, 3), (std::vector<uint32_t>{1, 2, 4}));
  EXPECT_EQ(Fast(x, 3), (std::vector<uint32_t>{1, 2, 4}));
}

TEST(TopKTest, NegativeValuesCountByMagnitude) {
  const std::vector<float> x = {-9.0f, 1.0f, -8.0f, 2.0f};
  EXPECT_EQ(Exact(x, 2), (std::vector<uint32_t>{0, 2}));
}

TEST(TopKTest, ZeroTensorTakesLowestIndices) {
  const std::vector<float> x(100, 0.0f);
  EXPECT_EQ(Exact(x, 3), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(Fast(x, 3), (std::vector<uint32_t>{0, 1, 2}));
}

TEST(TopKTest, AllEqualMagnitudesTieToLowestIndex) {
  std::vector<float> x(50'000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2) ? 1.5f : -1.5f;
  std::vector<uint32_t> want(500);
  std::iota(want.begin(), want.end(), 0u);
  EXPECT_EQ(Exact(x, 500), want);
  EXPECT_EQ(Fast(x, 500), want);
}

TEST(TopKTest, SingleElement) {
  const std::vector<float> x = {-2.0f};
  EXPECT_EQ(Exact(x, 1), (std::vector<uint32_t>{0}));
  EXPECT_EQ(Fast(x, 1), (std::vector<uint32_t>{0}));
}

TEST(TopKTest, KEqualsNSelectsEverything) {
  const std::vector<float> x = {3, 1, 2};
  EXPECT_EQ(Exact(x, 3), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(Fast(x, 3), (std::vector<uint32_t>{0, 1, 2}));
}

TEST(TopKTest, KZeroSelectsNothing) {
  const std::vector<float> x = {3, 1, 2};
  EXPECT_TRUE(Exact(x, 0).empty());
}

TEST(TopKTest, PositiveAndNegativeZeroTie) {
  const std::vector<float> x = {-0.0f, 0.0f, -0.0f};
  EXPECT_EQ(Exact(x, 2), (std::vector<uint32_t>{0, 1}));
}

TEST(TopKTest, NanRanksAboveInfinityDeterministically) {
  const std::vector<float> x = {1.0f, INFINITY, NAN, -2.0f};
  EXPECT_EQ(Exact(x, 1), (std::vector<uint32_t>{2}));
  EXPECT_EQ(Exact(x, 2), (std::vector<uint32_t>{1, 2}));
}

// Random sizes 1..10^6 and ratios 1e-4..1, several distributions: fast ==
// exact == reference (the reference only where it is cheap enough).
TEST(TopKTest, RandomSizesAndRatiosAgreeWithReference) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> log_n(0.0, 6.0);
  std::uniform_real_distribution<double> log_ratio(-4.0, 0.0);
  for (int trial = 0; trial < 60; ++trial) {
    const size_t n = std::max<size_t>(1, std::pow(10.0, log_n(rng)));
    const double ratio = std::pow(10.0, log_ratio(rng));
    const size_t k = TopKCount(n, ratio);
    std::vector<float> x(n);
    switch (trial % 4) {
      case 0: {  // gaussian
        std::normal_distribution<float> d(0.0f, 1.0f);
        for (auto& v : x) v = d(rng);
        break;
      }
      case 1: {  // heavy-tailed, gradient-like
        std::cauchy_distribution<float> d(0.0f, 1e-3f);
        for (auto& v : x) v = d(rng);
        break;
      }
      case 2: {  // few distinct values: many ties
        std::uniform_int_distribution<int> d(-3, 3);
        for (auto& v : x) v = static_cast<float>(d(rng)) * 0.5f;
        break;
      }
      default: {  // mostly zero with sparse spikes
        std::bernoulli_distribution spike(0.001);
        std::normal_distribution<float> d(0.0f, 10.0f);
        for (auto& v : x) v = spike(rng) ? d(rng) : 0.0f;
      }
    }
    SCOPED_TRACE(testing::Message()
                 << "n=" << n << " k=" << k << " dist=" << trial % 4);
    const auto exact = Exact(x, k);
    ASSERT_EQ(exact.size(), k);
    ASSERT_TRUE(std::is_sorted(exact.begin(), exact.end()));
    EXPECT_EQ(Fast(x, k), exact);
    if (n <= 200'000) {
      EXPECT_EQ(ReferenceTopK(x, k), exact);
    }
  }
}

TEST(TopKTest, CollectCandidatesFindsEveryKeyAtOrAboveThreshold) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (size_t n : {0u, 1u, 3u, 15u, 16u, 17u, 4095u, 4096u, 4097u, 100'003u}) {
    std::vector<float> x(n);
    for (auto& v : x) v = d(rng);
    const uint32_t t = MagnitudeKey(1.5f);
    Candidates c;
    CollectCandidates(x, t, &c);
    std::vector<uint32_t> want;
    for (size_t i = 0; i < n; ++i) {
      if (MagnitudeKey(x[i]) >= t) want.push_back(static_cast<uint32_t>(i));
    }
    EXPECT_EQ(c.index, want) << "n=" << n;
    for (size_t j = 0; j < c.size(); ++j) EXPECT_EQ(c.value[j], x[c.index[j]]);
  }
}

}  // namespace
}  // namespace cddp::common
