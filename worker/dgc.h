// Deep Gradient Compression (Lin et al., ICLR 2018) on the worker: what
// happens to a gradient before error feedback (gradient_compressor.h) picks
// its Top-K, so that plain SGD on the servers with the exact sparse downlink
// still trains with momentum.
//
// One step, for the flat gradient g of all tensors:
//   clipping            s = min(1, clip_norm / ||g||_2)   (1 when off)
//   momentum correction u = momentum * u + s * g          (u: the velocity)
//   error feedback      r += u; send the Top-K of r; r -= sent
//   factor masking      u[i] = 0 for every index i that was selected
// With momentum 0 and no clipping the step is exactly plain error feedback.
// The velocity is this worker's alone (the servers never see it) and goes
// into the worker's checkpoint with the residual.
//
// The density warm-up (DensitySchedule) is the other DGC technique: the
// budget starts high and decays exponentially to the target density.
//
// Host memory only (the CUDA compressor keeps its residual on the device;
// DGC there would need its own kernels). No LibTorch. Not thread-safe: one
// per worker, used by the training thread.
#ifndef CDDP_WORKER_DGC_H_
#define CDDP_WORKER_DGC_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/compress/sparse.h"

namespace cddp::worker {

struct DgcOptions {
  double momentum = 0;           // in [0, 1); 0: no momentum correction
  bool momentum_masking = true;  // clear u where an entry was selected
  double clip_norm = 0;          // > 0: clip ||g||_2 to it; 0: no clipping
};

// OK, or INVALID_ARGUMENT naming the flag out of range (or contradicting
// another: masking turned off without momentum correction).
absl::Status ValidateDgcOptions(const DgcOptions& options);

class MomentumCorrection {
 public:
  // For tensors of `sizes` laid out back to back (the compressor's flat
  // layout); names[t] is used in error messages. Velocity all zero.
  MomentumCorrection(std::vector<size_t> sizes, std::vector<std::string> names,
                     DgcOptions options);

  // Steps 1 and 2 of the file comment. gradients[t] points at tensor t's
  // gradient in host memory (nullptr: zero). Returns what error feedback
  // should accumulate, one pointer per tensor (valid until the next call):
  // the velocity with momentum, the clipped gradient without. INVALID_ARGUMENT
  // (velocity unchanged) for a wrong count or a NaN/inf gradient, naming the
  // tensor.
  absl::Status Apply(std::span<const float* const> gradients,
                     std::vector<const float*>* corrected);

  // Apply for tensors [first, end) only (their entries of `corrected` are
  // set; `corrected` has one entry per tensor), for correcting tensor by
  // tensor as the backward pass produces them: the same velocity, bit for
  // bit, as Apply once the whole range has been covered. FAILED_PRECONDITION
  // with clipping (it needs the whole gradient's norm); INVALID_ARGUMENT for
  // a bad range or count, or a NaN/inf gradient in the range (its velocity
  // unchanged).
  absl::Status ApplyRange(size_t first, size_t end,
                          std::span<const float* const> gradients,
                          std::vector<const float*>* corrected);

  // Step 4: clears the velocity at the selection's flat indices (no-op
  // without masking or momentum). Indices must be below total_size().
  void MaskSent(const common::SparseSelection& selected);

  // The last Apply's clipping factor s (1 when nothing was clipped).
  double last_clip_scale() const { return last_clip_scale_; }

  size_t total_size() const { return offsets_.back(); }
  // True with momentum correction: velocity() is then the velocity (else
  // it holds the last clipped gradient).
  bool has_momentum() const { return options_.momentum > 0; }
  std::span<const float> velocity() const { return velocity_; }
  // Replaces the velocity (a checkpoint's). FAILED_PRECONDITION (nothing
  // changed) when its size differs from total_size(), INVALID_ARGUMENT for
  // a NaN/inf value. An empty vector (a checkpoint without velocity) resets
  // it to zero.
  absl::Status LoadVelocity(std::vector<float> velocity);

 private:
  // The sum of squares of gradients [first, end); INVALID_ARGUMENT naming a
  // tensor with a NaN/inf (or for a wrong count).
  absl::Status SumOfSquaresOf(size_t first, size_t end,
                              std::span<const float* const> gradients,
                              double* sum_sq) const;
  // u = m * u + scale * g for tensors [first, end); (*corrected)[t] = u.
  void Update(size_t first, size_t end, std::span<const float* const> gradients,
              float scale, std::vector<const float*>* corrected);

  std::vector<size_t> sizes_;
  std::vector<size_t> offsets_;  // sizes_.size() + 1 entries
  std::vector<std::string> names_;
  DgcOptions options_;
  std::vector<float> velocity_;  // with momentum; else the clipped gradient
  double last_clip_scale_ = 1;
};

// The density of each step: `start` at step 0, decaying exponentially to
// `target` at `warmup_steps` and `target` from then on:
//   d(step) = start * (target / start)^(step / warmup_steps).
struct DensitySchedule {
  double target = 0.01;
  int64_t warmup_steps = 0;  // 0: no warm-up
  double start = 0.25;

  double At(uint64_t step) const;
};

// OK, or INVALID_ARGUMENT naming the flag (warm-up steps < 0, start not in
// [target, 1] while warming up).
absl::Status ValidateDensitySchedule(const DensitySchedule& schedule);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_DGC_H_
