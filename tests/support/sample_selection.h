// A sparse selection of exactly `n` distinct indices below `range`, chosen
// and valued (normal(0, 1)) by `seed`: for the codec tests, which need a
// given pair count (RandomSelection in test_util.h draws a density).
#ifndef CDDP_TESTS_SUPPORT_SAMPLE_SELECTION_H_
#define CDDP_TESTS_SUPPORT_SAMPLE_SELECTION_H_

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "common/compress/sparse.h"

namespace cddp::testing {

inline common::SparseSelection SampleSelection(size_t n, uint32_t range,
                                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> all(range);
  std::iota(all.begin(), all.end(), 0u);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(n);
  std::sort(all.begin(), all.end());
  common::SparseSelection s;
  s.indices = all;
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) s.values.push_back(d(rng));
  return s;
}

}  // namespace cddp::testing

#endif  // CDDP_TESTS_SUPPORT_SAMPLE_SELECTION_H_
