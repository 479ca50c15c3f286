// ShardClient's overlapped PushPull (shard_client.h): the parts of a
// selection come in from the top of the flat vector down while the backward
// pass runs, and each shard's call starts as soon as they cover its range.
// Retries and gathering are PushPull's (CloseRound, shard_client.cc).
#include <memory>
#include <utility>

#include "common/check.h"
#include "common/status_macros.h"
#include "worker/client/push_pull_round.h"
#include "worker/client/shard_client.h"

namespace cddp::worker {

absl::Status ShardClient::BeginPushPull(std::span<float> params) {
  CDDP_RETURN_IF_ERROR(CheckParamsSize(params));
  CDDP_RETURN_IF_ERROR(parts_.Open(params));
  for (ShardPairs& pairs : split_) pairs = {};
  open_round_ = OpenRound(shard_steps_, /*hold_ahead=*/true, params);
  return absl::OkStatus();
}

absl::Status ShardClient::PushPullPart(uint64_t from,
                                       const common::SparseSelection& pairs) {
  const uint64_t covered_before = parts_.covered_from;
  CDDP_RETURN_IF_ERROR(parts_.Add(from, pairs));
  StartCoveredShards(covered_before);
  return absl::OkStatus();
}

void ShardClient::StartCoveredShards(uint64_t covered_before) {
  PushPullRound& round = *open_round_;
  for (uint32_t s = shard_map_.num_shards(); s-- > 0;) {
    if (shard_map_.begin(s) < parts_.covered_from) break;
    if (shard_map_.begin(s) >= covered_before) continue;  // covered before
    common::SparseSelection& pairs = collected_[s];
    parts_.Collect(shard_map_.begin(s), shard_map_.end(s), &pairs);
    split_[s] = {pairs.indices, pairs.values};
    if (!round.held[s]) round.started[s] = StartPushPull(round, s);
  }
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::FinishPushPull(
    common::SparseSelection* undelivered) {
  if (!parts_.open) {
    return absl::FailedPreconditionError(
        "FinishPushPull without BeginPushPull");
  }
  if (undelivered != nullptr) undelivered->clear();
  // Below the last part: no pairs.
  const uint64_t covered_before = parts_.covered_from;
  CDDP_CHECK(parts_.Add(0, common::SparseSelection()).ok());
  StartCoveredShards(covered_before);
  std::unique_ptr<PushPullRound> round = std::move(open_round_);
  CDDP_CHECK(parts_.Close().ok());
  return CloseRound(*round, undelivered);
}

ShardClient::~ShardClient() {
  if (open_round_ == nullptr) return;
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    if (!open_round_->started[s]) continue;
    open_round_->calls[s]->context()->TryCancel();
    (void)open_round_->started[s]();
  }
}

}  // namespace cddp::worker
