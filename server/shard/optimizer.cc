#include "server/shard/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"

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

absl::StatusOr<OptimizerKind> ParseOptimizerKind(absl::string_view name) {
  if (name == "sgd") return OptimizerKind::kSgd;
  if (name == "adam") return OptimizerKind::kAdam;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown optimizer '", name, "' (want sgd or adam)"));
}

}  // namespace cddp::server
