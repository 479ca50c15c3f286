// ShardClient's PushPull of an uncompressed gradient (shard_client.h):
// each shard's run of the caller's dense gradient is pushed as it is, with
// no index built, checked or kept. Retries and gathering are PushPull's
// (CloseRound, shard_client.cc).
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/client/push_pull_round.h"
#include "worker/client/shard_client.h"

namespace cddp::worker {

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPullDense(
    std::span<const float> gradient, std::span<float> params,
    common::SparseSelection* undelivered) {
  return PushPullDenseAt(shard_steps_, /*hold_ahead=*/true, gradient, params,
                         undelivered);
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPullDense(
    uint64_t step, std::span<const float> gradient, std::span<float> params,
    common::SparseSelection* undelivered) {
  return PushPullDenseAt(std::vector<uint64_t>(shard_map_.num_shards(), step),
                         /*hold_ahead=*/false, gradient, params, undelivered);
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPullDenseAt(
    std::vector<uint64_t> steps, bool hold_ahead,
    std::span<const float> gradient, std::span<float> params,
    common::SparseSelection* undelivered) {
  CDDP_RETURN_IF_ERROR(CheckNotOverlapped(undelivered));
  CDDP_RETURN_IF_ERROR(CheckParamsSize(params));
  if (gradient.size() != shard_map_.total_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a dense gradient of ", gradient.size(),
                     " values for a flat vector of ", shard_map_.total_size()));
  }
  SplitDense(gradient);
  std::unique_ptr<PushPullRound> round =
      OpenRound(std::move(steps), hold_ahead, params);
  round->lend_values = true;
  return CloseRound(*round, undelivered);
}

void ShardClient::SplitDense(std::span<const float> gradient) {
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    split_[s] = {{},
                 gradient.subspan(shard_map_.begin(s), shard_map_.size(s)),
                 /*whole=*/true};
  }
}

}  // namespace cddp::worker
