#include "server/shard/optimizer.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace cddp::server {

absl::Status OptimizerOptions::Validate() const {
  if (!(lr > 0.0f) || !std::isfinite(lr)) {
    return absl::InvalidArgumentError(absl::StrCat("lr must be > 0, got ", lr));
  }
  if (!(momentum >= 0.0f && momentum < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("momentum must be in [0, 1), got ", momentum));
  }
  if (nesterov && (kind != OptimizerKind::kSgd || momentum == 0.0f)) {
    return absl::InvalidArgumentError(
        "nesterov needs the sgd optimizer with momentum > 0");
  }
  if (kind == OptimizerKind::kAdam && momentum != 0.0f) {
    return absl::InvalidArgumentError(
        "momentum applies to sgd only (adam uses beta1/beta2)");
  }
  if (!(weight_decay >= 0.0f) || !std::isfinite(weight_decay)) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight_decay must be >= 0, got ", weight_decay));
  }
  if (!(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f)) {
    return absl::InvalidArgumentError("adam betas must be in [0, 1)");
  }
  if (!(epsilon > 0.0f)) {
    return absl::InvalidArgumentError("adam epsilon must be > 0");
  }
  return absl::OkStatus();
}

std::string OptimizerOptions::DebugString() const {
  if (kind == OptimizerKind::kAdam) {
    return absl::StrCat("adam(lr=", lr, ", betas=", beta1, "/", beta2,
                        ", eps=", epsilon, ", weight_decay=", weight_decay,
                        ")");
  }
  return absl::StrCat("sgd(lr=", lr, ", momentum=", momentum,
                      nesterov ? ", nesterov" : "",
                      ", weight_decay=", weight_decay, ")");
}

absl::Status ParseOptimizerKind(const std::string& name, OptimizerKind* kind) {
  if (name == "sgd") {
    *kind = OptimizerKind::kSgd;
  } else if (name == "adam") {
    *kind = OptimizerKind::kAdam;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown optimizer '", name, "' (want sgd or adam)"));
  }
  return absl::OkStatus();
}

Optimizer::Optimizer(const OptimizerOptions& options, size_t size)
    : options_(options), size_(size) {}

absl::Status Optimizer::Restore(uint64_t steps_taken, std::vector<float> buf1,
                                std::vector<float> buf2) {
  for (const auto* b : {&buf1, &buf2}) {
    if (!b->empty() && b->size() != size_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer state buffer has ", b->size(), " elements, the shard ",
          size_));
    }
  }
  steps_ = steps_taken;
  buf1_ = std::move(buf1);
  buf2_ = std::move(buf2);
  return absl::OkStatus();
}

void Optimizer::StepDense(std::span<float> params, std::span<const float> grad,
                          float scale) {
  CDDP_CHECK(params.size() == size_ && grad.size() == size_);
  ++steps_;
  const float lr = options_.lr;
  const float wd = options_.weight_decay;
  if (options_.kind == OptimizerKind::kSgd) {
    const float mu = options_.momentum;
    if (mu == 0.0f) {
      for (size_t i = 0; i < size_; ++i) {
        float g = grad[i] * scale;
        if (wd != 0.0f) g = g + wd * params[i];
        params[i] = params[i] - lr * g;
      }
      return;
    }
    if (buf1_.empty()) buf1_.assign(size_, 0.0f);
    for (size_t i = 0; i < size_; ++i) {
      float g = grad[i] * scale;
      if (wd != 0.0f) g = g + wd * params[i];
      const float v = mu * buf1_[i] + g;
      buf1_[i] = v;
      const float d = options_.nesterov ? g + mu * v : v;
      params[i] = params[i] - lr * d;
    }
    return;
  }
  // Adam, bias-corrected as in Kingma & Ba / PyTorch.
  if (buf1_.empty()) buf1_.assign(size_, 0.0f);
  if (buf2_.empty()) buf2_.assign(size_, 0.0f);
  const float b1 = options_.beta1;
  const float b2 = options_.beta2;
  const double t = static_cast<double>(steps_);
  const float c1 = static_cast<float>(1.0 - std::pow(double{b1}, t));
  const float c2 = static_cast<float>(1.0 - std::pow(double{b2}, t));
  const float sqrt_c2 = std::sqrt(c2);
  const float eps = options_.epsilon;
  for (size_t i = 0; i < size_; ++i) {
    float g = grad[i] * scale;
    if (wd != 0.0f) g = g + wd * params[i];
    const float m = b1 * buf1_[i] + (1.0f - b1) * g;
    const float v = b2 * buf2_[i] + (1.0f - b2) * (g * g);
    buf1_[i] = m;
    buf2_[i] = v;
    const float denom = std::sqrt(v) / sqrt_c2 + eps;
    params[i] = params[i] - (lr / c1) * (m / denom);
  }
}

void Optimizer::StepSparse(std::span<float> params,
                           common::SparseSelection* grad, float scale) {
  CDDP_CHECK(options_.IsPlainSgd());
  CDDP_CHECK(params.size() == size_);
  ++steps_;
  const float lr = options_.lr;
  const uint32_t* idx = grad->indices.data();
  float* g = grad->values.data();
  const size_t n = grad->size();
  // The entries are scattered over the shard and the loop is bound by the
  // misses: prefetch far ahead into L2 (locality 1), which tracks many more
  // outstanding misses than L1 (bench/codec_bench.cc: 30 % faster than
  // 64 ahead into L1).
  constexpr size_t kAhead = 128;
  for (size_t k = 0; k < n; ++k) {
    if (k + kAhead < n) __builtin_prefetch(&params[idx[k + kAhead]], 1, 1);
    const float p = params[idx[k]] - lr * (g[k] * scale);
    params[idx[k]] = p;
    g[k] = p;
  }
}

}  // namespace cddp::server
