// ShardState's join side: checking a worker's layout against the shard's
// and taking the shard's initial values from the first worker that brings
// them. Kept apart from the round machinery in shard_state.cc; see
// shard_state.h for the contracts.
#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/huge_pages.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

absl::StatusOr<ShardState::JoinResult> ShardState::Join(
    uint32_t worker_id, uint32_t shard_index, const Layout& layout,
    std::optional<std::string_view> initial_values, bool applies_deltas,
    bool applies_momentum) {
  absl::MutexLock lock(&mu_);
  const auto reject = [&](RejectReason r, absl::Status s) {
    metrics_->Reject(r);
    return s;
  };
  if (draining_) {
    return reject(RejectReason::kShuttingDown,
                  absl::UnavailableError("server is shutting down"));
  }
  if (shard_index != options_.shard_index) {
    return reject(RejectReason::kWrongShard,
                  absl::InvalidArgumentError(absl::StrCat(
                      "wrong shard: request for shard ", shard_index,
                      ", this server holds shard ", options_.shard_index)));
  }
  if (worker_id >= options_.num_workers) {
    return reject(RejectReason::kUnknownWorker,
                  absl::InvalidArgumentError(absl::StrCat(
                      "unknown worker ", worker_id, ": the job has ",
                      options_.num_workers, " workers")));
  }
  if (auto s = CheckLayout(layout, options_.num_shards,
                           initialized_ ? &layout_ : nullptr);
      !s.ok()) {
    return reject(RejectReason::kFingerprintMismatch, s);
  }
  if (options_.downlink == DownlinkMode::kCompressed && !applies_deltas) {
    return reject(
        RejectReason::kWorkerTooOld,
        absl::FailedPreconditionError(absl::StrCat(
            "shard ", options_.shard_index,
            " runs the compressed downlink, whose replies are differences "
            "to add; worker ",
            worker_id,
            " is older than that and would take them for new values: "
            "upgrade the worker, or run the servers with --downlink=dense")));
  }
  if (applies_momentum && options_.optimizer.HasMomentum()) {
    return reject(
        RejectReason::kMomentumTwice,
        absl::FailedPreconditionError(absl::StrCat(
            "worker ", worker_id,
            " applies momentum itself (--dgc_momentum) and shard ",
            options_.shard_index,
            " runs an optimizer with momentum (--momentum or "
            "--optimizer=adam): momentum would apply twice. Run the servers "
            "with --optimizer=sgd --momentum=0 (and --downlink=sparse), or "
            "the workers with --dgc_momentum=0")));
  }
  JoinResult result;
  result.downlink = options_.downlink;
  if (!initialized_ && !initial_values.has_value()) {
    result.needs_initial_values = true;
    result.open_round = open_round_;
    return result;
  }
  if (!initialized_) {
    if (auto s = TakeInitialValues(shard_index, layout, *initial_values);
        !s.ok()) {
      return reject(RejectReason::kBadInitialValues, s);
    }
    result.initialized_by_this_worker = true;
  }
  joined_[worker_id] = true;
  result.open_round = open_round_;
  if (pushed_[worker_id]) {
    result.counted_step = open_round_;
  } else if (counted_step_[worker_id] != kNone) {
    result.counted_step = counted_step_[worker_id];
  }
  return result;
}

absl::Status ShardState::TakeInitialValues(uint32_t shard_index,
                                           const Layout& layout,
                                           std::string_view initial_values) {
  const uint64_t n =
      layout.shard_bounds[shard_index + 1] - layout.shard_bounds[shard_index];
  if (initial_values.size() != n * sizeof(float)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "initial values have ", initial_values.size(), " bytes; shard ",
        shard_index, " needs ", n, " fp32 (", n * sizeof(float), " bytes)"));
  }
  common::HugePageFloats values(n);
  std::memcpy(values.data(), initial_values.data(), initial_values.size());
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values.data()[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("initial value ", i, " is not finite"));
    }
  }
  AdoptValues(std::move(values), {});
  layout_ = layout;
  initialized_ = true;
  return absl::OkStatus();
}

void ShardState::AdoptValues(common::HugePageFloats values,
                             std::span<const float> copy) {
  const size_t n = values.size();
  if (options_.downlink == DownlinkMode::kCompressed) {
    common::HugePageFloats workers_copy(n);
    const float* from = copy.empty() ? values.data() : copy.data();
    if (n > 0) std::memcpy(workers_copy.data(), from, n * sizeof(float));
    workers_copy_ = std::move(workers_copy);
  }
  values_ = std::move(values);
  decode_size_.store(static_cast<uint32_t>(n), std::memory_order_release);
}

}  // namespace cddp::server
