// Implementation of dgc.h.
#include "worker/dgc.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cddp::worker {

absl::Status ValidateDgcOptions(const DgcOptions& o) {
  if (!(o.momentum >= 0 && o.momentum < 1)) {
    return absl::InvalidArgumentError("--dgc_momentum must be in [0, 1)");
  }
  if (!o.momentum_masking && o.momentum == 0) {
    return absl::InvalidArgumentError(
        "--nomomentum_masking needs --dgc_momentum > 0 (masking applies to "
        "the velocity of momentum correction)");
  }
  if (!(o.clip_norm >= 0) || std::isinf(o.clip_norm)) {
    return absl::InvalidArgumentError(
        "--clip_norm must be a finite number >= 0 (0: no clipping)");
  }
  return absl::OkStatus();
}

MomentumCorrection::MomentumCorrection(std::vector<size_t> sizes,
                                       std::vector<std::string> names,
                                       DgcOptions options)
    : sizes_(std::move(sizes)), names_(std::move(names)), options_(options) {
  offsets_.assign(1, 0);
  for (size_t size : sizes_) offsets_.push_back(offsets_.back() + size);
  velocity_.assign(total_size(), 0.0f);
}

absl::Status MomentumCorrection::Apply(std::span<const float* const> gradients,
                                       std::vector<const float*>* corrected) {
  if (gradients.size() != sizes_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        gradients.size(), " gradients for ", sizes_.size(), " tensors"));
  }
  // One read pass for the norm, which also finds a NaN/inf before the
  // velocity changes (a finite float squared fits a double, so the sum is
  // non-finite only if an element is).
  double sum_sq = 0;
  for (size_t t = 0; t < sizes_.size(); ++t) {
    const float* g = gradients[t];
    if (g == nullptr) continue;
    double tensor_sq = 0;
    for (size_t i = 0; i < sizes_[t]; ++i) {
      tensor_sq += static_cast<double>(g[i]) * g[i];
    }
    if (!std::isfinite(tensor_sq)) {
      const std::string name =
          t < names_.size() ? names_[t] : absl::StrCat("#", t);
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": the gradient holds NaN or inf"));
    }
    sum_sq += tensor_sq;
  }
  const double norm = std::sqrt(sum_sq);
  last_clip_scale_ = options_.clip_norm > 0 && norm > options_.clip_norm
                         ? options_.clip_norm / norm
                         : 1.0;
  const float m = static_cast<float>(options_.momentum);
  const float s = static_cast<float>(last_clip_scale_);
  corrected->resize(sizes_.size());
  for (size_t t = 0; t < sizes_.size(); ++t) {
    const float* g = gradients[t];
    float* u = velocity_.data() + offsets_[t];
    const size_t n = sizes_[t];
    if (g == nullptr) {
      for (size_t i = 0; i < n; ++i) u[i] = m * u[i];
    } else {
      // Without momentum u holds the clipped gradient (m == 0: u = s * g).
      for (size_t i = 0; i < n; ++i) u[i] = m * u[i] + s * g[i];
    }
    (*corrected)[t] = u;
  }
  return absl::OkStatus();
}

void MomentumCorrection::MaskSent(const common::SparseSelection& selected) {
  if (!options_.momentum_masking || options_.momentum == 0) return;
  for (uint32_t i : selected.indices) velocity_[i] = 0.0f;
}

absl::Status MomentumCorrection::LoadVelocity(std::vector<float> velocity) {
  if (velocity.empty()) {
    std::fill(velocity_.begin(), velocity_.end(), 0.0f);
    return absl::OkStatus();
  }
  if (velocity.size() != total_size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("a velocity of ", velocity.size(),
                     " floats does not match the model's ", total_size()));
  }
  for (size_t i = 0; i < velocity.size(); ++i) {
    if (!std::isfinite(velocity[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("the velocity holds NaN or inf at ", i));
    }
  }
  velocity_ = std::move(velocity);
  return absl::OkStatus();
}

double DensitySchedule::At(uint64_t step) const {
  if (warmup_steps <= 0 || step >= static_cast<uint64_t>(warmup_steps)) {
    return target;
  }
  const double progress =
      static_cast<double>(step) / static_cast<double>(warmup_steps);
  return std::max(target, start * std::pow(target / start, progress));
}

absl::Status ValidateDensitySchedule(const DensitySchedule& s) {
  if (s.warmup_steps < 0) {
    return absl::InvalidArgumentError(
        "--density_warmup_steps must be >= 0 (0: no warm-up)");
  }
  if (s.warmup_steps > 0 && !(s.start >= s.target && s.start <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--density_warmup_start must be in [--ratio, 1] = [",
                     s.target, ", 1]"));
  }
  return absl::OkStatus();
}

}  // namespace cddp::worker
