// The worker's side of the parameter-server protocol: joins every shard,
// pushes each shard its part of a sparse gradient (all shards at once, on
// gRPC's callback API), and gathers the replies into the worker's flat
// parameter vector. No LibTorch: it works on flat float spans.
//
// Failures come back as a Status naming the shard and the reason. A call
// failing with UNAVAILABLE is retried (exponential backoff, up to
// max_attempts); the server answers a repeated push for the same step without
// counting it twice.
//
// Thread-safety: not thread-safe; one training loop drives a client, one call
// at a time. gRPC's threads run the per-shard callbacks, each writing only
// its own shard's range of `params`.
#ifndef CDDP_WORKER_CLIENT_SHARD_CLIENT_H_
#define CDDP_WORKER_CLIENT_SHARD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cddp/v1/parameter_server.grpc.pb.h"
#include "common/compress/sparse.h"
#include "common/tls/tls_options.h"
#include "common/wire/layout.h"
#include "common/wire/shard_map.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "prometheus/registry.h"
#include "proto/push_piece_message.h"
#include "proto/reply_piece_message.h"
#include "worker/client/lent_slices.h"
#include "worker/client/parameter_client.h"
#include "worker/client/shard_client_metrics.h"

namespace cddp::worker {

struct ShardClientOptions {
  std::vector<std::string> server_addresses;  // one per shard, shard order
  uint32_t worker_id = 0;
  // Per attempt. A PushPull waits for its round, so this must exceed the
  // servers' round timeout.
  absl::Duration deadline = absl::Seconds(120);
  // How long a Join waits for a round that holds this worker's push (one
  // whose call broke) to close before pushing again.
  absl::Duration settle_timeout = absl::Minutes(5);
  int max_attempts = 5;  // attempts per call on UNAVAILABLE
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  common::ValueType value_type = common::ValueType::kFp32;
  common::IndexEncoding index_encoding = common::IndexEncoding::kDeltaVarint;
  int max_message_mb = 256;
  // Pairs per piece of a push (PushPullStream): 64 Ki pairs are 256 KiB of
  // fp32 values, the size of the servers' reply pieces.
  size_t push_piece_pairs = size_t{64} << 10;
  // A selection of every element of the flat vector with at least this
  // many pairs (an uncompressed push) starts streaming while the calling
  // thread checks its order: its last piece to each shard, the one that
  // makes the shard count it, waits for the check, so a selection out of
  // order is still refused with nothing counted. Smaller ones are checked
  // before anything is sent.
  size_t check_beside_push_from = size_t{1} << 20;
  // While a call runs, each connection is pinged this often, and closed
  // (the call fails UNAVAILABLE) when a ping goes unanswered this long: a
  // server that stopped reading would otherwise hold a call whose last
  // writes wait in a full socket past any deadline. 1 s to 24 h.
  absl::Duration keepalive = absl::Seconds(10);
  prometheus::Registry* registry = nullptr;  // optional; outlives the client
  // Mutual TLS (this worker's certificate must name it, see
  // common/tls/tls_credentials.h) or plaintext; one must be chosen.
  common::TlsOptions tls;
  // The worker applies momentum itself (DGC): joins say so, and a shard
  // whose optimizer has momentum refuses them.
  bool applies_momentum = false;
};

class ShardClient final : public ParameterClient {
 public:
  // INVALID_ARGUMENT if the addresses do not match the shard map's shards or
  // an option is out of range; errors as common::MakeChannelCredentials for
  // the TLS choice (its files are read here).
  static absl::StatusOr<std::unique_ptr<ShardClient>> Create(
      const common::ShardMap& shard_map, ShardClientOptions options);

  // Joins every shard with this worker's layout (`tensor_sizes` must add up
  // to the flat size); a shard that has no values yet asks for this
  // worker's initial values in `params`, which are then sent to it (and
  // used if they are the first to arrive), and only to it. Then pulls, so
  // `params` ends up with the servers' current values and shard_steps() their
  // steps. Returns the job's step to push next: the largest shard step. Errors:
  // as the servers' Join (FAILED_PRECONDITION for a layout mismatch),
  // UNAVAILABLE when a shard cannot be reached, each prefixed with the shard.
  absl::StatusOr<uint64_t> Join(std::span<const uint64_t> tensor_sizes,
                                std::span<float> params) override;

  using PushPullResult = worker::PushPullResult;
  // Pushes `selection` (flat indices, strictly ascending, values finite):
  // each shard gets its pairs (shard-local), all shards at once, each at
  // the step that shard expects, shard_steps()[s]. Shards normally move
  // together; after one resumed from an older checkpoint, only the shards
  // at the lowest step are pushed (the others' pairs go to `undelivered`,
  // for the residual) until every shard is at one step again: a job
  // converges to one step per shard. A shard's chunk goes index-free
  // (INDEX_ENCODING_DENSE) when it holds every element of the shard.
  // `params` receives each shard's reply (dense values, or the changed
  // entries with the sparse downlink — followed by a full pull of a shard
  // whose local copy was not at the step pushed), and shard_steps() the
  // shards' new steps. `undelivered` (optional) is cleared and then
  // receives, with flat indices, the pairs of every shard that certainly
  // did not count its push (not pushed, or refused on the only attempt),
  // for the caller's error-feedback residual. A push whose call broke (or
  // was retried) may have been counted: its pairs wait for the next Join,
  // whose answer says whether that shard counted it (TakeUncounted).
  // On error, the Status names the first failed shard and why; shards that
  // answered are already in `params` and shard_steps(), the failed shards'
  // ranges may hold a partial reply: re-Join (or Pull) to resynchronise. A
  // rejection for a wrong step is FAILED_PRECONDITION (the servers' message
  // gives their step).
  absl::StatusOr<PushPullResult> PushPull(
      const common::SparseSelection& selection, std::span<float> params,
      common::SparseSelection* undelivered) override;
  // The same with every shard pushed at `step`, whatever shard_steps()
  // says: for callers that drive the steps themselves (tests, benchmarks).
  absl::StatusOr<PushPullResult> PushPull(
      uint64_t step, const common::SparseSelection& selection,
      std::span<float> params, common::SparseSelection* undelivered);

  // PushPull of an uncompressed gradient: `gradient` holds a value for
  // every element of the flat vector (element i's is gradient[i]). The
  // round, the reply, the errors and `undelivered` (whose pairs do carry
  // indices) are those of PushPull of the selection 0..n-1 with these
  // values, but the caller builds no index and none is checked or kept:
  // each shard's run of `gradient` goes out as it is. INVALID_ARGUMENT
  // (nothing sent) unless gradient and params have the flat size.
  absl::StatusOr<PushPullResult> PushPullDense(
      std::span<const float> gradient, std::span<float> params,
      common::SparseSelection* undelivered);
  // The same with every shard pushed at `step` (as PushPull(step, ...)).
  absl::StatusOr<PushPullResult> PushPullDense(
      uint64_t step, std::span<const float> gradient, std::span<float> params,
      common::SparseSelection* undelivered);

  // Overlapped PushPull (parameter_client.h): each shard's call starts as
  // soon as the parts cover its whole range, so the shards owning the top
  // of the flat vector (the layers whose gradients a backward pass finishes
  // first) are pushed while the rest is still being computed. Gathering and
  // retries happen in FinishPushPull, as PushPull does them.
  absl::Status BeginPushPull(std::span<float> params) override;
  absl::Status PushPullPart(uint64_t from,
                            const common::SparseSelection& pairs) override;
  absl::StatusOr<PushPullResult> FinishPushPull(
      common::SparseSelection* undelivered) override;

  // Cancels and waits for the calls of an overlapped PushPull left open.
  ~ShardClient() override;

  // Fetches every shard's current values into `params`; returns the largest
  // shard step (shards move together unless a round failed on some).
  absl::StatusOr<uint64_t> Pull(std::span<float> params) override;

  // Slices of callers' memory gRPC holds now: 0 whenever no call of this
  // client runs (for tests).
  size_t lent_slices_held() const;

  void TakeUncounted(common::SparseSelection* out) override;
  bool ShardsAtOneStep() const override;

  const common::ShardMap& shard_map() const { return shard_map_; }
  // The step each shard's range of the local params reflects, which is the
  // step the shard expects next (after Join, Pull or PushPull). The job's
  // step is the largest of them.
  const std::vector<uint64_t>& shard_steps() const { return shard_steps_; }

 private:
  // A pending call: blocks until it is over and returns its status.
  using Waiter = std::function<absl::Status()>;
  // A push whose call broke: its step and pairs (flat indices), until a
  // Join tells whether the shard counted it.
  struct Unsettled {
    bool pending = false;
    uint64_t step = 0;
    common::SparseSelection pairs;
  };
  // What a shard's Join answered.
  struct JoinAnswer {
    uint64_t step = 0;
    std::optional<uint64_t> counted_step;
  };
  // What one PushPull's calls share (defined in push_pull_round.h).
  struct PushPullRound;

  ShardClient(const common::ShardMap& shard_map, ShardClientOptions options,
              const std::shared_ptr<grpc::ChannelCredentials>& credentials);
  // After a round's calls ended: drops them and waits until gRPC let go of
  // the caller's memory the round lent it (lent_). A push's fp32 pieces
  // that hold a whole shard's run go out without a copy (gRPC reads the
  // caller's values), so a PushPull returns only after this.
  void ReclaimLentMemory(PushPullRound& round);

  // Runs `attempt(shard)` for every shard in `shards` concurrently, retrying
  // UNAVAILABLE with backoff; returns one status per entry of `shards`.
  std::vector<absl::Status> RunWithRetries(
      const std::vector<uint32_t>& shards,
      absl::FunctionRef<Waiter(uint32_t)> attempt);
  // `s` (an error) prefixed with the shard and its address; OK stays OK.
  absl::Status Annotate(const absl::Status& s, uint32_t shard) const;
  // INVALID_ARGUMENT unless `params` has the shard map's flat size.
  absl::Status CheckParamsSize(std::span<const float> params) const;
  // 0, 1, ..., num_shards - 1.
  std::vector<uint32_t> AllShards() const;

  // Join and Pull (shard_client_join.cc). JoinShards: one pass of Join
  // calls to `shards`; the shards that ask for values go to `uninitialised`.
  absl::Status JoinShards(const std::vector<uint32_t>& shards,
                          const common::Layout& layout, bool with_values,
                          std::span<const float> params,
                          std::vector<uint32_t>* uninitialised);
  // Settles unsettled_ from the Join answers of every shard, and joins
  // again (up to settle_timeout) the shards whose open round holds this
  // worker's push, until that round closed: a new push for it would be
  // refused.
  absl::Status SettleAndWait(const common::Layout& layout,
                             std::span<const float> params);
  absl::Status PullShards(const std::vector<uint32_t>& shards,
                          std::span<float> params, uint64_t* bytes_received);

  // PushPull (shard_client.cc; PushPullDense in shard_client_dense.cc,
  // GatherReplies in shard_client_gather.cc): checks, starts every shard's
  // call, gathers.
  // CheckShape: sizes and the last index (the order is CheckOrder's).
  absl::Status CheckShape(const common::SparseSelection& selection,
                          std::span<const float> params) const;
  // A round at `steps` writing into `params`; with `hold_ahead`, shards
  // whose step is above the lowest are held (not pushed).
  std::unique_ptr<PushPullRound> OpenRound(std::vector<uint64_t> steps,
                                           bool hold_ahead,
                                           std::span<float> params) const;
  // Starts every pushed shard's call not started yet (split_ holds every
  // shard's pairs by now), retries, gathers: the rest of a PushPull.
  absl::StatusOr<PushPullResult> CloseRound(
      PushPullRound& round, common::SparseSelection* undelivered);
  // Overlapped PushPull: fills split_[s] from the parts and starts the call
  // of every shard the parts cover now and did not when they reached down
  // to `covered_before` (held shards get their pairs only).
  void StartCoveredShards(uint64_t covered_before);
  // With `hold_ahead`, shards whose step is above the lowest are not pushed
  // (their pairs go to `undelivered`).
  absl::StatusOr<PushPullResult> PushPullAt(
      std::vector<uint64_t> steps, bool hold_ahead,
      const common::SparseSelection& selection, std::span<float> params,
      common::SparseSelection* undelivered);
  // The same for PushPullDense (shard_client_dense.cc).
  absl::StatusOr<PushPullResult> PushPullDenseAt(
      std::vector<uint64_t> steps, bool hold_ahead,
      std::span<const float> gradient, std::span<float> params,
      common::SparseSelection* undelivered);
  // Where every PushPull starts: clears `undelivered` (if any), then
  // FAILED_PRECONDITION while an overlapped PushPull is open.
  absl::Status CheckNotOverlapped(common::SparseSelection* undelivered) const;
  // Fills `piece` with piece `index` of shard `s`'s push (from split_).
  // Runs on gRPC's threads, one piece of a shard at a time. A last piece
  // waits for round.order_check, whose error it returns.
  absl::Status EncodePushPiece(const PushPullRound& round, uint32_t s,
                               size_t index, proto::PushPieceMessage* piece);
  // Points split_ at each shard's run of `selection` (checked, or holding
  // every element: then split at the shards' bounds).
  void SplitInPlace(const common::SparseSelection& selection);
  // Points split_ at each shard's run of a dense `gradient` (whole).
  void SplitDense(std::span<const float> gradient);
  // One attempt of shard `s`'s PushPull call; its reply goes to `round`.
  Waiter StartPushPull(PushPullRound& round, uint32_t s);
  // Takes every shard's outcome into round.result and shard_steps_; hands
  // the pairs of shards that certainly took no push to `undelivered` and
  // keeps those of broken calls in unsettled_; lists in `stale` the shards
  // to pull in full. Returns the first shard's error.
  absl::Status GatherReplies(PushPullRound& round,
                             const std::vector<absl::Status>& statuses,
                             common::SparseSelection* undelivered,
                             std::vector<uint32_t>* stale);

  common::ShardMap shard_map_;
  ShardClientOptions options_;
  std::vector<std::unique_ptr<cddp::v1::ParameterServer::Stub>> stubs_;
  // PushPullStream with pieces of our own type (push_stream_call.h), on
  // the same channels.
  using PushStub = grpc::TemplatedGenericStub<proto::PushPieceMessage,
                                              proto::ReplyPieceMessage>;
  std::vector<std::unique_ptr<PushStub>> push_stubs_;
  std::unique_ptr<ShardClientMetrics> metrics_;
  std::vector<uint64_t> shard_steps_;
  // Each shard's pairs for the push being sent, flat indices: views of the
  // caller's selection (PushPull) or of collected_ (overlapped), so a push
  // is not copied before it is encoded.
  struct ShardPairs {
    std::span<const uint32_t> indices;  // empty when `whole`
    std::span<const float> values;
    // A dense push's run: every element of the shard, values[k] being its
    // k-th; no index is kept.
    bool whole = false;
    size_t size() const { return values.size(); }
  };
  std::vector<ShardPairs> split_;
  std::vector<common::SparseSelection> collected_;  // overlapped: per shard
  // Per shard: the caller's memory its pieces lent to gRPC.
  std::vector<LentSlices> lent_;
  // Per shard: the shard-local indices of the sparse piece being encoded.
  std::vector<std::vector<uint32_t>> local_indices_;
  // An overlapped PushPull between BeginPushPull and FinishPushPull.
  PartsInFlight parts_;
  std::unique_ptr<PushPullRound> open_round_;
  std::vector<JoinAnswer> answers_;   // the last Join's, per shard
  std::vector<Unsettled> unsettled_;  // per shard
  common::SparseSelection
      uncounted_;  // settled, not counted: for TakeUncounted
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_SHARD_CLIENT_H_
