// The sampling rule of FastTopK and the fast error-feedback step: which
// elements the threshold is estimated from, and how far down the sorted
// sample it sits. Shared by the CPU core (topk.cc, error_feedback.cc) and
// the CUDA kernels (common/cuda/), so both estimate the same threshold.
// Header only; SamplePosition is CDDP_HOST_DEVICE.
#ifndef CDDP_COMMON_COMPRESS_TOPK_SAMPLE_H_
#define CDDP_COMMON_COMPRESS_TOPK_SAMPLE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "common/compress/host_device.h"

namespace cddp::common {

// Below this many elements, sampling costs more than it saves.
constexpr size_t kMinSampledSize = 1 << 14;
constexpr size_t kMaxSampleSize = 1 << 15;
constexpr size_t kSampleRun = 64;  // consecutive elements per sampled run

// The sample size m for selecting k of n: a multiple of kSampleRun, at most
// kMaxSampleSize and n / 16; 0 (use the exact selector) when n is small, k
// is 0, or k is too large a fraction of n for sampling to pay.
inline size_t SampleSize(size_t n, size_t k) {
  if (n < kMinSampledSize || k == 0) return 0;
  const size_t m = std::min(kMaxSampleSize, n / 16) / kSampleRun * kSampleRun;
  // With expected hits m*k/n in the sample, sampling stops paying once the
  // threshold would have to sit below a sizeable fraction of the sample.
  if (static_cast<double>(k) / static_cast<double>(n) > 0.2) return 0;
  return m;
}

// Position in [0, n) of sample element j < m (m = SampleSize(n, k) > 0):
// runs of kSampleRun consecutive elements (whole cache lines, so the sample
// costs few memory round trips), one run per stride of the array, with a
// deterministic jitter so regular structure is not aliased.
CDDP_HOST_DEVICE inline size_t SamplePosition(size_t j, size_t m, size_t n) {
  const size_t runs = m / kSampleRun;
  const size_t run = j / kSampleRun;
  const size_t stride = n / runs;
  const size_t jitter = (run * 2654435761u) % (stride - kSampleRun + 1);
  return run * stride + jitter + j % kSampleRun;
}

// The threshold is the sample key of this 0-based rank in descending order:
// the expected sample hits above the true threshold, plus ~3.5 standard
// deviations, so that the candidate set covers the top k almost always.
// A rank >= m means sampling won't pay: use the exact selector.
inline size_t SampleThresholdRank(size_t m, size_t n, size_t k) {
  const double expected =
      static_cast<double>(m) * static_cast<double>(k) / static_cast<double>(n);
  return static_cast<size_t>(
      std::ceil(expected + 3.5 * std::sqrt(expected) + 2));
}

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_TOPK_SAMPLE_H_
