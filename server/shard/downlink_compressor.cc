// Implementation of downlink_compressor.h.
#include "server/shard/downlink_compressor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

// Eight floats as one value (GCC/Clang vector extension): two SSE
// registers on baseline x86-64, one AVX register where the target has it.
typedef float Float8 __attribute__((vector_size(32)));

// d = master - copy over one block into `d`; returns the sum of squares.
// Eight lanes at a time, each with its own running sum.
double Differences(const float* master, const float* copy, size_t n, float* d) {
  Float8 sums = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    Float8 m, c;
    std::memcpy(&m, master + i, sizeof(m));
    std::memcpy(&c, copy + i, sizeof(c));
    const Float8 diff = m - c;
    std::memcpy(d + i, &diff, sizeof(diff));
    sums += diff * diff;
  }
  double sq = 0;
  for (; i < n; ++i) {
    d[i] = master[i] - copy[i];
    sq += double{d[i]} * d[i];
  }
  for (int j = 0; j < 8; ++j) sq += sums[j];
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
  const size_t chosen = positions_.size();
  out->indices.reserve(chosen);
  out->values.reserve(chosen);
  // The copy's entries are scattered over the shard: prefetch them well
  // ahead so the misses overlap instead of being paid one at a time.
  constexpr size_t kAhead = 48;
  for (size_t j = 0; j < chosen; ++j) {
    if (j + kAhead < chosen) {
      __builtin_prefetch(&copy[candidates_.index[positions_[j + kAhead]]], 1);
    }
    const uint32_t i = candidates_.index[positions_[j]];
    const float d = candidates_.value[positions_[j]];
    const float sent = SaturatingRound(d, value_type);
    // Nothing to send (an unchanged entry picked to fill k), or nothing
    // that could be (the master is not finite there).
    if (sent == 0.0f || !std::isfinite(sent)) continue;
    copy[i] += sent;
    // What stays unsent, for the norm (d - sent up to one rounding).
    const double left = double{d} - sent;
    round.residual_sq_norm += left * left - double{d} * d;
    out->indices.push_back(i);
    out->values.push_back(sent);
  }
  round.residual_sq_norm = std::max(0.0, round.residual_sq_norm);
  round.sent = out->size();
  return round;
}

}  // namespace cddp::server
