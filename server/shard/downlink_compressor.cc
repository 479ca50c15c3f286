// Implementation of downlink_compressor.h.
#include "server/shard/downlink_compressor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/check.h"
#include "common/compress/float_formats.h"
#include "common/compress/topk_sample.h"

namespace cddp::server {
namespace {

// Elements of d computed at a time on the fast path: small enough to stay
// in L1 between being written and being scanned for candidates.
constexpr size_t kBlock = 2048;

// d = master - copy over one block into `d`; returns the sum of squares.
// Eight independent float sums, so the loop vectorises.
double Differences(const float* master, const float* copy, size_t n, float* d) {
  float sums[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) {
      d[i + j] = master[i + j] - copy[i + j];
      sums[j] += d[i + j] * d[i + j];
    }
  }
  double sq = 0;
  for (; i < n; ++i) {
    d[i] = master[i] - copy[i];
    sq += double{d[i]} * d[i];
  }
  for (float s : sums) sq += s;
  return sq;
}

}  // namespace

float SaturatingRound(float v, common::ValueType type) {
  const float r = common::RoundToValueType(v, type);
  if (std::isfinite(r) || !std::isfinite(v)) return r;
  float largest = std::numeric_limits<float>::max();
  if (type == common::ValueType::kFp16) largest = 65504.0f;
  if (type == common::ValueType::kBf16) {
    largest = common::Bf16ToFloat(0x7f7f);  // 3.3895e38
  }
  return v < 0 ? -largest : largest;
}

double DownlinkCompressor::CollectDifferences(std::span<const float> master,
                                              std::span<const float> copy,
                                              uint32_t threshold) {
  const size_t n = master.size();
  scratch_.resize(kBlock);
  candidates_.clear();
  double sq = 0;
  for (size_t begin = 0; begin < n; begin += kBlock) {
    const size_t len = std::min(kBlock, n - begin);
    sq += Differences(master.data() + begin, copy.data() + begin, len,
                      scratch_.data());
    const size_t before = candidates_.size();
    common::CollectCandidates(std::span<const float>(scratch_.data(), len),
                              threshold, &candidates_);
    for (size_t c = before; c < candidates_.size(); ++c) {
      candidates_.index[c] += static_cast<uint32_t>(begin);
    }
  }
  return sq;
}

DownlinkRound DownlinkCompressor::Select(std::span<const float> master,
                                         std::span<float> copy, size_t k,
                                         common::ValueType value_type,
                                         common::SparseSelection* out) {
  const size_t n = master.size();
  CDDP_CHECK(copy.size() == n && k <= n);
  out->clear();
  DownlinkRound round;
  // Every nonzero difference is a candidate, unless a sample of d says a
  // higher threshold still leaves k of them (with high probability).
  constexpr uint32_t kAllNonzero = 1;
  uint32_t threshold = kAllNonzero;
  if (const size_t m = common::SampleSize(n, k);
      m > 0 && common::SampleThresholdRank(m, n, k) < m) {
    sample_.resize(m);
    for (size_t j = 0; j < m; ++j) {
      const size_t pos = common::SamplePosition(j, m, n);
      sample_[j] = common::MagnitudeKey(master[pos] - copy[pos]);
    }
    threshold =
        std::max(kAllNonzero, common::ThresholdFromSample(sample_, n, k));
  }
  round.residual_sq_norm = CollectDifferences(master, copy, threshold);
  if (candidates_.size() < k && threshold != kAllNonzero) {
    // The sample overshot: collect again with every nonzero difference.
    round.residual_sq_norm = CollectDifferences(master, copy, kAllNonzero);
  }
  if (candidates_.size() >= k) {
    common::SelectFromCandidates(candidates_, k, &positions_);
  } else {
    // Fewer nonzero differences than k: send them all.
    positions_.resize(candidates_.size());
    std::iota(positions_.begin(), positions_.end(), 0u);
  }
  out->indices.reserve(k);
  out->values.reserve(k);
  for (uint32_t p : positions_) {
    const uint32_t i = candidates_.index[p];
    const float d = candidates_.value[p];
    const float sent = SaturatingRound(d, value_type);
    // Nothing to send (an unchanged entry picked to fill k), or nothing
    // that could be (the master is not finite there).
    if (sent == 0.0f || !std::isfinite(sent)) continue;
    copy[i] += sent;
    const float left = master[i] - copy[i];
    round.residual_sq_norm += double{left} * left - double{d} * d;
    out->indices.push_back(i);
    out->values.push_back(sent);
  }
  round.residual_sq_norm = std::max(0.0, round.residual_sq_norm);
  round.sent = out->size();
  return round;
}

}  // namespace cddp::server
