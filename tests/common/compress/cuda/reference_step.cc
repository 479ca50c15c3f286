#include "tests/common/compress/cuda/reference_step.h"

#include "common/compress/candidate_kernels.h"
#include "common/compress/float_formats.h"
#include "common/compress/topk.h"

namespace cddp::cuda::testing {

ReferenceResult ReferenceStep(std::span<float> r, std::span<const float> g,
                              size_t k, common::ValueType value_type,
                              uint32_t base) {
  ReferenceResult result;
  common::Candidates none;
  const size_t n = r.size();
  const size_t bad =
      common::AccumulateAndCollect(r, g, common::kCollectNothing, &none);
  if (bad != n) {
    result.first_bad = static_cast<uint32_t>(bad);
    result.residual_at_bad = r[bad];  // never overwritten by a bad sum
    result.gradient_at_bad = g[bad];
    for (size_t i = 0; i < n; ++i) {
      if (common::MagnitudeKey(g[i]) < common::kInfinityKey) r[i] -= g[i];
    }
    return result;
  }
  std::vector<uint32_t> selected;
  common::ExactTopK(r, k, &selected);
  for (uint32_t i : selected) {
    const float v = r[i];
    const float sent = common::RoundToValueType(v, value_type);
    r[i] = v - sent;
    result.indices.push_back(base + i);
    result.values.push_back(sent);
  }
  return result;
}

}  // namespace cddp::cuda::testing
