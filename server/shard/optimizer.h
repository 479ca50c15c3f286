// The configuration of a parameter-server shard's optimizer: SGD (with
// optional momentum, Nesterov momentum and L2 weight decay, PyTorch
// semantics without dampening) or Adam, with its checks. The arithmetic is
// the update rule's (update_rule.h, MakeUpdateRule). Plain values;
// thread-compatible.
#ifndef CDDP_SERVER_SHARD_OPTIMIZER_H_
#define CDDP_SERVER_SHARD_OPTIMIZER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cddp::server {

enum class OptimizerKind { kSgd, kAdam };

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kSgd;
  float lr = 0.01f;
  float momentum = 0.0f;      // SGD only
  bool nesterov = false;      // SGD only; needs momentum > 0
  float weight_decay = 0.0f;  // L2, added to the gradient (both kinds)
  float beta1 = 0.9f;         // Adam only
  float beta2 = 0.999f;       // Adam only
  float epsilon = 1e-8f;      // Adam only

  // True for SGD without momentum and weight decay: the only update that
  // changes nothing but the entries with a non-zero gradient.
  // True when the optimizer keeps a velocity of its own (SGD momentum,
  // Nesterov, Adam): a worker's own momentum (DGC) would apply twice.
  bool HasMomentum() const {
    return kind == OptimizerKind::kAdam || momentum > 0.0f;
  }
  bool IsPlainSgd() const {
    return kind == OptimizerKind::kSgd && momentum == 0.0f &&
           weight_decay == 0.0f;
  }
  // INVALID_ARGUMENT naming the offending field (lr <= 0, momentum outside
  // [0, 1), nesterov without momentum, betas outside [0, 1), ...).
  absl::Status Validate() const;
  std::string DebugString() const;
};

// Parses "sgd" or "adam"; INVALID_ARGUMENT otherwise.
absl::StatusOr<OptimizerKind> ParseOptimizerKind(absl::string_view name);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_OPTIMIZER_H_
