// The kernel tests' CPU oracle: one error-feedback step exactly as
// common::ErrorFeedback::Compress does it, built from the absl-free CPU core
// (AccumulateAndCollect, ExactTopK, RoundToValueType), so the kernel tests
// need no absl (scripts/gpu_check.sh). device_error_feedback_test checks it
// against ErrorFeedback itself.
#ifndef CDDP_TESTS_COMMON_COMPRESS_CUDA_REFERENCE_STEP_H_
#define CDDP_TESTS_COMMON_COMPRESS_CUDA_REFERENCE_STEP_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/compress/compression_types.h"

namespace cddp::cuda::testing {

struct ReferenceResult {
  std::vector<uint32_t> indices;
  std::vector<float> values;
  // As cuda::StepReport: 0xffffffff unless r + g held NaN/inf.
  uint32_t first_bad = 0xffffffffu;
  float residual_at_bad = 0.0f;
  float gradient_at_bad = 0.0f;
};

// Steps `r` in place with gradient `g` (same size) and budget k <= r.size();
// emitted indices are base + i.
ReferenceResult ReferenceStep(std::span<float> r, std::span<const float> g,
                              size_t k, common::ValueType value_type,
                              uint32_t base);

}  // namespace cddp::cuda::testing

#endif  // CDDP_TESTS_COMMON_COMPRESS_CUDA_REFERENCE_STEP_H_
