// Top-K selection by magnitude over a raw float span.
//
// The selection order is: larger |x| first; among equal |x|, the lower index
// first (so -3 and +3 tie, and the earlier one wins). The top k under this
// order is unique, so every selector here returns exactly the same indices,
// always in ascending order. NaNs rank above +inf (by bit pattern), so the
// order is total and nothing is undefined; callers that must refuse NaN check
// for it (ErrorFeedback does).
//
// Two selectors, both exact (identical output for identical input):
//  * ExactTopK: radix select on the 31-bit magnitude key. Two histogram passes
//    find the k-th key, a third collects. Cost independent of the data.
//  * FastTopK: estimates a threshold from a small strided sample, collects the
//    candidates at or above it in one vectorised pass, then selects exactly
//    among the candidates (ties and trimming use the same order, so the result
//    is still exact). If the estimate overshoots and fewer than k candidates
//    pass, it falls back to ExactTopK; the result is the same, only slower.
#ifndef CDDP_COMMON_COMPRESS_TOPK_H_
#define CDDP_COMMON_COMPRESS_TOPK_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/compress/topk_sample.h"

namespace cddp::common {

// k = ceil(ratio * n), clamped to [1, n] (0 when n == 0). `ratio` is clamped to
// [0, 1]; callers validate user-facing ratios before this.
size_t TopKCount(size_t n, double ratio);

// Writes the k selected indices of `x` (ascending) to `out`, replacing its
// contents. Requires k <= x.size() and x.size() < 2^32.
void ExactTopK(std::span<const float> x, size_t k, std::vector<uint32_t>* out);
void FastTopK(std::span<const float> x, size_t k, std::vector<uint32_t>* out);

// --- Building blocks shared with ErrorFeedback (and mirrored by the CUDA
// kernels). Candidates are (index, key) pairs with ascending indices. ---

// Candidate indices and their values, ascending by index. Carrying the
// values saves a second, cache-missing visit to the array once selected.
struct Candidates {
  std::vector<uint32_t> index;
  std::vector<float> value;
  void clear() {
    index.clear();
    value.clear();
  }
  size_t size() const { return index.size(); }
};

// A magnitude-key threshold estimated from a sample (SampleSize,
// SamplePosition in topk_sample.h), such that with high probability at least
// k of the n keys are >= it, and not many more. Returns 0 (everything is a
// candidate: use ExactTopK instead) when k is too large a fraction of n for
// sampling to pay. `sample_keys[j]` must be the key of the element at
// SamplePosition(j, m, n); the vector is reordered.
uint32_t ThresholdFromSample(std::vector<uint32_t>& sample_keys, size_t n,
                             size_t k);

// Appends to `out` every (i, x[i]) with MagnitudeKey(x[i]) >= threshold.
// Vectorised (AVX2 when the CPU has it, SSE2 otherwise).
void CollectCandidates(std::span<const float> x, uint32_t threshold,
                       Candidates* out);

// Given candidates that include every element of the top k (any superset in
// ascending index order, with at least k entries), writes the positions in
// `candidates` of the exact top k (ascending, so their indices ascend too)
// to `positions`.
void SelectFromCandidates(const Candidates& candidates, size_t k,
                          std::vector<uint32_t>* positions);

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_TOPK_H_
