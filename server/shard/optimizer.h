// The optimizers a parameter-server shard applies to its slice of the flat
// parameter vector once a round's averaged gradient is known: SGD (with
// optional momentum, Nesterov momentum and L2 weight decay, PyTorch
// semantics without dampening) and Adam. Plain float arithmetic in a fixed
// order, so a serial reference computing the same expressions gets
// bit-identical results.
//
// Not thread-safe: one optimizer belongs to one shard and is driven under the
// shard's lock.
#ifndef CDDP_SERVER_SHARD_OPTIMIZER_H_
#define CDDP_SERVER_SHARD_OPTIMIZER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/compress/sparse.h"

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
absl::Status ParseOptimizerKind(const std::string& name, OptimizerKind* kind);

class Optimizer {
 public:
  // `options` must have passed Validate(). State (momentum buffers, Adam
  // moments) is allocated lazily for `size` elements.
  Optimizer(const OptimizerOptions& options, size_t size);

  const OptimizerOptions& options() const { return options_; }
  uint64_t steps_taken() const { return steps_; }
  // The state buffers (SGD momentum / Adam first moment, Adam second
  // moment); empty until the first step that needs them (empty = all zero).
  std::span<const float> buf1() const { return buf1_; }
  std::span<const float> buf2() const { return buf2_; }

  // Replaces the state with a checkpoint's: the step count and the buffers
  // (each empty or of the optimizer's size). INVALID_ARGUMENT (state
  // unchanged) for a buffer of another size.
  absl::Status Restore(uint64_t steps_taken, std::vector<float> buf1,
                       std::vector<float> buf2);

  // One dense update: params[i] is updated with gradient grad[i] * scale
  // (scale = 1 / contributors). Both spans have the optimizer's size.
  void StepDense(std::span<float> params, std::span<const float> grad,
                 float scale);
  // Plain SGD only: params[i] -= lr * (g * scale) for each (i, g) in
  // `grad` (indices distinct, < size); other entries keep their values,
  // exactly as StepDense would leave them with a zero gradient. On return
  // grad->values hold the updated values params[i] (what a sparse downlink
  // sends), saving a second pass over the scattered entries.
  void StepSparse(std::span<float> params, common::SparseSelection* grad,
                  float scale);

 private:
  OptimizerOptions options_;
  size_t size_;
  uint64_t steps_ = 0;
  std::vector<float> buf1_;  // SGD momentum buffer / Adam first moment
  std::vector<float> buf2_;  // Adam second moment
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_OPTIMIZER_H_
