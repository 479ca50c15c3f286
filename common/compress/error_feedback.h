// Error-feedback Top-K compression: one residual buffer per parameter tensor.
//
// A step for tensor t with gradient g and budget k:
//   r_t += g                       (what has not been sent yet, plus g)
//   S   = top k of r_t by magnitude (the order of topk.h)
//   send (i, round(r_t[i])) for i in S, with round() the wire value type
//   r_t[i] -= round(r_t[i])        (zero for fp32; the rounding error for
//                                   fp16/bf16 stays in the residual)
// so after any number of steps, sum(sent) + r_T == sum(g) exactly in fp32
// arithmetic up to the rounding of the `+=` itself.
//
// With the fast selector the step is one streaming pass over the tensor
// (read g, read r, write r; candidates collected on the way) plus work
// proportional to k: a threshold is estimated beforehand from a strided
// sample of r + g. If the estimate overshoots, an exact radix select over the
// updated residual follows (three read passes). Either way the selection is
// exact and identical to ExactTopK on r + g.
//
// Not thread-safe: one ErrorFeedback per worker, used by one thread.
#ifndef CDDP_COMMON_COMPRESS_ERROR_FEEDBACK_H_
#define CDDP_COMMON_COMPRESS_ERROR_FEEDBACK_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/compress/compression_stats.h"
#include "common/compress/compression_types.h"  // Selector, ValueType
#include "common/compress/sparse.h"
#include "common/compress/topk.h"

namespace cddp::common {

struct CompressOptions {
  Selector selector = Selector::kFast;
  ValueType value_type = ValueType::kFp32;
};

class ErrorFeedback {
 public:
  // Residuals for tensors of the given sizes, laid out back to back in one
  // flat vector (tensor t starts at tensor_offset(t)); all zero. The flat
  // size must be below 2^32.
  explicit ErrorFeedback(std::vector<size_t> tensor_sizes);

  // Residuals with the given sizes and values (all tensors back to back),
  // e.g. a device residual copied to the host (cuda::DeviceErrorFeedback).
  // INVALID_ARGUMENT if the sizes do not add up to residual.size(), the
  // flat size is not below 2^32, or a value is NaN/inf (a residual never
  // holds one).
  static absl::StatusOr<ErrorFeedback> FromResidual(
      std::vector<size_t> tensor_sizes, std::vector<float> residual);

  size_t num_tensors() const { return sizes_.size(); }
  size_t tensor_size(size_t t) const { return sizes_[t]; }
  size_t tensor_offset(size_t t) const { return offsets_[t]; }
  size_t total_size() const { return residual_.size(); }

  // One error-feedback step for tensor `tensor` (see the file comment):
  // r += g, Top-K of r, r -= what is sent. Appends the
  // selected pairs to `out` with flat indices (tensor_offset + i), ascending;
  // calling Compress for tensors 0, 1, 2... therefore builds one ascending
  // selection over the flat vector. k == 0 only accumulates.
  // Errors (nothing appended):
  //  INVALID_ARGUMENT: no such tensor, gradient size differs from the
  //    tensor's, k > size, or r + g holds NaN/inf. In the last case the
  //    message names the first bad element and the residual is restored:
  //    non-finite sums are never stored, finite ones are undone by r -= g
  //    (exact up to one float rounding; the residual never holds NaN/inf).
  absl::Status Compress(size_t tensor, std::span<const float> gradient,
                        size_t k, const CompressOptions& options,
                        SparseSelection* out);

  // Adds pairs that were selected but not delivered (a rejected push) back
  // into the residual, so the identity above still holds. Flat indices.
  // INVALID_ARGUMENT (nothing changed) if sizes differ or an index is out of
  // range.
  absl::Status ReturnUnsent(const SparseSelection& unsent);

  // The residuals (all tensors back to back, or one tensor). Valid until
  // the next non-const call.
  std::span<const float> residual() const { return residual_; }
  std::span<const float> residual(size_t t) const {
    return residual().subspan(offsets_[t], sizes_[t]);
  }
  // L2 norm of the whole residual (a pass over it: not for the hot path).
  double ResidualNorm() const;
  const CompressionStats& stats() const { return stats_; }

  // Checkpoint form: a record (record_file.h) of kind "RESD" holding the
  // tensor sizes and residuals. Deserialize refuses a corrupt, truncated or
  // foreign record (DATA_LOSS / INVALID_ARGUMENT / FAILED_PRECONDITION) and
  // never returns a half-loaded state.
  std::string Serialize() const;
  static absl::StatusOr<ErrorFeedback> Deserialize(std::string_view record);

 private:
  // Appends the chosen candidates (ascending `positions` into `candidates`)
  // to `out` with indices offset by `base`, rounded to `value_type`, and
  // leaves what was not sent (0 for fp32, the rounding error for fp16/bf16)
  // in `r`.
  static void Emit(const Candidates& candidates,
                   std::span<const uint32_t> positions, uint32_t base,
                   ValueType value_type, std::span<float> r,
                   SparseSelection* out);

  std::vector<size_t> sizes_;
  std::vector<size_t> offsets_;
  std::vector<float> residual_;
  CompressionStats stats_;
  // Scratch reused across steps to avoid allocation on the hot path.
  Candidates candidates_;
  std::vector<uint32_t> sample_;
  std::vector<uint32_t> selected_;
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_ERROR_FEEDBACK_H_
