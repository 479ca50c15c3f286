// DeviceErrorFeedback: common::ErrorFeedback (common/error_feedback.h) with
// the residual on a CUDA device. Same contract, same selection, same wire
// values: with Selector::kExact the pairs are bit-identical to the CPU
// class's for the same residual and gradients, so CPU and GPU workers mix
// in one job. Built only with -DCDDP_WITH_CUDA=ON (library cddp_cuda_ef).
//
// One step covers the whole model: the gradients are device pointers (one
// per tensor, each tensor_size(t) floats, contiguous, float32), the kernels
// run on `stream` (nullptr: the legacy default stream, which is the one
// LibTorch uses unless told otherwise, so the step is ordered after the
// backward pass with no extra synchronisation), and only the selected
// (index, value) pairs cross to the host, through pinned buffers with one
// asynchronous copy; Compress returns when they are in `out`.
//
// Not thread-safe: one per worker, used by one thread.
#ifndef CDDP_COMMON_COMPRESS_CUDA_DEVICE_ERROR_FEEDBACK_H_
#define CDDP_COMMON_COMPRESS_CUDA_DEVICE_ERROR_FEEDBACK_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/compress/compression_stats.h"
#include "common/compress/error_feedback.h"
#include "common/compress/sparse.h"

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace cddp::cuda {

class DeviceErrorFeedback {
 public:
  // Zero residuals for tensors of the given sizes, back to back as in
  // common::ErrorFeedback, on the current CUDA device. FAILED_PRECONDITION
  // when no CUDA device is usable (the message says why: no driver, no
  // device...); RESOURCE_EXHAUSTED when device or pinned memory runs out;
  // INVALID_ARGUMENT when the flat size is >= 2^32.
  static absl::StatusOr<std::unique_ptr<DeviceErrorFeedback>> Create(
      std::vector<size_t> tensor_sizes, CUstream_st* stream = nullptr);
  ~DeviceErrorFeedback();

  size_t num_tensors() const;
  size_t tensor_size(size_t t) const;
  size_t tensor_offset(size_t t) const;
  size_t total_size() const;

  // One error-feedback step for every tensor: tensor t gets gradient
  // gradients[t] (a device pointer; nullptr means a zero gradient, e.g. a
  // parameter unused in the last backward) and budget k[t] <= tensor_size(t).
  // Replaces `out` with the selected pairs over the flat vector, ascending
  // (tensor 0's, then tensor 1's...), values rounded to options.value_type.
  // Errors:
  //  INVALID_ARGUMENT (nothing changed): wrong number of gradients or
  //    budgets, k[t] > tensor_size(t).
  //  INVALID_ARGUMENT: r + g holds NaN/inf in some tensor. The message
  //    names the first such tensor and element as the CPU class does; that
  //    tensor's residual is restored as on the CPU (non-finite sums never
  //    stored, finite ones undone), and `out` is left empty. Tensors before
  //    it have taken their step (their pairs are dropped: ReturnUnsent them or
  //    not, as after a CPU loop that stopped there); tensors after it are
  //    left unchanged.
  //  RESOURCE_EXHAUSTED: the pairs' device or pinned buffer could not grow
  //    (nothing changed).
  //  INTERNAL: a CUDA error (the message carries CUDA's).
  absl::Status Compress(std::span<const float* const> gradients,
                        std::span<const size_t> k,
                        const common::CompressOptions& options,
                        common::SparseSelection* out);

  // Adds undelivered pairs back into the residual (flat indices), as
  // common::ErrorFeedback::ReturnUnsent; same errors, nothing changed on error;
  // INTERNAL on a CUDA error.
  absl::Status ReturnUnsent(const common::SparseSelection& unsent);

  // The whole residual copied to the host (for checkpoints and tests).
  // INTERNAL on a CUDA error, as every method below.
  absl::StatusOr<std::vector<float>> ResidualToHost() const;
  // L2 norm of the whole residual, computed on the device (in double, in a
  // fixed order: equal to the CPU's up to rounding).
  absl::StatusOr<double> ResidualNorm() const;
  const common::CompressionStats& stats() const;

  // Checkpoints use the CPU class's "RESD" record, so a CPU worker can
  // resume from a GPU worker's checkpoint and the other way round.
  absl::StatusOr<common::ErrorFeedback> ToHost() const;
  // Replaces the residual with `host`'s. FAILED_PRECONDITION (nothing
  // changed) when the tensor sizes differ.
  absl::Status LoadFrom(const common::ErrorFeedback& host);

 private:
  struct Impl;
  explicit DeviceErrorFeedback(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether this build has the CUDA kernels and a usable device (a driver, a
// device of compute capability 9.0 or newer, which the kernels are built
// for); when not, the reason (for --device auto/cuda messages).
bool CudaDeviceAvailable(std::string* why_not);

}  // namespace cddp::cuda

#endif  // CDDP_COMMON_COMPRESS_CUDA_DEVICE_ERROR_FEEDBACK_H_
