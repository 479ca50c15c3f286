// The one streaming pass of the compression core: optionally accumulate a
// gradient into the residual, and collect the elements whose magnitude key
// reaches a threshold. Vectorised with AVX2 when the CPU has it, SSE2 (the
// x86-64 baseline) otherwise, scalar on other architectures; all variants
// give identical results.
#ifndef CDDP_COMMON_COMPRESS_CANDIDATE_KERNELS_H_
#define CDDP_COMMON_COMPRESS_CANDIDATE_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/compress/topk.h"

namespace cddp::common {

// A threshold no key reaches: the pass collects nothing.
constexpr uint32_t kCollectNothing = 0x80000000u;

// For every i: residual[i] += gradient[i], unless the sum is not finite (NaN
// or +-inf): such elements keep their old value, so the residual never holds
// a non-finite value. If MagnitudeKey(residual[i]) >= threshold, appends
// (i, residual[i]) to `out`. Returns the first i whose sum was not finite, or
// residual.size() if none. Requires equal sizes.
size_t AccumulateAndCollect(std::span<float> residual,
                            std::span<const float> gradient, uint32_t threshold,
                            Candidates* out);

// Which instruction set the kernels use on this CPU ("avx2", "sse2",
// "scalar"), for benchmark reports.
const char* CandidateKernelIsa();

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_CANDIDATE_KERNELS_H_
