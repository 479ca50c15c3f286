// The state of one parameter-server shard: its slice of the flat parameter
// vector, its update rule (the optimizer, injected), the workers that joined,
// and the open round that buffers this step's pushes until every expected
// worker pushed (or the round timeout passed), then sums them in worker-id
// order, averages over the contributors and applies the optimizer.
//
// No gRPC here: the service hands in decoded-or-raw requests and a
// PushWaiter that is told when its round closes. Handlers never wait: a push
// that does not close its round just leaves its waiter behind.
//
// Under the compressed downlink the shard keeps two copies of its slice: the
// master values the update rule moves and the copy every worker holds, which
// moves only by what replies send (downlink_compressor.h). values() is
// always what the workers hold: pulls and the end-of-job check read the
// copy; checkpoints store both.
//
// Reads of the values (dense replies, pulls) happen outside the lock under a
// read lease (BeginRead/EndRead, or the one each waiter is handed), a piece
// at a time through ReadValues. A round that is ready to close while leases
// are out closes when the last one ends, so a reply streamed in pieces never
// mixes two steps — or once it has waited ShardOptions::reply_timeout for
// them: then every lease out is revoked (ReadValues refuses it from then
// on, and its reader fails its stream where it has to read; a push's reply
// sends its round's shared pieces, server/reply_caches.h), so a reader that
// stops reading cannot stall the shard.
//
// Exactly once: a worker's push is counted at most once per step. A repeat
// of the counted push (the same chunk) is answered with its round's result;
// a different push for a (worker, step) already counted is refused
// (ALREADY_EXISTS), and Join tells a worker which step its last counted push
// was for, so a worker whose call failed knows whether the servers applied
// it. A round whose averaged gradient is not finite, or beyond
// kMaxAbsGradient, is refused whole: no value or optimizer state changes,
// its pushes' senders get INVALID_ARGUMENT, and the round reopens empty.
//
// Checkpoints: Restore() resumes a fresh shard from a ShardCheckpoint;
// Snapshot() and the periodic snapshots handed to a CheckpointSink copy the
// state under the lock, so the file is written elsewhere, without it.
//
// Thread-safe: every public method may be called from any thread.
#ifndef CDDP_SERVER_SHARD_SHARD_STATE_H_
#define CDDP_SERVER_SHARD_SHARD_STATE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/compress/sparse.h"
#include "common/huge_pages.h"
#include "common/wire/push_pieces.h"
#include "common/wire/wire_codec.h"
#include "server/shard/clock.h"
#include "server/shard/downlink_compressor.h"
#include "server/shard/server_metrics.h"
#include "server/shard/shard_checkpoint.h"
#include "server/shard/shard_options.h"
#include "server/shard/sparse_reply.h"
#include "server/shard/update_rule.h"

namespace cddp::server {

// The outcome of a closed round, shared by all of its waiters. Immutable.
struct RoundResult {
  // The round the shard collects next, which is also the number of rounds
  // closed so far (the wire's "step the shard expects next").
  uint64_t open_round = 0;
  uint32_t contributors = 0;
  // Sparse and compressed downlinks: the round's reply as ascending pieces
  // of at most ShardOptions::sparse_piece_pairs pairs (at least one piece,
  // possibly empty). Sparse: the entries the round changed with their new
  // values. Compressed (`delta`): differences a worker adds to its copy.
  bool sparse = false;
  bool delta = false;
  std::vector<SparsePiece> sparse_pieces;
  // Not OK for a round refused whole (non-finite update): nothing changed,
  // open_round is the same round again, and its waiters hold no lease.
  absl::Status refused;
};

// The largest |averaged gradient| entry a round may apply: beyond it (or
// non-finite) the round is refused. 1e18 keeps every optimizer's state
// finite (Adam squares it).
inline constexpr float kMaxAbsGradient = 1e18f;

// A read lease: the step it reads and its id for ReadValues/EndRead.
struct ReadLease {
  uint64_t step = 0;
  uint64_t id = 0;
};

// Timestamps of one round (from the injected clock), for benchmarks.
struct RoundTrace {
  uint64_t closed_round = 0;  // the round that closed
  uint32_t contributors = 0;
  CloseCause cause = CloseCause::kAllPushed;
  absl::Time first_push, last_push, close_start, close_end;
};

class RoundObserver {
 public:
  virtual ~RoundObserver() = default;
  // Called after each close, outside the shard's lock. Must not block.
  virtual void OnRoundClosed(uint32_t shard_index, const RoundTrace& trace) = 0;
};

// Receives the shard's periodic checkpoints (the Server's CheckpointWriter).
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  // Called outside the shard's lock, on the thread that closed the round.
  // Must not block (queue the snapshot and write it elsewhere).
  virtual void OnCheckpoint(std::unique_ptr<ShardCheckpoint> snapshot) = 0;
};

// Implemented by whatever answers a push (the gRPC reactor).
class PushWaiter {
 public:
  virtual ~PushWaiter() = default;
  // Called once when the waiter's round has closed (possibly from inside
  // ShardState::Push, always outside the shard's lock), unless
  // CancelWaiter() returned true for it first. Unless result->refused is an
  // error, the waiter then holds read lease `lease` and must call
  // ShardState::EndRead(lease) once it stopped reading the values.
  virtual void OnRoundClosed(std::shared_ptr<const RoundResult> result,
                             uint64_t lease) = 0;
};

class ShardState {
 public:
  // `options` must have passed Validate(); `clock` and `metrics` outlive
  // this; `observer` may be null. With a `checkpoint_sink` (outlives this)
  // and checkpoint_every > 0, every round that closes at a step that is a
  // multiple of checkpoint_every hands the sink a snapshot taken at that
  // step (copied under the lock as part of the close).
  // The shard runs MakeUpdateRule(options.optimizer).
  ShardState(const ShardOptions& options, Clock* clock, ServerMetrics* metrics,
             RoundObserver* observer, CheckpointSink* checkpoint_sink = nullptr,
             uint64_t checkpoint_every = 0);
  // The same with the shard's update rule given (not null). With the sparse
  // downlink the rule must touch only the pushed entries.
  ShardState(const ShardOptions& options, std::unique_ptr<UpdateRule> rule,
             Clock* clock, ServerMetrics* metrics, RoundObserver* observer,
             CheckpointSink* checkpoint_sink = nullptr,
             uint64_t checkpoint_every = 0);

  // Resumes from a checkpoint, before any worker joined: values, optimizer
  // state, step and layout are the checkpoint's; joining workers must then
  // match that layout and their initial values are ignored. Errors (state
  // unchanged): FAILED_PRECONDITION if the shard already has values, or as
  // CheckShardCheckpoint for a checkpoint of another shard, job shape or
  // optimizer; INVALID_ARGUMENT for an inconsistent one.
  absl::Status Restore(const ShardCheckpoint& checkpoint);

  // A consistent copy of the shard (values, optimizer state, step, layout),
  // taken under the lock (no round closes halfway through it).
  // FAILED_PRECONDITION before the shard has values (no join, no restore).
  absl::StatusOr<std::unique_ptr<ShardCheckpoint>> Snapshot() const;

  struct JoinResult {
    uint64_t open_round = 0;  // the round the shard is collecting
    bool initialized_by_this_worker = false;
    // The shard has no values and the join carried none: nothing changed;
    // join again with initial values.
    bool needs_initial_values = false;
    DownlinkMode downlink = DownlinkMode::kDense;  // what replies carry
    // The step of this worker's last push this shard counted (the open
    // round's if it pushed to it), if any since the shard started or
    // resumed.
    std::optional<uint64_t> counted_step;
  };
  // Registers `worker_id`. The first join with `initial_values` (fp32
  // little-endian, this shard's size) sets the layout and the shard's
  // values from them; later joins must carry the same layout and their
  // values, if any, are ignored. A join without values before the shard has
  // any is checked as any other, then answered needs_initial_values.
  // Errors (state unchanged): INVALID_ARGUMENT for a wrong shard, an unknown
  // worker, a layout inconsistent with this server, or initial values of the
  // wrong size or non-finite; FAILED_PRECONDITION when the layout differs
  // from the one the shard was initialised with (the message says what);
  // UNAVAILABLE while shutting down. Under the compressed downlink a worker
  // that does not apply delta replies (`applies_deltas` false: a worker
  // older than that downlink, which would take the differences for new
  // values) is refused with FAILED_PRECONDITION; so is a worker that
  // applies momentum itself (`applies_momentum`: DGC) when this shard's
  // optimizer has momentum too.
  absl::StatusOr<JoinResult> Join(
      uint32_t worker_id, uint32_t shard_index, const Layout& layout,
      std::optional<std::string_view> initial_values,
      bool applies_deltas = true, bool applies_momentum = false);

  // Validates a push (decoding its chunk before taking the lock, so the
  // push is admitted in one critical section) and buffers it for `step`'s
  // round; `waiter` is answered
  // when that round closes. Returns OK once the waiter is registered (it may
  // already have been answered). Errors (nothing buffered, waiter never
  // called): UNAVAILABLE while shutting down; INVALID_ARGUMENT for a wrong
  // shard, unknown worker or a chunk breaking a codec rule;
  // FAILED_PRECONDITION if the worker has not joined, or `step` is not the
  // open one — then *current_step holds the step the shard expects. A push
  // repeated (the same chunk) for the open step, or for the step that just
  // closed by a worker that contributed to it, is answered with that round's
  // result and not counted again; ALREADY_EXISTS for a different chunk for
  // a (worker, step) already counted; RESOURCE_EXHAUSTED when
  // kMaxWaitingPerWorker calls of this worker already wait for the open
  // round. `wire_bytes` is only for metrics.
  absl::Status Push(uint32_t worker_id, uint32_t shard_index, uint64_t step,
                    const common::EncodedChunkView& chunk, size_t wire_bytes,
                    PushWaiter* waiter, uint64_t* current_step);

  // Push for a push that arrived in pieces and was assembled (and so
  // decoded and validated) already: `pairs` against `decoded_size`
  // elements, which must be decode_size() read before the first piece, with
  // the assembler's `digest`. Admitted and answered as Push; if the shard
  // got its values after decoded_size was read, UNAVAILABLE (push again).
  absl::Status PushAssembled(uint32_t worker_id, uint32_t shard_index,
                             uint64_t step, common::SparseSelection pairs,
                             uint32_t decoded_size, uint64_t digest,
                             size_t wire_bytes, PushWaiter* waiter,
                             uint64_t* current_step);
  // The refusals of Push that do not depend on the push's content (shutting
  // down, wrong shard, unknown or unjoined worker, a step neither open nor
  // just closed), checked and counted as Push would: lets a push that
  // arrives in pieces be refused before its pieces are decoded. OK means
  // nothing yet: PushAssembled admits the push.
  absl::Status PreAdmit(uint32_t worker_id, uint32_t shard_index, uint64_t step,
                        uint64_t* current_step);
  // The size pushes are decoded against: the shard's size, 0 before it
  // has values.
  uint32_t decode_size() const {
    return decode_size_.load(std::memory_order_acquire);
  }
  // A buffer to assemble `worker_id`'s next push in: the storage of its
  // push before last, with its contents, so that a push touches no fresh
  // pages and a whole-range push writes no index. Empty if there is none
  // (or the worker id is unknown).
  common::RecycledPush SpareBuffer(uint32_t worker_id);

  // Withdraws a waiter whose call was cancelled. True if it was withdrawn
  // (it will not be called); false if its round already closed and it has
  // been or is about to be called. The push itself stays counted.
  bool CancelWaiter(PushWaiter* waiter);

  // Calls of one worker that may wait for the open round at once.
  static constexpr int kMaxWaitingPerWorker = 2;

  // Starts a read lease at the current step; FAILED_PRECONDITION if no
  // worker has joined yet, UNAVAILABLE while shutting down.
  absl::StatusOr<ReadLease> BeginRead();
  // Ends a read lease (from BeginRead or a waiter); may close a ready round.
  // A revoked lease's end changes nothing.
  void EndRead(uint64_t lease);
  // Calls `read` with the values the workers hold (under the compressed
  // downlink their copy, otherwise the master values) and returns true,
  // unless `lease` was revoked (then false, and `read` is not called): the
  // reader must stop and fail its reply. `read` must not call into this.
  bool ReadValues(uint64_t lease,
                  absl::FunctionRef<void(std::span<const float>)> read) const;
  // The shard's size as the values' span (no lease needed for its size;
  // the contents only through ReadValues).
  std::span<const float> values() const;

  // Closes the open round if it has waited round_timeout since its first
  // push, and revokes the leases that keep a ready round waiting for longer
  // than reply_timeout. Called periodically by the server.
  void PollTimeout();
  // Stops accepting pushes and joins, and closes the open round with the
  // workers it has (once read leases allow).
  void BeginDrain();

  // The open round: the round the shard is collecting, which is also the
  // number of rounds closed so far (the wire's "step").
  uint64_t step() const;
  uint32_t shard_index() const { return options_.shard_index; }
  uint32_t num_workers() const { return options_.num_workers; }
  // Elements in this shard (0 before the first join).
  uint64_t size() const;
  // True once no round is open and no lease is out (for draining).
  bool Idle() const;
  // Workers that pushed for the open round (for tests and sequencing).
  uint32_t pushed_count() const;

 private:
  struct Waiting {
    PushWaiter* waiter;
    uint32_t worker;
  };
  struct Delivery {
    std::vector<PushWaiter*> waiters;
    uint64_t lease = 0;
    std::shared_ptr<const RoundResult> result;
    bool traced = false;
    RoundTrace trace;
    std::unique_ptr<ShardCheckpoint> checkpoint;  // periodic, for the sink
  };
  enum class Admission { kNew, kDuplicateOpen, kReplayClosed };

  absl::Status Admit(uint32_t worker_id, uint32_t shard_index, uint64_t step,
                     uint64_t digest, Admission* admission,
                     uint64_t* current_step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AdmitUncounted(uint32_t worker_id, uint32_t shard_index,
                              uint64_t step, uint64_t digest,
                              Admission* admission, uint64_t* current_step,
                              bool* late) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Who may push for which step: the content-independent part of
  // admission; sets *admission by the step.
  absl::Status Address(uint32_t worker_id, uint32_t shard_index, uint64_t step,
                       Admission* admission, uint64_t* current_step, bool* late)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The repeat of a counted push: OK if `digest` is the counted chunk's,
  // else ALREADY_EXISTS (counted under kConflictingPush).
  absl::Status CheckRepeat(uint32_t worker_id, uint64_t step, uint64_t digest,
                           uint64_t counted_digest)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls of `worker_id` waiting for the open round.
  int WaitingOf(uint32_t worker_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the open round ready to close for `cause` (if it is not yet).
  void MarkReady(CloseCause cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refuses the open round whole (nothing applied): its waiters get
  // `why` and the round reopens empty at the same step.
  void Refuse(absl::Status why, Delivery* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks `initial_values` (the shard's size in fp32, all finite) and
  // makes them the shard's values under `layout`. INVALID_ARGUMENT, and no
  // change, otherwise.
  absl::Status TakeInitialValues(uint32_t shard_index, const Layout& layout,
                                 std::string_view initial_values)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Push and PushAssembled after decoding: `decoded` (or decoded_status,
  // the decoder's refusal) against `decoded_size` elements; `redecode`
  // decodes again if the shard's size changed since.
  absl::Status Enter(
      uint32_t worker_id, uint32_t shard_index, uint64_t step,
      common::SparseSelection decoded, absl::Status decoded_status,
      uint32_t decoded_size,
      absl::FunctionRef<absl::Status(uint32_t, common::SparseSelection*)>
          redecode,
      uint64_t digest, size_t wire_bytes, PushWaiter* waiter,
      uint64_t* current_step);
  // Takes a new, decoded push from `worker_id` into the open round, and
  // closes the round if that made it ready.
  void AcceptNew(uint32_t worker_id, common::SparseSelection decoded,
                 uint64_t digest, size_t wire_bytes, PushWaiter* waiter,
                 Delivery* delivery) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes the round if it is ready and no lease is out.
  void MaybeClose(Delivery* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sums the round and applies it; the error (nothing changed) for a round
  // whose averaged gradient is not finite or beyond kMaxAbsGradient.
  absl::Status Aggregate(RoundResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The compressed downlink's part of a close: picks what to send after the
  // rule moved the master values, into result->sparse_pieces.
  void CompressDownlink(size_t pushed_pairs, RoundResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `values` the shard's master values (and, under the compressed
  // downlink, the workers' copy `copy`, or the same values when empty).
  void AdoptValues(common::HugePageFloats values, std::span<const float> copy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver(Delivery delivery);
  std::unique_ptr<ShardCheckpoint> SnapshotLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ShardOptions options_;
  Clock* const clock_;
  ServerMetrics* const metrics_;
  RoundObserver* const observer_;
  CheckpointSink* const checkpoint_sink_;
  const uint64_t checkpoint_every_;

  mutable absl::Mutex mu_;
  bool initialized_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  Layout layout_ ABSL_GUARDED_BY(mu_);
  // Sized once at the first join and never reallocated, so leases can read
  // them without the lock. values_ is the master copy; workers_copy_ (the
  // compressed downlink only, else empty) what the workers hold.
  common::HugePageFloats values_;
  common::HugePageFloats workers_copy_;
  // values_.size(), published for decoding a push before taking the lock.
  std::atomic<uint32_t> decode_size_{0};
  const std::unique_ptr<UpdateRule> rule_ ABSL_PT_GUARDED_BY(mu_);
  std::vector<bool> joined_ ABSL_GUARDED_BY(mu_);
  // The round being collected; equal to the rounds closed so far.
  uint64_t open_round_ ABSL_GUARDED_BY(mu_) = 0;
  // Leases out, all of the current id; revoking them all takes a new id.
  int leases_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> lease_id_{0};
  // Held shared by ReadValues and exclusively (inside mu_) while a close
  // changes the values, so a revoked reader never sees a half-applied round.
  mutable absl::Mutex values_mu_ ABSL_ACQUIRED_AFTER(mu_);
  // Per worker: the step of its last counted push (kNone: none), and the
  // digests of its pushes in the open and in the last closed round.
  static constexpr uint64_t kNone = ~uint64_t{0};
  std::vector<uint64_t> counted_step_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> open_digest_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> last_digest_ ABSL_GUARDED_BY(mu_);

  // The open round's pushes (pushed_[w]); a worker's entry keeps its last
  // push after its round closes, as storage for the one after next.
  std::vector<common::SparseSelection> pending_ ABSL_GUARDED_BY(mu_);
  // Per worker: the storage of its push before last (SpareBuffer).
  std::vector<common::RecycledPush> spare_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> pushed_ ABSL_GUARDED_BY(mu_);
  uint32_t pushed_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Waiting> waiters_ ABSL_GUARDED_BY(mu_);
  absl::Time first_push_ ABSL_GUARDED_BY(mu_);
  absl::Time last_push_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time ready_since_ ABSL_GUARDED_BY(mu_);
  CloseCause ready_cause_ ABSL_GUARDED_BY(mu_) = CloseCause::kAllPushed;

  // The last closed round, to answer retries of it.
  std::shared_ptr<const RoundResult> last_result_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> last_contributed_ ABSL_GUARDED_BY(mu_);

  // Aggregation scratch, kept between rounds.
  common::SparseSelection sum_ ABSL_GUARDED_BY(mu_);
  // The compressed downlink's selection and its output, kept between rounds.
  DownlinkCompressor downlink_ ABSL_GUARDED_BY(mu_);
  common::SparseSelection sent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_SHARD_STATE_H_
