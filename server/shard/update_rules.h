// The shard's update rules (PyTorch semantics, no dampening; L2 weight
// decay added to the gradient): plain SGD, momentum SGD, Nesterov and Adam.
// Plain float arithmetic in a fixed order, so a serial reference computing
// the same expressions gets bit-identical results. Built by MakeUpdateRule;
// see update_rule.h for the contract. Not thread-safe (driven under the
// shard's lock).
#ifndef CDDP_SERVER_SHARD_UPDATE_RULES_H_
#define CDDP_SERVER_SHARD_UPDATE_RULES_H_

#include <span>
#include <string_view>
#include <vector>

#include "server/shard/update_rule.h"

namespace cddp::server {

// A rule that moves every entry, block by block: the round's sum is
// scattered into a block-sized gradient buffer (all zero between blocks,
// so it stays in cache and no shard-sized gradient is ever read), DenseStep
// runs over the block, and the buffer is cleared where it was written.
class DenseUpdateRule : public UpdateRule {
 public:
  bool TouchesOnlyPushed() const override { return false; }
  void Apply(std::span<float> values, common::SparseSelection* sum,
             float scale) override;

 protected:
  using UpdateRule::UpdateRule;
  // For one block of the shard starting at `offset`: values[i] (the
  // block's, entry offset + i of the shard) moves by grad[i] * scale.
  // `grad` has the block's size; the rule's state fields are allocated at
  // the shard's size. steps_taken() already counts this round. Runs
  // concurrently for disjoint blocks (set_threads): it may touch only the
  // block's entries of values and state.
  virtual void DenseStep(std::span<float> values, size_t offset,
                         std::span<const float> grad, float scale) = 0;

 private:
  // Per part of Apply: one block's gradient, all zero between blocks.
  std::vector<std::vector<float>> grads_;
};

// values -= lr * (g + weight_decay * values). Without weight decay it
// touches only the pushed entries, in one pass over them.
class SgdRule final : public DenseUpdateRule {
 public:
  SgdRule(float lr, float weight_decay);
  std::string_view name() const override { return "sgd"; }
  bool TouchesOnlyPushed() const override { return weight_decay_ == 0.0f; }
  void Apply(std::span<float> values, common::SparseSelection* sum,
             float scale) override;

 private:
  void DenseStep(std::span<float> values, size_t offset,
                 std::span<const float> grad, float scale) override;
  const float lr_, weight_decay_;
};

// Heavy-ball momentum (kNesterov = false) or Nesterov momentum: field
// "momentum_buffer".
template <bool kNesterov>
class MomentumRuleT final : public DenseUpdateRule {
 public:
  MomentumRuleT(float lr, float momentum, float weight_decay);
  std::string_view name() const override {
    return kNesterov ? "nesterov" : "momentum";
  }

 private:
  void DenseStep(std::span<float> values, size_t offset,
                 std::span<const float> grad, float scale) override;
  const float lr_, momentum_, weight_decay_;
};
using MomentumRule = MomentumRuleT<false>;
using NesterovRule = MomentumRuleT<true>;

// Adam, bias-corrected as in Kingma & Ba / PyTorch: fields "exp_avg" and
// "exp_avg_sq"; the bias correction uses steps_taken().
class AdamRule final : public DenseUpdateRule {
 public:
  AdamRule(float lr, float weight_decay, float beta1, float beta2,
           float epsilon);
  std::string_view name() const override { return "adam"; }

 private:
  void DenseStep(std::span<float> values, size_t offset,
                 std::span<const float> grad, float scale) override;
  const float lr_, weight_decay_, beta1_, beta2_, epsilon_;
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_UPDATE_RULES_H_
