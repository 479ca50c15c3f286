// ShardState's checkpoint side: resuming from a checkpoint and taking
// consistent snapshots. Kept apart from the round machinery in
// shard_state.cc; see shard_state.h for the contracts.
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

absl::Status ShardState::Restore(const ShardCheckpoint& c) {
  absl::MutexLock lock(&mu_);
  if (initialized_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", options_.shard_index,
        " already has values; a checkpoint is restored before any join"));
  }
  if (auto s = CheckShardCheckpoint(c, options_); !s.ok()) return s;
  // Everything is checked: build the new state aside, then commit.
  const size_t n = c.values.size();
  // The rule's state is the last thing that can fail, and LoadState
  // changes nothing when it does.
  if (auto s = rule_->LoadState(c.rule_state, n); !s.ok()) return s;
  common::HugePageFloats values(n);
  if (n > 0) std::memcpy(values.data(), c.values.data(), n * sizeof(float));
  // A checkpoint without the workers' copy (another downlink) starts the
  // copy at the master values: every worker pulls it when it resyncs.
  AdoptValues(std::move(values), c.workers_copy);
  layout_ = c.layout;
  open_round_ = c.step;
  initialized_ = true;
  metrics_->current_step.Set(static_cast<double>(open_round_));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ShardCheckpoint>> ShardState::Snapshot() const {
  absl::MutexLock lock(&mu_);
  if (!initialized_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", options_.shard_index, " has no values yet: nothing to save"));
  }
  return SnapshotLocked();
}

std::unique_ptr<ShardCheckpoint> ShardState::SnapshotLocked() const {
  auto c = std::make_unique<ShardCheckpoint>();
  c->shard_index = options_.shard_index;
  c->num_shards = options_.num_shards;
  c->num_workers = options_.num_workers;
  c->layout = layout_;
  c->step = open_round_;
  c->optimizer = options_.optimizer;
  c->rule_state = rule_->SaveState();
  const auto v = values_.span();
  c->values.assign(v.begin(), v.end());
  const auto copy = workers_copy_.span();
  c->workers_copy.assign(copy.begin(), copy.end());
  return c;
}

}  // namespace cddp::server
