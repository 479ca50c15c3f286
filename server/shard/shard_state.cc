#include "server/shard/shard_state.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/compress/topk.h"
#include "common/wire/shard_map.h"
#include "server/shard/aggregate.h"

namespace cddp::server {

static_assert(std::endian::native == std::endian::little,
              "wire values are little-endian fp32 copied as-is");

namespace {

// Tells a repeat of a push from a different push for the same step. Only
// compared within one server process, so absl's per-process seed is fine.
uint64_t ChunkDigest(const common::EncodedChunkView& c) {
  return absl::Hash<
      std::tuple<uint32_t, int, int, std::string_view, std::string_view>>{}(
      std::make_tuple(c.count, c.value_type, c.index_encoding, c.indices,
                      c.values));
}

}  // namespace

ShardState::ShardState(const ShardOptions& options, Clock* clock,
                       ServerMetrics* metrics, RoundObserver* observer,
                       CheckpointSink* checkpoint_sink,
                       uint64_t checkpoint_every)
    : ShardState(options, MakeUpdateRule(options.optimizer), clock, metrics,
                 observer, checkpoint_sink, checkpoint_every) {}

ShardState::ShardState(const ShardOptions& options,
                       std::unique_ptr<UpdateRule> rule, Clock* clock,
                       ServerMetrics* metrics, RoundObserver* observer,
                       CheckpointSink* checkpoint_sink,
                       uint64_t checkpoint_every)
    : options_(options),
      clock_(clock),
      metrics_(metrics),
      observer_(observer),
      checkpoint_sink_(checkpoint_sink),
      checkpoint_every_(checkpoint_sink != nullptr ? checkpoint_every : 0),
      rule_(std::move(rule)) {
  CDDP_CHECK(options_.Validate().ok());
  CDDP_CHECK(rule_ != nullptr);
  rule_->set_threads(options_.threads);
  CDDP_CHECK(options_.downlink != DownlinkMode::kSparse ||
             rule_->TouchesOnlyPushed());
  joined_.assign(options_.num_workers, false);
  pending_.resize(options_.num_workers);
  spare_.resize(options_.num_workers);
  pushed_.assign(options_.num_workers, false);
  last_contributed_.assign(options_.num_workers, false);
  counted_step_.assign(options_.num_workers, kNone);
  open_digest_.assign(options_.num_workers, 0);
  last_digest_.assign(options_.num_workers, 0);
}

absl::Status ShardState::Push(uint32_t worker_id, uint32_t shard_index,
                              uint64_t step,
                              const common::EncodedChunkView& chunk,
                              size_t wire_bytes, PushWaiter* waiter,
                              uint64_t* current_step) {
  // Decode and validate before taking the lock: it touches no shared state
  // and is the costly part of a push. The shard's size is fixed once it
  // has values (0 before, when the push is refused below as not joined,
  // whatever its chunk). The outcome counts only for a new push, and only
  // after admission, so the errors and their precedence are unchanged.
  const uint32_t decoded_size = decode_size();
  common::SparseSelection decoded;
  absl::Status decoded_status =
      common::DecodeChunk(chunk, decoded_size, &decoded);
  return Enter(
      worker_id, shard_index, step, std::move(decoded),
      std::move(decoded_status), decoded_size,
      [&](uint32_t n, common::SparseSelection* out) {
        return common::DecodeChunk(chunk, n, out);
      },
      ChunkDigest(chunk), wire_bytes, waiter, current_step);
}

absl::Status ShardState::PushAssembled(uint32_t worker_id, uint32_t shard_index,
                                       uint64_t step,
                                       common::SparseSelection pairs,
                                       uint32_t decoded_size, uint64_t digest,
                                       size_t wire_bytes, PushWaiter* waiter,
                                       uint64_t* current_step) {
  return Enter(
      worker_id, shard_index, step, std::move(pairs), absl::OkStatus(),
      decoded_size,
      [](uint32_t, common::SparseSelection*) {
        return absl::UnavailableError(
            "the shard received its values while this push arrived; push "
            "again");
      },
      digest, wire_bytes, waiter, current_step);
}

common::RecycledPush ShardState::SpareBuffer(uint32_t worker_id) {
  absl::MutexLock lock(&mu_);
  if (worker_id >= spare_.size()) return {};
  return std::move(spare_[worker_id]);
}

absl::Status ShardState::Enter(
    uint32_t worker_id, uint32_t shard_index, uint64_t step,
    common::SparseSelection decoded, absl::Status decoded_status,
    uint32_t decoded_size,
    absl::FunctionRef<absl::Status(uint32_t, common::SparseSelection*)>
        redecode,
    uint64_t digest, size_t wire_bytes, PushWaiter* waiter,
    uint64_t* current_step) {
  Delivery delivery;
  {
    absl::MutexLock lock(&mu_);
    Admission admission = Admission::kNew;
    absl::Status s =
        Admit(worker_id, shard_index, step, digest, &admission, current_step);
    if (!s.ok()) return s;
    switch (admission) {
      case Admission::kNew: {
        // The shard got its values while this push decoded (it raced its
        // own worker's join): decode again against the real size.
        const uint64_t n = values_.size();
        if (n != decoded_size) {
          decoded_status = redecode(static_cast<uint32_t>(n), &decoded);
        }
        if (!decoded_status.ok()) {
          if (absl::IsInvalidArgument(decoded_status)) {
            metrics_->Reject(RejectReason::kInvalidChunk);
          }
          metrics_->pushes_rejected.Increment();
          return decoded_status;
        }
        AcceptNew(worker_id, std::move(decoded), digest, wire_bytes, waiter,
                  &delivery);
        break;
      }
      case Admission::kDuplicateOpen:
        metrics_->pushes_duplicate.Increment();
        waiters_.push_back({waiter, worker_id});
        MaybeClose(&delivery);
        break;
      case Admission::kReplayClosed:
        metrics_->pushes_duplicate.Increment();
        ++leases_;
        delivery.waiters.push_back(waiter);
        delivery.result = last_result_;
        delivery.lease = lease_id_.load(std::memory_order_relaxed);
        break;
    }
  }
  Deliver(std::move(delivery));
  return absl::OkStatus();
}

void ShardState::AcceptNew(uint32_t worker_id, common::SparseSelection decoded,
                           uint64_t digest, size_t wire_bytes,
                           PushWaiter* waiter, Delivery* delivery) {
  if (pushed_count_ == 0) first_push_ = clock_->Now();
  last_push_ = clock_->Now();
  // The storage of the push this worker made before is the spare for its
  // next one. Accepted pushes hold distinct ascending indices, so if it
  // has n of them and the last is n - 1 they are 0..n-1.
  common::RecycledPush& spare = spare_[worker_id];
  spare.pairs = std::move(pending_[worker_id]);
  const size_t n = spare.pairs.size();
  spare.ascending_prefix = n > 0 && spare.pairs.indices.back() == n - 1 ? n : 0;
  pending_[worker_id] = std::move(decoded);
  pushed_[worker_id] = true;
  open_digest_[worker_id] = digest;
  ++pushed_count_;
  waiters_.push_back({waiter, worker_id});
  metrics_->pushes_accepted.Increment();
  metrics_->received_wire_bytes.Increment(static_cast<double>(wire_bytes));
  metrics_->received_dense_equivalent_bytes.Increment(
      static_cast<double>(values_.size() * sizeof(float)));
  if (pushed_count_ == options_.num_workers) MarkReady(CloseCause::kAllPushed);
  MaybeClose(delivery);
}

void ShardState::MarkReady(CloseCause cause) {
  if (ready_) return;
  ready_ = true;
  ready_cause_ = cause;
  ready_since_ = clock_->Now();
}

bool ShardState::CancelWaiter(PushWaiter* waiter) {
  absl::MutexLock lock(&mu_);
  const auto it =
      std::find_if(waiters_.begin(), waiters_.end(),
                   [&](const Waiting& w) { return w.waiter == waiter; });
  if (it == waiters_.end()) return false;
  waiters_.erase(it);
  return true;
}

absl::StatusOr<ReadLease> ShardState::BeginRead() {
  absl::MutexLock lock(&mu_);
  if (draining_) {
    metrics_->Reject(RejectReason::kShuttingDown);
    return absl::UnavailableError("server is shutting down");
  }
  if (!initialized_) {
    metrics_->Reject(RejectReason::kNotInitialized);
    return absl::FailedPreconditionError(
        absl::StrCat("shard ", options_.shard_index,
                     " has no values yet: no worker joined"));
  }
  ++leases_;
  return ReadLease{open_round_, lease_id_.load(std::memory_order_relaxed)};
}

void ShardState::EndRead(uint64_t lease) {
  Delivery delivery;
  {
    absl::MutexLock lock(&mu_);
    if (lease != lease_id_.load(std::memory_order_relaxed)) return;  // revoked
    CDDP_CHECK(leases_ > 0);
    --leases_;
    MaybeClose(&delivery);
  }
  Deliver(std::move(delivery));
}

bool ShardState::ReadValues(
    uint64_t lease,
    absl::FunctionRef<void(std::span<const float>)> read) const {
  absl::ReaderMutexLock lock(&values_mu_);
  if (lease != lease_id_.load(std::memory_order_acquire)) return false;
  read(values());
  return true;
}

std::span<const float> ShardState::values() const {
  return options_.downlink == DownlinkMode::kCompressed ? workers_copy_.span()
                                                        : values_.span();
}

void ShardState::PollTimeout() {
  Delivery delivery;
  {
    absl::MutexLock lock(&mu_);
    if (pushed_count_ == 0) return;
    const absl::Time now = clock_->Now();
    if (!ready_ && now - first_push_ >= options_.round_timeout) {
      MarkReady(CloseCause::kTimeout);
    }
    if (ready_ && leases_ > 0 && now - ready_since_ >= options_.reply_timeout) {
      // Readers that kept the round waiting this long lose their leases:
      // from here on ReadValues refuses them and their streams fail.
      metrics_->leases_revoked.Increment(leases_);
      leases_ = 0;
      lease_id_.fetch_add(1, std::memory_order_release);
    }
    MaybeClose(&delivery);
  }
  Deliver(std::move(delivery));
}

void ShardState::BeginDrain() {
  Delivery delivery;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    if (pushed_count_ > 0) MarkReady(CloseCause::kShutdown);
    MaybeClose(&delivery);
  }
  Deliver(std::move(delivery));
}

uint64_t ShardState::step() const {
  absl::MutexLock lock(&mu_);
  return open_round_;
}

uint64_t ShardState::size() const {
  absl::MutexLock lock(&mu_);
  return values_.size();
}

bool ShardState::Idle() const {
  absl::MutexLock lock(&mu_);
  return pushed_count_ == 0 && leases_ == 0;
}

uint32_t ShardState::pushed_count() const {
  absl::MutexLock lock(&mu_);
  return pushed_count_;
}

void ShardState::MaybeClose(Delivery* out) {
  if (!ready_ || leases_ > 0 || pushed_count_ == 0) return;
  RoundTrace& trace = out->trace;
  out->traced = observer_ != nullptr;
  trace.closed_round = open_round_;
  trace.contributors = pushed_count_;
  trace.cause = ready_cause_;
  trace.first_push = first_push_;
  trace.last_push = last_push_;
  trace.close_start = clock_->Now();
  auto result = std::make_shared<RoundResult>();
  if (absl::Status s = Aggregate(result.get()); !s.ok()) {
    out->traced = false;
    Refuse(std::move(s), out);
    return;
  }
  trace.close_end = clock_->Now();

  ++open_round_;
  result->open_round = open_round_;
  result->contributors = pushed_count_;
  metrics_->RoundClosed(ready_cause_);
  metrics_->round_contributors.Observe(pushed_count_);
  metrics_->pushes_counted.Increment(pushed_count_);
  metrics_->last_round_contributors.Set(pushed_count_);
  metrics_->current_step.Set(static_cast<double>(open_round_));
  metrics_->aggregation_seconds.Observe(
      absl::ToDoubleSeconds(trace.close_end - trace.close_start));
  metrics_->round_duration_seconds.Observe(
      absl::ToDoubleSeconds(trace.close_end - first_push_));

  if (checkpoint_every_ > 0 && open_round_ % checkpoint_every_ == 0) {
    out->checkpoint = SnapshotLocked();
  }
  for (uint32_t w = 0; w < options_.num_workers; ++w) {
    if (pushed_[w]) counted_step_[w] = open_round_ - 1;
  }
  last_contributed_ = pushed_;
  last_digest_ = open_digest_;
  last_result_ = result;
  std::fill(pushed_.begin(), pushed_.end(), false);
  pushed_count_ = 0;
  ready_ = false;
  for (const Waiting& w : waiters_) out->waiters.push_back(w.waiter);
  waiters_.clear();
  leases_ += static_cast<int>(out->waiters.size());
  out->lease = lease_id_.load(std::memory_order_relaxed);
  out->result = std::move(result);
}

void ShardState::Refuse(absl::Status why, Delivery* out) {
  metrics_->rounds_refused.Increment();
  for (uint32_t w = 0; w < options_.num_workers; ++w) {
    if (!pushed_[w]) continue;
    metrics_->Reject(RejectReason::kNonFiniteRound);
    metrics_->pushes_rejected.Increment();
    pending_[w].clear();
  }
  auto result = std::make_shared<RoundResult>();
  result->open_round = open_round_;
  result->refused = std::move(why);
  std::fill(pushed_.begin(), pushed_.end(), false);
  pushed_count_ = 0;
  ready_ = false;
  for (const Waiting& w : waiters_) out->waiters.push_back(w.waiter);
  waiters_.clear();
  out->result = std::move(result);
}

absl::Status ShardState::Aggregate(RoundResult* result) {
  std::vector<const common::SparseSelection*> present;
  size_t pushed_pairs = 0;
  for (uint32_t w = 0; w < options_.num_workers; ++w) {
    if (!pushed_[w]) continue;
    present.push_back(&pending_[w]);
    pushed_pairs += pending_[w].size();
  }
  const float scale = 1.0f / static_cast<float>(pushed_count_);
  // Beyond the bound also for NaN: finite pushes can sum to infinity.
  const AverageBound bound{scale, kMaxAbsGradient};
  if (!SumRound(present, &sum_, bound, options_.threads)) {
    const size_t k = FirstBeyondBound(sum_.values, bound);
    return absl::InvalidArgumentError(absl::StrCat(
        "round ", open_round_, " of shard ", options_.shard_index,
        " refused: its averaged gradient at entry ", sum_.indices[k], " is ",
        sum_.values[k] * scale, " (beyond ", kMaxAbsGradient,
        "); nothing was applied, push this step again"));
  }
  // Readers with a revoked lease may still be copying a piece: wait for
  // them before any value changes.
  absl::WriterMutexLock values_lock(&values_mu_);
  // The rule moves the master values; what goes back is the downlink's
  // choice. A rule that touches only the pushed entries leaves their new
  // values in sum_, which the exact sparse downlink sends as they are.
  rule_->Apply(values_.span(), &sum_, scale);
  if (options_.downlink == DownlinkMode::kSparse) {
    result->sparse = true;
    EncodeSparsePieces(sum_, options_.sparse_piece_pairs,
                       common::ValueType::kFp32, &result->sparse_pieces);
  }
  if (options_.downlink == DownlinkMode::kCompressed) {
    CompressDownlink(pushed_pairs, result);
  }
  return absl::OkStatus();
}

void ShardState::CompressDownlink(size_t pushed_pairs, RoundResult* result) {
  const size_t n = values_.size();
  const size_t k = options_.downlink_density.has_value()
                       ? common::TopKCount(n, *options_.downlink_density)
                       : std::min(n, pushed_pairs);
  const DownlinkRound round =
      downlink_.Select(values_.span(), workers_copy_.span(), k,
                       options_.downlink_value_type, &sent_);
  result->sparse = true;
  result->delta = true;
  EncodeSparsePieces(sent_, options_.sparse_piece_pairs,
                     options_.downlink_value_type, &result->sparse_pieces);
  metrics_->downlink_residual_norm.Set(std::sqrt(round.residual_sq_norm));
  metrics_->downlink_density.Set(
      n == 0 ? 0.0 : static_cast<double>(round.sent) / static_cast<double>(n));
}

void ShardState::Deliver(Delivery delivery) {
  for (PushWaiter* w : delivery.waiters) {
    w->OnRoundClosed(delivery.result, delivery.lease);
  }
  if (delivery.traced) {
    observer_->OnRoundClosed(options_.shard_index, delivery.trace);
  }
  if (delivery.checkpoint) {
    checkpoint_sink_->OnCheckpoint(std::move(delivery.checkpoint));
  }
}

}  // namespace cddp::server
