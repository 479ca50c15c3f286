// Implementation of gradient_pipeline.h.
#include "worker/gradient_pipeline.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/compress/topk.h"
#include "common/status_macros.h"
#include "worker/api/sync_options_internal.h"
#include "worker/worker_checkpoint.h"

namespace cddp::worker {

GradientPipeline::GradientPipeline(const SyncOptions& o,
                                   std::vector<size_t> sizes)
    : checkpoint_dir_(o.checkpoint_dir),
      worker_id_(o.worker_id),
      compress_(o.compress),
      min_compress_numel_(static_cast<size_t>(o.min_compress_numel)),
      schedule_(DensityScheduleOf(o)),
      sizes_(std::move(sizes)) {
  for (size_t s : sizes_) total_size_ += s;
}

absl::StatusOr<std::unique_ptr<GradientPipeline>> GradientPipeline::Create(
    const SyncOptions& options, bool on_cuda, std::vector<size_t> sizes,
    std::vector<std::string> names) {
  CDDP_ASSIGN_OR_RETURN(const common::ValueType value_type,
                        common::ParseValueType(options.value_type));
  std::unique_ptr<GradientPipeline> p(new GradientPipeline(options, sizes));
  p->compress_options_ = {common::Selector::kFast, value_type};
  const DgcOptions dgc = DgcOptionsOf(options);
  if (dgc.momentum > 0 || dgc.clip_norm > 0) {
    if (on_cuda) {
      return absl::FailedPreconditionError(
          "DGC (--dgc_momentum, --clip_norm) runs on CPU parameters only in "
          "this version (use --device=cpu)");
    }
    p->dgc_.emplace(sizes, names, dgc);
    p->clips_ = dgc.clip_norm > 0;
  }
  CDDP_ASSIGN_OR_RETURN(
      p->compressor_,
      MakeGradientCompressor(on_cuda, std::move(sizes), std::move(names)));
  p->SetDensity(p->schedule_.At(0));
  CDDP_RETURN_IF_ERROR(p->Resume());
  return p;
}

// A checkpoint without a velocity (momentum correction was off) starts it
// at zero; one with a velocity while it is off now drops it.
absl::Status GradientPipeline::Resume() {
  if (checkpoint_dir_.empty()) return absl::OkStatus();
  std::vector<float> velocity;
  CDDP_ASSIGN_OR_RETURN(
      resumed_from_,
      ResumeResiduals(checkpoint_dir_, worker_id_, *compressor_, &velocity));
  if (!dgc_.has_value() || !dgc_->has_momentum()) return absl::OkStatus();
  if (absl::Status st = dgc_->LoadVelocity(std::move(velocity)); !st.ok()) {
    return absl::Status(
        st.code(),
        absl::StrCat(WorkerCheckpointPath(checkpoint_dir_, worker_id_), ": ",
                     st.message()));
  }
  return absl::OkStatus();
}

// Small tensors (and everything without compression) are sent whole.
void GradientPipeline::SetDensity(double density) {
  density_ = density;
  k_of_.clear();
  k_total_ = 0;
  for (size_t size : sizes_) {
    const bool whole = !compress_ || size < min_compress_numel_;
    k_of_.push_back(whole ? size : common::TopKCount(size, density));
    k_total_ += k_of_.back();
  }
}

double GradientPipeline::density() const {
  return static_cast<double>(k_total_) / static_cast<double>(total_size_);
}

absl::Status GradientPipeline::Compress(std::span<const float* const> gradients,
                                        uint64_t step,
                                        common::SparseSelection* out) {
  if (const double d = schedule_.At(step); d != density_) SetDensity(d);
  if (!dgc_.has_value()) {
    return compressor_->Compress(gradients, k_of_, compress_options_, out);
  }
  CDDP_RETURN_IF_ERROR(dgc_->Apply(gradients, &corrected_));
  CDDP_RETURN_IF_ERROR(
      compressor_->Compress(corrected_, k_of_, compress_options_, out));
  dgc_->MaskSent(*out);
  return absl::OkStatus();
}

absl::Status GradientPipeline::CompressesByRange() const {
  if (clips_) {
    return absl::FailedPreconditionError(
        "--overlap_backward cannot clip gradients (--clip_norm needs the "
        "whole gradient's norm before any tensor can be sent)");
  }
  if (compressor_->on_device()) {
    return absl::FailedPreconditionError(
        "--overlap_backward runs on CPU parameters only in this version "
        "(the CUDA compressor selects every tensor in one batch)");
  }
  return absl::OkStatus();
}

absl::Status GradientPipeline::CompressRange(
    size_t first, size_t end, std::span<const float* const> gradients,
    uint64_t step, common::SparseSelection* out) {
  CDDP_RETURN_IF_ERROR(CompressesByRange());
  if (const double d = schedule_.At(step); d != density_) SetDensity(d);
  if (!dgc_.has_value()) {
    return compressor_->CompressRange(first, end, gradients, k_of_,
                                      compress_options_, out);
  }
  CDDP_RETURN_IF_ERROR(dgc_->ApplyRange(first, end, gradients, &corrected_));
  CDDP_RETURN_IF_ERROR(compressor_->CompressRange(first, end, corrected_, k_of_,
                                                  compress_options_, out));
  dgc_->MaskSent(*out);
  return absl::OkStatus();
}

absl::Status GradientPipeline::ReturnUnsent(
    const common::SparseSelection& unsent) {
  return compressor_->ReturnUnsent(unsent);
}

absl::StatusOr<double> GradientPipeline::ResidualNorm() {
  return compressor_->ResidualNorm();
}

absl::Status GradientPipeline::SaveCheckpoint(uint64_t step,
                                              DataPosition position) {
  if (checkpoint_dir_.empty()) return absl::OkStatus();
  // Only momentum correction has a velocity worth keeping (without it the
  // buffer holds the last clipped gradient).
  const bool velocity = dgc_.has_value() && dgc_->has_momentum();
  return SaveResiduals(checkpoint_dir_, worker_id_, step, position,
                       *compressor_,
                       velocity ? dgc_->velocity() : std::span<const float>());
}

}  // namespace cddp::worker
