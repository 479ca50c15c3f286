// Top-K selectors; see topk.h for the order and the exactness argument.
#include "common/compress/topk.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>

#include "common/check.h"
#include "common/compress/float_formats.h"

namespace cddp::common {
namespace {

// Finds the key T of the k-th element (1-based) in descending key order from
// a histogram, and how many elements lie strictly above T's bucket.
template <size_t kBuckets>
size_t BucketOfKth(const std::array<uint32_t, kBuckets>& hist, size_t k,
                   size_t* above) {
  size_t acc = 0;
  for (size_t b = kBuckets; b-- > 0;) {
    if (acc + hist[b] >= k) {
      *above = acc;
      return b;
    }
    acc += hist[b];
  }
  CDDP_CHECK(false && "histogram holds fewer than k elements");
  return 0;
}

}  // namespace

size_t TopKCount(size_t n, double ratio) {
  if (n == 0) return 0;
  ratio = std::clamp(ratio, 0.0, 1.0);
  const double k = std::ceil(ratio * static_cast<double>(n));
  return std::clamp<size_t>(static_cast<size_t>(k), 1, n);
}

void ExactTopK(std::span<const float> x, size_t k, std::vector<uint32_t>* out) {
  CDDP_CHECK(k <= x.size());
  out->clear();
  if (k == 0) return;
  out->reserve(k);
  const size_t n = x.size();
  if (k == n) {
    out->resize(n);
    for (size_t i = 0; i < n; ++i) (*out)[i] = static_cast<uint32_t>(i);
    return;
  }
  // Pass 1: high 15 bits of the key (the sign bit is always 0).
  auto high = std::make_unique<std::array<uint32_t, 1 << 15>>();
  high->fill(0);
  for (float v : x) ++(*high)[MagnitudeKey(v) >> 16];
  size_t above = 0;
  const uint32_t hb = static_cast<uint32_t>(BucketOfKth(*high, k, &above));
  // Pass 2: low 16 bits within that bucket.
  auto low = std::make_unique<std::array<uint32_t, 1 << 16>>();
  low->fill(0);
  for (float v : x) {
    const uint32_t key = MagnitudeKey(v);
    if ((key >> 16) == hb) ++(*low)[key & 0xffffu];
  }
  size_t above_in_bucket = 0;
  const uint32_t lb =
      static_cast<uint32_t>(BucketOfKth(*low, k - above, &above_in_bucket));
  const uint32_t threshold = (hb << 16) | lb;
  size_t ties = k - above - above_in_bucket;  // taken at `threshold`
  // Pass 3: collect in index order, so the output is ascending and the ties
  // that make it are the lowest-indexed ones.
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = MagnitudeKey(x[i]);
    if (key > threshold || (key == threshold && ties > 0 && ties--)) {
      out->push_back(static_cast<uint32_t>(i));
    }
  }
  CDDP_DCHECK(out->size() == k);
}

uint32_t ThresholdFromSample(std::vector<uint32_t>& sample_keys, size_t n,
                             size_t k) {
  const size_t m = sample_keys.size();
  if (m == 0) return 0;
  const size_t rank = SampleThresholdRank(m, n, k);
  if (rank >= m) return 0;
  std::nth_element(sample_keys.begin(), sample_keys.begin() + rank,
                   sample_keys.end(), std::greater<>());
  return sample_keys[rank];
}

void SelectFromCandidates(const Candidates& candidates, size_t k,
                          std::vector<uint32_t>* positions) {
  CDDP_CHECK(candidates.size() >= k);
  positions->clear();
  if (k == 0) return;
  positions->resize(k);
  const size_t c = candidates.size();
  const float* values = candidates.value.data();
  // Radix select on the candidates' keys: a histogram of the high 16 bits
  // finds the bucket holding the k-th key, then an exact select among the
  // (few) keys in that bucket finds the key itself. Cheaper than
  // nth_element over all candidates, which are ~1.2 k of them.
  std::vector<uint32_t> hist(1 << 15, 0);
  for (size_t i = 0; i < c; ++i) ++hist[MagnitudeKey(values[i]) >> 16];
  size_t above = 0;
  uint32_t bucket = static_cast<uint32_t>(hist.size());
  while (above + hist[bucket - 1] < k) above += hist[--bucket];
  --bucket;
  std::vector<uint32_t> in_bucket;
  in_bucket.reserve(hist[bucket]);
  for (size_t i = 0; i < c; ++i) {
    const uint32_t key = MagnitudeKey(values[i]);
    if ((key >> 16) == bucket) in_bucket.push_back(key);
  }
  const size_t need = k - above;  // taken from the bucket, >= 1
  std::nth_element(in_bucket.begin(), in_bucket.begin() + (need - 1),
                   in_bucket.end(), std::greater<>());
  const uint32_t threshold = in_bucket[need - 1];
  size_t ties = need;
  for (uint32_t key : in_bucket) ties -= key > threshold;
  uint32_t* out = positions->data();
  for (size_t i = 0; i < c; ++i) {
    const uint32_t key = MagnitudeKey(values[i]);
    if (key > threshold || (key == threshold && ties > 0 && ties--)) {
      *out++ = static_cast<uint32_t>(i);
    }
  }
  CDDP_DCHECK(out == positions->data() + k);
}

void FastTopK(std::span<const float> x, size_t k, std::vector<uint32_t>* out) {
  CDDP_CHECK(k <= x.size());
  const size_t n = x.size();
  const size_t m = SampleSize(n, k);
  uint32_t threshold = 0;
  if (m > 0) {
    std::vector<uint32_t> sample(m);
    for (size_t j = 0; j < m; ++j) {
      sample[j] = MagnitudeKey(x[SamplePosition(j, m, n)]);
    }
    threshold = ThresholdFromSample(sample, n, k);
  }
  if (threshold == 0) return ExactTopK(x, k, out);
  Candidates candidates;
  candidates.index.reserve(2 * k);
  candidates.value.reserve(2 * k);
  CollectCandidates(x, threshold, &candidates);
  if (candidates.size() < k) return ExactTopK(x, k, out);
  SelectFromCandidates(candidates, k, out);
  for (uint32_t& p : *out) p = candidates.index[p];
}

}  // namespace cddp::common
