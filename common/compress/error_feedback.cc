#include "common/compress/error_feedback.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <span>

#include "absl/strings/str_cat.h"
#include "common/compress/candidate_kernels.h"
#include "common/compress/float_formats.h"
#include "common/record_file.h"
#include "common/status_macros.h"

namespace cddp::common {
namespace {

constexpr std::string_view kRecordKind = "RESD";
constexpr uint32_t kRecordVersion = 1;

}  // namespace

ErrorFeedback::ErrorFeedback(std::vector<size_t> tensor_sizes)
    : sizes_(std::move(tensor_sizes)) {
  offsets_.reserve(sizes_.size());
  size_t total = 0;
  for (size_t s : sizes_) {
    offsets_.push_back(total);
    total += s;
  }
  residual_.assign(total, 0.0f);
}

absl::StatusOr<ErrorFeedback> ErrorFeedback::FromResidual(
    std::vector<size_t> tensor_sizes, std::vector<float> residual) {
  uint64_t total = 0;
  for (size_t s : tensor_sizes) total += s;
  if (total != residual.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("residual has ", residual.size(),
                     " values, the tensor sizes add up to ", total));
  }
  if (total > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("residual: flat size exceeds 2^32");
  }
  for (size_t i = 0; i < residual.size(); ++i) {
    if (MagnitudeKey(residual[i]) >= kInfinityKey) {
      return absl::InvalidArgumentError(absl::StrCat(
          "residual element ", i, " is ", residual[i], " (not finite)"));
    }
  }
  ErrorFeedback ef(std::move(tensor_sizes));
  ef.residual_ = std::move(residual);
  return ef;
}

// Kernel: the tuned step of BENCHMARKS.md §1 (BM_ErrorFeedbackStep); whole.
// NOLINTNEXTLINE(readability-function-size)
absl::Status ErrorFeedback::Compress(size_t tensor,
                                     std::span<const float> gradient, size_t k,
                                     const CompressOptions& options,
                                     SparseSelection* out) {
  if (tensor >= sizes_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", tensor, " does not exist (have ", sizes_.size(), ")"));
  }
  const size_t n = sizes_[tensor];
  if (gradient.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient for tensor ", tensor, " has ", gradient.size(),
                     " elements, the tensor has ", n));
  }
  if (k > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("k = ", k, " exceeds tensor ", tensor, "'s size ", n));
  }
  std::span<float> r = std::span<float>(residual_).subspan(offsets_[tensor], n);

  // Threshold from a sample of r + g, taken before the pass writes r.
  uint32_t threshold = kCollectNothing;
  const size_t m = options.selector == Selector::kFast ? SampleSize(n, k) : 0;
  if (m > 0) {
    sample_.resize(m);
    for (size_t j = 0; j < m; ++j) {
      const size_t pos = SamplePosition(j, m, n);
      sample_[j] = MagnitudeKey(r[pos] + gradient[pos]);
    }
    threshold = ThresholdFromSample(sample_, n, k);
    if (threshold == 0) threshold = kCollectNothing;  // sampling won't pay
  }

  candidates_.clear();
  const size_t bad = AccumulateAndCollect(r, gradient, threshold, &candidates_);
  if (bad != n) {
    const float bad_value = r[bad] + gradient[bad];
    // Non-finite sums were never stored; undo the finite ones.
    for (size_t i = 0; i < n; ++i) {
      if (MagnitudeKey(gradient[i]) < kInfinityKey) r[i] -= gradient[i];
    }
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", tensor, " element ", bad,
                     ": residual + gradient is ", bad_value, " (gradient ",
                     gradient[bad], "); step refused, residual restored"));
  }
  if (k == 0) {
    stats_.RecordSelection(n, 0);
    return absl::OkStatus();
  }
  const uint32_t base = static_cast<uint32_t>(offsets_[tensor]);
  if (threshold != kCollectNothing && candidates_.size() >= k) {
    // The candidates carry the values: r is only visited to be updated.
    SelectFromCandidates(candidates_, k, &selected_);
    Emit(candidates_, selected_, base, options.value_type, r, out);
  } else {
    ExactTopK(r, k, &selected_);
    candidates_.clear();
    for (uint32_t i : selected_) {
      candidates_.index.push_back(i);
      candidates_.value.push_back(r[i]);
    }
    selected_.resize(k);
    std::iota(selected_.begin(), selected_.end(), 0u);
    Emit(candidates_, selected_, base, options.value_type, r, out);
  }
  stats_.RecordSelection(n, k);
  return absl::OkStatus();
}

void ErrorFeedback::Emit(const Candidates& candidates,
                         std::span<const uint32_t> positions, uint32_t base,
                         ValueType value_type, std::span<float> r,
                         SparseSelection* out) {
  const size_t k = positions.size();
  const size_t old_size = out->indices.size();
  out->indices.resize(old_size + k);
  out->values.resize(old_size + k);
  uint32_t* indices = out->indices.data() + old_size;
  float* values = out->values.data() + old_size;
  // The writes to r land on scattered cache lines: prefetch well ahead so
  // the misses overlap instead of being paid one at a time.
  constexpr size_t kAhead = 48;
  for (size_t j = 0; j < k; ++j) {
    if (j + kAhead < k) {
      __builtin_prefetch(&r[candidates.index[positions[j + kAhead]]], 1);
    }
    const uint32_t i = candidates.index[positions[j]];
    const float v = candidates.value[positions[j]];
    const float sent = RoundToValueType(v, value_type);
    r[i] = v - sent;  // 0 for fp32; the rounding error stays behind
    indices[j] = base + i;
    values[j] = sent;
  }
}

absl::Status ErrorFeedback::ReturnUnsent(const SparseSelection& unsent) {
  if (unsent.indices.size() != unsent.values.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("restore: ", unsent.indices.size(), " indices but ",
                     unsent.values.size(), " values"));
  }
  for (uint32_t i : unsent.indices) {
    if (i >= residual_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("restore: index ", i, " is outside the residual (size ",
                       residual_.size(), ")"));
    }
  }
  ScatterAdd(unsent, residual_);
  return absl::OkStatus();
}

double ErrorFeedback::ResidualNorm() const {
  double sum = 0.0;
  for (float v : residual_) sum += static_cast<double>(v) * v;
  return std::sqrt(sum);
}

std::string ErrorFeedback::Serialize() const {
  std::string payload;
  payload.reserve(8 + 8 * sizes_.size() + 4 * residual_.size());
  AppendU64(sizes_.size(), &payload);
  for (size_t s : sizes_) AppendU64(s, &payload);
  AppendFloats(residual_.data(), residual_.size(), &payload);
  return MakeRecord(kRecordKind, kRecordVersion, payload);
}

absl::StatusOr<ErrorFeedback> ErrorFeedback::Deserialize(
    std::string_view record) {
  CDDP_ASSIGN_OR_RETURN(std::string_view payload,
                        ParseRecord(record, kRecordKind, kRecordVersion));
  PayloadReader reader(payload);
  uint64_t num_tensors = 0;
  CDDP_RETURN_IF_ERROR(reader.ReadU64(&num_tensors));
  if (num_tensors > reader.remaining() / 8) {
    return absl::DataLossError(absl::StrCat(
        "residual record claims ", num_tensors, " tensors; too few bytes"));
  }
  std::vector<size_t> sizes(num_tensors);
  uint64_t total = 0;
  for (auto& s : sizes) {
    uint64_t v = 0;
    CDDP_RETURN_IF_ERROR(reader.ReadU64(&v));
    s = v;
    total += v;
    if (total > std::numeric_limits<uint32_t>::max()) {
      return absl::DataLossError("residual record: flat size exceeds 2^32");
    }
  }
  if (reader.remaining() != total * sizeof(float)) {
    return absl::DataLossError(
        absl::StrCat("residual record: ", reader.remaining(),
                     " bytes of values for ", total, " elements"));
  }
  ErrorFeedback ef(std::move(sizes));
  CDDP_RETURN_IF_ERROR(reader.ReadFloats(ef.residual_.data(), total));
  return ef;
}

}  // namespace cddp::common
