// The update rule a parameter-server shard runs once a round's pushes are
// summed: it applies the round's averaged gradient to the shard's master
// values and owns whatever state that needs (momentum buffers, Adam
// moments, the step count), which it saves and loads under named fields of
// the shard checkpoint. The shard is handed its rule (MakeUpdateRule builds
// one from OptimizerOptions), as ps-lite hands a server its request handler.
//
// A rule only moves the master values. What a reply sends back (the whole
// slice, the changed entries, a compressed difference) is decided by the
// shard's downlink, outside the rule; the one thing a rule tells it is
// whether it changes nothing but the pushed entries (TouchesOnlyPushed),
// which is what makes an exact sparse reply possible.
//
// Not thread-safe: a rule belongs to one shard and is driven under the
// shard's lock.
#ifndef CDDP_SERVER_SHARD_UPDATE_RULE_H_
#define CDDP_SERVER_SHARD_UPDATE_RULE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/compress/sparse.h"
#include "server/shard/optimizer.h"

namespace cddp::server {

// A rule's saved state: the rounds it has applied and its named buffers
// (e.g. "momentum_buffer", "exp_avg", "exp_avg_sq"), each empty (all zero,
// never allocated) or of the shard's size.
struct UpdateRuleState {
  uint64_t steps = 0;
  std::map<std::string, std::vector<float>> fields;
};

class UpdateRule {
 public:
  virtual ~UpdateRule() = default;

  // "sgd", "momentum", "nesterov" or "adam".
  virtual std::string_view name() const = 0;

  // True if Apply changes no entry outside the round's pushed ones (plain
  // SGD without weight decay): then the changed entries are exactly the
  // summed ones, and an exact sparse downlink can send just those.
  virtual bool TouchesOnlyPushed() const = 0;

  // Applies one round: values[i] moves by the gradient sum[i] * scale
  // (scale = 1 / contributors; entries not in `sum` have gradient 0).
  // `sum` holds distinct ascending indices below values.size(). When
  // TouchesOnlyPushed(), on return sum->values[k] is the new value of entry
  // sum->indices[k] (written in the same pass, so a sparse reply needs no
  // second pass over the scattered entries); otherwise `sum` is unchanged.
  virtual void Apply(std::span<float> values, common::SparseSelection* sum,
                     float scale) = 0;

  // Threads Apply may use for a large shard (parallel_for.h); >= 1, 1 by
  // default. The result is the same bits whatever the count.
  void set_threads(int threads) { threads_ = threads < 1 ? 1 : threads; }
  int threads() const { return threads_; }

  // Rounds applied so far (Adam's bias correction counts them).
  uint64_t steps_taken() const { return steps_; }

  // A copy of the state, under the rule's field names.
  UpdateRuleState SaveState() const;
  // Replaces the state with `state` for a shard of `size` elements.
  // INVALID_ARGUMENT (state unchanged) for a field this rule does not have
  // (the message names it and the rule's fields) or one of another size.
  // Missing fields are all zero.
  absl::Status LoadState(const UpdateRuleState& state, size_t size);

 protected:
  explicit UpdateRule(std::vector<std::string> field_names);

  // The i-th named state buffer (in the order of the names given to the
  // constructor); empty until the rule first needs it.
  std::vector<float>& field(size_t i) { return fields_[i]; }
  // Gives every field not allocated yet `n` zeros.
  void AllocateFields(size_t n);
  void CountStep() { ++steps_; }

 private:
  uint64_t steps_ = 0;
  int threads_ = 1;
  const std::vector<std::string> field_names_;
  std::vector<std::vector<float>> fields_;
};

// The rule `options` describe (which must have passed Validate()): plain
// SGD (optionally with weight decay), momentum SGD, Nesterov or Adam.
std::unique_ptr<UpdateRule> MakeUpdateRule(const OptimizerOptions& options);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_UPDATE_RULE_H_
