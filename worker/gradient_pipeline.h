// GradientPipeline: what happens to one step's gradients before they go on
// the wire, in one object: the density of the step (the warm-up schedule)
// and each tensor's Top-K budget at it, DGC's clipping and momentum
// correction when asked for, error-feedback Top-K (GradientCompressor, on
// the CPU or a CUDA device), DGC's momentum factor masking, and the
// residuals' (and velocity's) checkpoints.
//
// No LibTorch: gradients are raw pointers. Not thread-safe: one per worker,
// used by the training thread.
#ifndef CDDP_WORKER_GRADIENT_PIPELINE_H_
#define CDDP_WORKER_GRADIENT_PIPELINE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cddp/options.h"
#include "common/compress/sparse.h"
#include "worker/data/worker_sampler.h"
#include "worker/dgc.h"
#include "worker/gradient_compressor.h"

namespace cddp::worker {

class GradientPipeline {
 public:
  // For tensors of `sizes` (names[t] in messages) on the CPU or, with
  // `on_cuda`, the current CUDA device; `options` validated
  // (ValidateSyncOptions). Resumes the residuals (and velocity) from
  // options.checkpoint_dir when this worker has a checkpoint there.
  // Errors: FAILED_PRECONDITION for DGC on CUDA, CUDA without kernels, or a
  // checkpoint that does not fit these tensors (naming the file); the
  // checkpoint reader's errors.
  static absl::StatusOr<std::unique_ptr<GradientPipeline>> Create(
      const SyncOptions& options, bool on_cuda, std::vector<size_t> sizes,
      std::vector<std::string> names);

  // The checkpoint step the residuals were resumed from, if any.
  std::optional<uint64_t> resumed_from() const { return resumed_from_; }

  // One step's selection: gradients[t] is tensor t's gradient (host or
  // device memory as the compressor's on_device(); nullptr: zero) for job
  // step `step`. Replaces `out` with the pairs to send, ascending over the
  // flat vector. INVALID_ARGUMENT naming the tensor for a NaN/inf (the
  // residual and velocity keep their last finite values); INTERNAL for a
  // CUDA error.
  absl::Status Compress(std::span<const float* const> gradients, uint64_t step,
                        common::SparseSelection* out);

  // Compress for tensors [first, end) only, for compressing tensor by
  // tensor while the backward pass runs (--overlap_backward): gradients has
  // one entry per tensor (the others are not read) and `out` is replaced
  // with the range's pairs. Covering every tensor of a step once, in any
  // order and any partition, sends the pairs and leaves the residuals (and
  // velocity) one Compress would, bit for bit. Errors as Compress, and
  // FAILED_PRECONDITION where CompressesByRange() is not OK.
  absl::Status CompressRange(size_t first, size_t end,
                             std::span<const float* const> gradients,
                             uint64_t step, common::SparseSelection* out);

  // OK when CompressRange can run: FAILED_PRECONDITION for gradient
  // clipping (it needs the whole gradient's norm first) and for CUDA (the
  // device compressor selects all tensors in one batch).
  absl::Status CompressesByRange() const;

  // The fraction of the gradient the last Compress selected (before the
  // first: the density of step 0).
  double density() const;

  // Pairs selected but not delivered go back into the residual.
  // INVALID_ARGUMENT (nothing changed) for a bad index.
  absl::Status ReturnUnsent(const common::SparseSelection& unsent);

  // ||residual||_2. INTERNAL for a CUDA error.
  absl::StatusOr<double> ResidualNorm();

  // Writes the worker's checkpoint to options.checkpoint_dir (OK without
  // one): residuals, velocity, `step`, `position`. Errors as
  // SaveWorkerCheckpoint.
  absl::Status SaveCheckpoint(uint64_t step, DataPosition position);

 private:
  GradientPipeline(const SyncOptions& options, std::vector<size_t> sizes);
  // Every tensor's Top-K budget at `density`.
  void SetDensity(double density);
  absl::Status Resume();

  std::string checkpoint_dir_;
  uint32_t worker_id_;
  bool compress_;
  size_t min_compress_numel_;
  common::CompressOptions compress_options_;
  DensitySchedule schedule_;
  std::vector<size_t> sizes_;
  size_t total_size_ = 0;
  std::unique_ptr<GradientCompressor> compressor_;
  std::optional<MomentumCorrection> dgc_;  // DGC, when asked for
  bool clips_ = false;                     // DGC's --clip_norm is on
  std::vector<const float*> corrected_;    // what dgc_ hands the compressor
  double density_ = -1;                    // the density k_of_ is for
  std::vector<size_t> k_of_;
  size_t k_total_ = 0;
  std::optional<uint64_t> resumed_from_;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_GRADIENT_PIPELINE_H_
