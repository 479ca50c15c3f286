// ShardState's admission of a push: who may push, for which step, and
// whether a push for a step already counted is its repeat (answered) or a
// different push (refused). Kept apart from the round machinery in
// shard_state.cc; see shard_state.h for the contracts.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

absl::Status ShardState::Admit(uint32_t worker_id, uint32_t shard_index,
                               uint64_t step, uint64_t digest,
                               Admission* admission, uint64_t* current_step) {
  bool late = false;
  absl::Status s = AdmitUncounted(worker_id, shard_index, step, digest,
                                  admission, current_step, &late);
  // Pushes are counted by outcome: late ones have their own.
  if (!s.ok() && !late) metrics_->pushes_rejected.Increment();
  return s;
}

absl::Status ShardState::CheckRepeat(uint32_t worker_id, uint64_t step,
                                     uint64_t digest, uint64_t counted_digest) {
  if (digest == counted_digest) return absl::OkStatus();
  metrics_->Reject(RejectReason::kConflictingPush);
  return absl::AlreadyExistsError(absl::StrCat(
      "worker ", worker_id, " already pushed a different gradient for step ",
      step, " to shard ", options_.shard_index,
      "; that one is counted, this one is not"));
}

int ShardState::WaitingOf(uint32_t worker_id) const {
  return static_cast<int>(
      std::count_if(waiters_.begin(), waiters_.end(),
                    [&](const Waiting& w) { return w.worker == worker_id; }));
}

absl::Status ShardState::PreAdmit(uint32_t worker_id, uint32_t shard_index,
                                  uint64_t step, uint64_t* current_step) {
  absl::MutexLock lock(&mu_);
  Admission admission = Admission::kNew;
  bool late = false;
  absl::Status s =
      Address(worker_id, shard_index, step, &admission, current_step, &late);
  if (!s.ok() && !late) metrics_->pushes_rejected.Increment();
  return s;
}

absl::Status ShardState::AdmitUncounted(uint32_t worker_id,
                                        uint32_t shard_index, uint64_t step,
                                        uint64_t digest, Admission* admission,
                                        uint64_t* current_step, bool* late) {
  CDDP_RETURN_IF_ERROR(
      Address(worker_id, shard_index, step, admission, current_step, late));
  switch (*admission) {
    case Admission::kNew:
      return absl::OkStatus();
    case Admission::kDuplicateOpen:
      CDDP_RETURN_IF_ERROR(
          CheckRepeat(worker_id, step, digest, open_digest_[worker_id]));
      if (WaitingOf(worker_id) >= kMaxWaitingPerWorker) {
        metrics_->Reject(RejectReason::kTooManyWaiting);
        return absl::ResourceExhaustedError(
            absl::StrCat("worker ", worker_id, " already has ",
                         kMaxWaitingPerWorker, " calls waiting for step ", step,
                         " on shard ", options_.shard_index));
      }
      return absl::OkStatus();
    case Admission::kReplayClosed:
      return CheckRepeat(worker_id, step, digest, last_digest_[worker_id]);
  }
  return absl::OkStatus();
}

absl::Status ShardState::Address(uint32_t worker_id, uint32_t shard_index,
                                 uint64_t step, Admission* admission,
                                 uint64_t* current_step, bool* late) {
  *current_step = open_round_;
  if (draining_) {
    metrics_->Reject(RejectReason::kShuttingDown);
    return absl::UnavailableError("server is shutting down");
  }
  if (shard_index != options_.shard_index) {
    metrics_->Reject(RejectReason::kWrongShard);
    return absl::InvalidArgumentError(
        absl::StrCat("wrong shard: push for shard ", shard_index,
                     ", this server holds shard ", options_.shard_index));
  }
  if (worker_id >= options_.num_workers) {
    metrics_->Reject(RejectReason::kUnknownWorker);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown worker ", worker_id, ": the job has ",
                     options_.num_workers, " workers"));
  }
  if (!initialized_ || !joined_[worker_id]) {
    metrics_->Reject(RejectReason::kNotJoined);
    return absl::FailedPreconditionError(absl::StrCat(
        "worker ", worker_id, " has not joined shard ", options_.shard_index));
  }
  if (step == open_round_) {
    *admission =
        pushed_[worker_id] ? Admission::kDuplicateOpen : Admission::kNew;
    return absl::OkStatus();
  }
  if (step + 1 == open_round_ && last_contributed_[worker_id] && last_result_) {
    *admission = Admission::kReplayClosed;
    return absl::OkStatus();
  }
  metrics_->Reject(RejectReason::kStepMismatch);
  if (step < open_round_) {
    *late = true;
    metrics_->pushes_late.Increment();
    return absl::FailedPreconditionError(
        absl::StrCat("late push: step ", step,
                     " already closed; current step is ", open_round_));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "push for future step ", step, "; current step is ", open_round_));
}

}  // namespace cddp::server
