// GradientCompressor: the training loop's error-feedback step behind one
// interface, so that the loop is the same whether the gradients are in host
// memory (common::ErrorFeedback) or on a CUDA device
// (cddp::cuda::DeviceErrorFeedback, where only the selected pairs cross to
// the host). Both keep the residual in the flat layout (tensor t at the sum
// of the sizes before it), give the same kind of selection, and hand
// checkpoints the same host form, so a worker may resume on either device
// from the other's checkpoint.
//
// No LibTorch: gradients are raw pointers. Not thread-safe: one per worker,
// used by the training thread.
#ifndef CDDP_WORKER_GRADIENT_COMPRESSOR_H_
#define CDDP_WORKER_GRADIENT_COMPRESSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/compress/error_feedback.h"
#include "common/compress/sparse.h"
#include "worker/data/worker_sampler.h"

namespace cddp::worker {

class GradientCompressor {
 public:
  virtual ~GradientCompressor() = default;

  // True when Compress takes device pointers (CUDA), false for host memory.
  virtual bool on_device() const = 0;

  // One error-feedback step for every tensor: gradients[t] points at tensor
  // t's gradient (its size in floats, contiguous float32, in host or device
  // memory as on_device() says; nullptr: a zero gradient) and k[t] is its
  // budget. Replaces `out` with the selected pairs over the flat vector,
  // ascending. INVALID_ARGUMENT for wrong counts, k[t] > size, or a
  // NaN/inf in residual + gradient (the message names the tensor; the
  // residual never keeps the non-finite sum); INTERNAL for a CUDA error.
  absl::Status Compress(std::span<const float* const> gradients,
                        std::span<const size_t> k,
                        const common::CompressOptions& options,
                        common::SparseSelection* out) {
    return CompressRange(0, gradients.size(), gradients, k, options, out);
  }

  // The same step for tensors [first, end) only (gradients and k still have
  // one entry per tensor; the others are not read): `out` is replaced with
  // their pairs, ascending flat indices. Compressing the ranges of a
  // partition one by one, in any order, changes each residual and selects
  // each pair exactly as one Compress does. INVALID_ARGUMENT also for a bad
  // range; UNIMPLEMENTED for a part of the tensors on a CUDA device.
  virtual absl::Status CompressRange(size_t first, size_t end,
                                     std::span<const float* const> gradients,
                                     std::span<const size_t> k,
                                     const common::CompressOptions& options,
                                     common::SparseSelection* out) = 0;

  // Puts pairs selected but not delivered back into the residual (flat
  // indices). INVALID_ARGUMENT (nothing changed) for a bad index.
  virtual absl::Status ReturnUnsent(const common::SparseSelection& unsent) = 0;

  // L2 norm of the whole residual. INTERNAL for a CUDA error.
  virtual absl::StatusOr<double> ResidualNorm() = 0;

  // The residual in host memory, for a checkpoint; valid until the next
  // non-const call. INTERNAL for a CUDA error.
  virtual absl::StatusOr<const common::ErrorFeedback*> HostResiduals() = 0;

  // Replaces the residual with a checkpoint's. FAILED_PRECONDITION (nothing
  // changed) when its tensor sizes differ from this compressor's.
  virtual absl::Status LoadResiduals(common::ErrorFeedback host) = 0;
};

// A compressor for tensors of `sizes` (names[t] is used in error messages)
// on the CPU (`on_cuda` false) or the current CUDA device. For CUDA:
// FAILED_PRECONDITION when this build has no CUDA kernels
// (-DCDDP_WITH_CUDA=OFF), else DeviceErrorFeedback::Create's errors.
absl::StatusOr<std::unique_ptr<GradientCompressor>> MakeGradientCompressor(
    bool on_cuda, std::vector<size_t> sizes, std::vector<std::string> names);

// Worker checkpoints (worker_checkpoint.h) of a compressor's residuals.
// They hold the host form whatever the device, so a CPU worker resumes from
// a GPU worker's checkpoint and the other way round.
// Save: the residuals and `velocity` (DGC's, dgc.h; empty without momentum
// correction). Errors as SaveWorkerCheckpoint and HostResiduals.
absl::Status SaveResiduals(const std::string& dir, uint32_t worker_id,
                           uint64_t step, DataPosition position,
                           GradientCompressor& compressor,
                           std::span<const float> velocity = {});
// Resume: loads the checkpointed residuals into `compressor` (and its
// velocity into `*velocity` when given; empty if it holds none) and returns
// the checkpoint's step, or std::nullopt when there is no checkpoint. Errors
// as LoadWorkerCheckpoint; FAILED_PRECONDITION naming the file when its
// residuals do not fit the compressor's tensors.
absl::StatusOr<std::optional<uint64_t>> ResumeResiduals(
    const std::string& dir, uint32_t worker_id, GradientCompressor& compressor,
    std::vector<float>* velocity = nullptr);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_GRADIENT_COMPRESSOR_H_
