// ShardClient (shard_client.h): construction, the retry loop every call
// runs through, and PushPull, which pushes each shard its part of a sparse
// gradient and gathers the replies. Join and Pull are in
// shard_client_join.cc, the overlapped PushPull in shard_client_overlap.cc.
#include "worker/client/shard_client.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <span>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "common/tls/tls_credentials.h"
#include "common/wire/wire_codec.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "proto/wire_adapter.h"
#include "worker/client/push_pull_round.h"
#include "worker/client/push_stream_call.h"
#include "worker/client/sparse_apply.h"

namespace cddp::worker {

static_assert(std::endian::native == std::endian::little,
              "wire values are little-endian fp32 copied as-is");

using proto::TakeDensePiece;

namespace {

// OK if `indices` strictly increase. One pass without an early exit or a
// branch, which the compiler vectorises (a whole model's selection at
// 100 % is 25 M indices), then the first offender: idx[k] - idx[k-1] - 1
// wraps, setting the top bit, exactly when idx[k] <= idx[k-1].
absl::Status CheckOrder(std::span<const uint32_t> indices) {
  const uint32_t* idx = indices.data();
  uint64_t wrapped = 0;
  for (size_t k = 1; k < indices.size(); ++k) {
    wrapped |= uint64_t{idx[k]} - idx[k - 1] - 1;
  }
  if ((wrapped >> 63) == 0) return absl::OkStatus();
  size_t k = 1;
  while (idx[k] > idx[k - 1]) ++k;
  return absl::InvalidArgumentError(absl::StrCat(
      "selection indices not strictly increasing at position ", k));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShardClient>> ShardClient::Create(
    const common::ShardMap& shard_map, ShardClientOptions options) {
  if (options.server_addresses.size() != shard_map.num_shards()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.server_addresses.size(), " server addresses for ",
                     shard_map.num_shards(), " shards"));
  }
  if (options.max_attempts < 1 || options.max_message_mb < 1 ||
      options.max_message_mb > 2047 ||
      options.deadline <= absl::ZeroDuration() ||
      options.push_piece_pairs < 1 || options.keepalive < absl::Seconds(1) ||
      options.keepalive > absl::Hours(24)) {
    return absl::InvalidArgumentError(
        "max_attempts >= 1, max_message_mb in [1, 2047], a positive "
        "deadline, push_piece_pairs >= 1 and a keepalive between 1 s and "
        "24 h are required");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      common::MakeChannelCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  return std::unique_ptr<ShardClient>(
      new ShardClient(shard_map, std::move(options), *credentials));
}

ShardClient::ShardClient(
    const common::ShardMap& shard_map, ShardClientOptions options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials)
    : shard_map_(shard_map),
      options_(std::move(options)),
      shard_steps_(shard_map.num_shards(), 0),
      split_(shard_map.num_shards()),
      collected_(shard_map.num_shards()),
      lent_(shard_map.num_shards()),
      local_indices_(shard_map.num_shards()),
      answers_(shard_map.num_shards()),
      unsettled_(shard_map.num_shards()) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_message_mb << 20);
  args.SetMaxSendMessageSize(options_.max_message_mb << 20);
  // One connection per client, even when several workers share a process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Bulk transfers: several MiB in flight per stream, large HTTP/2 frames.
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
  args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 1 << 20);
  // A server that stops reading (stopped, hung, its host gone) leaves a
  // call's last writes queued in a full socket, where no deadline reaches
  // them: an unanswered ping closes the connection, which ends the call.
  const int keepalive_ms =
      static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_ms);
  for (const auto& address : options_.server_addresses) {
    auto channel = grpc::CreateCustomChannel(address, credentials, args);
    stubs_.push_back(cddp::v1::ParameterServer::NewStub(channel));
    push_stubs_.push_back(std::make_unique<PushStub>(channel));
  }
  if (options_.registry != nullptr) {
    metrics_ = std::make_unique<ShardClientMetrics>(
        *options_.registry, options_.worker_id, shard_map_.num_shards());
  }
}

std::vector<absl::Status> ShardClient::RunWithRetries(
    const std::vector<uint32_t>& shards,
    absl::FunctionRef<Waiter(uint32_t)> attempt) {
  std::vector<absl::Status> result(shards.size());
  std::vector<size_t> pending(shards.size());
  for (size_t i = 0; i < shards.size(); ++i) pending[i] = i;
  absl::Duration backoff = options_.initial_backoff;
  for (int a = 1; !pending.empty(); ++a) {
    std::vector<Waiter> waits;
    waits.reserve(pending.size());
    for (size_t i : pending) waits.push_back(attempt(shards[i]));
    std::vector<size_t> retry;
    for (size_t k = 0; k < pending.size(); ++k) {
      const size_t i = pending[k];
      result[i] = waits[k]();
      if (result[i].code() == absl::StatusCode::kUnavailable &&
          a < options_.max_attempts) {
        retry.push_back(i);
        if (metrics_) metrics_->retries[shards[i]]->Increment();
      } else if (!result[i].ok() && metrics_) {
        metrics_->failures[shards[i]]->Increment();
      }
    }
    if (!retry.empty()) {
      absl::SleepFor(backoff);
      backoff = std::min(2 * backoff, options_.max_backoff);
    }
    pending = std::move(retry);
  }
  return result;
}

absl::Status ShardClient::Annotate(const absl::Status& s,
                                   uint32_t shard) const {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("shard ", shard, " (",
                                             options_.server_addresses[shard],
                                             "): ", s.message()));
}

absl::Status ShardClient::CheckParamsSize(std::span<const float> params) const {
  if (params.size() != shard_map_.total_size()) {
    return absl::InvalidArgumentError(absl::StrCat("params has ", params.size(),
                                                   " elements, the shard map ",
                                                   shard_map_.total_size()));
  }
  return absl::OkStatus();
}

std::vector<uint32_t> ShardClient::AllShards() const {
  std::vector<uint32_t> all(shard_map_.num_shards());
  for (uint32_t s = 0; s < all.size(); ++s) all[s] = s;
  return all;
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPull(
    const common::SparseSelection& selection, std::span<float> params,
    common::SparseSelection* undelivered) {
  return PushPullAt(shard_steps_, /*hold_ahead=*/true, selection, params,
                    undelivered);
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPull(
    uint64_t step, const common::SparseSelection& selection,
    std::span<float> params, common::SparseSelection* undelivered) {
  return PushPullAt(std::vector<uint64_t>(shard_map_.num_shards(), step),
                    /*hold_ahead=*/false, selection, params, undelivered);
}

absl::Status ShardClient::CheckShape(const common::SparseSelection& selection,
                                     std::span<const float> params) const {
  CDDP_RETURN_IF_ERROR(CheckParamsSize(params));
  if (selection.indices.size() != selection.values.size() ||
      (!selection.indices.empty() &&
       selection.indices.back() >= shard_map_.total_size())) {
    return absl::InvalidArgumentError(
        "selection sizes differ or an index is beyond the flat size");
  }
  return absl::OkStatus();
}

std::unique_ptr<ShardClient::PushPullRound> ShardClient::OpenRound(
    std::vector<uint64_t> steps, bool hold_ahead,
    std::span<float> params) const {
  auto round = std::make_unique<PushPullRound>(std::move(steps), params,
                                               shard_map_.num_shards());
  round->start = absl::Now();
  const uint64_t lowest =
      *std::min_element(round->steps.begin(), round->steps.end());
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    if (hold_ahead && round->steps[s] > lowest) round->held[s] = 1;
  }
  return round;
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPullAt(
    std::vector<uint64_t> steps, bool hold_ahead,
    const common::SparseSelection& selection, std::span<float> params,
    common::SparseSelection* undelivered) {
  CDDP_RETURN_IF_ERROR(CheckNotOverlapped(undelivered));
  CDDP_RETURN_IF_ERROR(CheckShape(selection, params));
  // An uncompressed push: its pieces carry no index, so it can stream
  // while this thread checks its order (the last pieces wait for that).
  const bool check_beside = selection.size() == shard_map_.total_size() &&
                            selection.size() >= options_.check_beside_push_from;
  if (!check_beside) CDDP_RETURN_IF_ERROR(CheckOrder(selection.indices));
  SplitInPlace(selection);
  std::unique_ptr<PushPullRound> round =
      OpenRound(std::move(steps), hold_ahead, params);
  round->lend_values = true;
  if (!check_beside) return CloseRound(*round, undelivered);
  PendingCheck order;
  round->order_check = &order;
  // Not a shard whose first piece is its last: that piece would wait on
  // this thread for the check. CloseRound starts those.
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    if (!round->held[s] && split_[s].size() > options_.push_piece_pairs) {
      round->started[s] = StartPushPull(*round, s);
    }
  }
  order.Set(CheckOrder(selection.indices));
  return CloseRound(*round, undelivered);
}

absl::Status ShardClient::CheckNotOverlapped(
    common::SparseSelection* undelivered) const {
  if (undelivered != nullptr) undelivered->clear();
  if (parts_.open) {
    return absl::FailedPreconditionError(
        "PushPull while an overlapped PushPull is open");
  }
  return absl::OkStatus();
}

void ShardClient::SplitInPlace(const common::SparseSelection& selection) {
  const std::span<const uint32_t> indices(selection.indices);
  const std::span<const float> values(selection.values);
  // Every element (perhaps not checked yet): pair k is element k.
  const bool whole = selection.size() == shard_map_.total_size();
  size_t from = 0;
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    const size_t to =
        whole ? shard_map_.end(s)
              : static_cast<size_t>(
                    std::lower_bound(
                        indices.begin() + static_cast<ptrdiff_t>(from),
                        indices.end(), shard_map_.end(s)) -
                    indices.begin());
    split_[s] = {indices.subspan(from, to - from),
                 values.subspan(from, to - from)};
    from = to;
  }
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::CloseRound(
    PushPullRound& round, common::SparseSelection* undelivered) {
  // On every way out: the caller may change its values once we return.
  absl::Cleanup reclaim = [this, &round] { ReclaimLentMemory(round); };
  std::vector<uint32_t> pushed;
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    if (!round.held[s]) pushed.push_back(s);
  }
  const std::vector<absl::Status> pushed_statuses =
      RunWithRetries(pushed, [&](uint32_t s) {
        // The first attempt of a shard started early (overlap) is that call.
        if (round.started[s]) return std::exchange(round.started[s], nullptr);
        return StartPushPull(round, s);
      });
  // Out of order after all: no shard got its last piece (each call was
  // cancelled instead), so none counted the push.
  if (round.order_check != nullptr) {
    CDDP_RETURN_IF_ERROR(round.order_check->Wait());
  }
  std::vector<absl::Status> statuses(shard_map_.num_shards());
  for (size_t i = 0; i < pushed.size(); ++i) {
    statuses[pushed[i]] = pushed_statuses[i];
  }
  std::vector<uint32_t> stale;
  const absl::Status first_error =
      GatherReplies(round, statuses, undelivered, &stale);
  PushPullResult& result = round.result;
  if (metrics_) {
    metrics_->sent_bytes->Increment(static_cast<double>(result.bytes_sent));
    metrics_->received_bytes->Increment(
        static_cast<double>(result.bytes_received));
  }
  // Undelivered pairs went in shard order, so they are ascending.
  if (!first_error.ok()) return first_error;
  // The job's step: held shards are ahead of those pushed.
  result.step = *std::max_element(shard_steps_.begin(), shard_steps_.end());
  if (!stale.empty()) {
    if (auto st = PullShards(stale, round.params, &result.bytes_received);
        !st.ok()) {
      return st;
    }
  }
  return std::move(result);
}

void ShardClient::ReclaimLentMemory(PushPullRound& round) {
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    // A call (over, its bytes counted) keeps its last piece, and with it a
    // slice. Once the calls are over, gRPC has written or dropped the rest,
    // or is closing a connection whose server stopped reading (keepalive).
    round.calls[s].reset();
    lent_[s].WaitReleased(absl::InfiniteDuration());
  }
}

size_t ShardClient::lent_slices_held() const {
  size_t held = 0;
  for (const LentSlices& l : lent_) held += l.held();
  return held;
}

absl::Status ShardClient::EncodePushPiece(const PushPullRound& round,
                                          uint32_t s, size_t index,
                                          proto::PushPieceMessage* piece) {
  const ShardPairs& pairs = split_[s];
  const size_t per_piece = options_.push_piece_pairs;
  const size_t begin = std::min(pairs.size(), index * per_piece);
  const size_t end = std::min(pairs.size(), begin + per_piece);
  if (end == pairs.size() && round.order_check != nullptr) {
    CDDP_RETURN_IF_ERROR(round.order_check->Wait());
  }
  piece->step = round.steps[s];
  piece->worker_id = options_.worker_id;
  piece->shard_index = s;
  piece->last = end == pairs.size();
  // Every element of the shard (strictly ascending, in range, as many as
  // the shard has: exactly 0..n-1): dense pieces, no index bytes at all.
  const bool dense = pairs.size() > 0 && pairs.size() == shard_map_.size(s);
  const std::span<const float> values =
      pairs.values.subspan(begin, end - begin);
  if (dense) {  // the shard's k-th element is pair k
    if (round.lend_values && options_.value_type == common::ValueType::kFp32) {
      // The wire's fp32 bytes are the floats themselves (little-endian).
      proto::DensePieceFromSlice(
          static_cast<uint32_t>(begin), static_cast<uint32_t>(values.size()),
          lent_[s].Lend(values.data(), values.size_bytes()), piece);
    } else {
      proto::EncodeDensePieceInto(static_cast<uint32_t>(begin), values,
                                  options_.value_type, piece);
    }
    return absl::OkStatus();
  }
  std::vector<uint32_t>& local = local_indices_[s];
  local.resize(end - begin);
  const uint32_t base = static_cast<uint32_t>(shard_map_.begin(s));
  for (size_t k = 0; k < local.size(); ++k) {
    local[k] = pairs.indices[begin + k] - base;
  }
  // Cannot fail: a selection that is not whole was checked before.
  CDDP_CHECK(proto::EncodePushPieceInto(local, values, options_.value_type,
                                        options_.index_encoding,
                                        /*dense=*/false, piece)
                 .ok());
  return absl::OkStatus();
}

ShardClient::Waiter ShardClient::StartPushPull(PushPullRound& round,
                                               uint32_t s) {
  // A retry starts the reply over, but "the round took the push" sticks.
  const bool any = round.replies[s].any;
  if (round.replies[s].applied_delta) round.resync[s] = 1;
  round.replies[s] = PushPullRound::Reply{};
  round.replies[s].any = any;
  const auto range =
      round.params.subspan(shard_map_.begin(s), shard_map_.size(s));
  // The bytes a failed attempt wrote count too.
  if (round.calls[s] != nullptr) {
    round.result.bytes_sent += round.calls[s]->bytes_sent();
  }
  round.calls[s] = std::make_unique<PushStreamCall>(
      [&round, s, range](const proto::ReplyPieceMessage& r) -> absl::Status {
        PushPullRound::Reply& rep = round.replies[s];
        rep.any = true;
        rep.step = r.step;
        rep.contributors = r.contributors;
        if (r.last) rep.last = true;
        if (!r.has_sparse_update) {
          return TakeDensePiece(r.offset, r.dense_values, range, &rep.next);
        }
        rep.sparse = true;
        if (r.delta) rep.applied_delta = true;
        return ApplySparseUpdate(r, range);
      },
      [this, &round, s](size_t index, proto::PushPieceMessage* piece) {
        return EncodePushPiece(round, s, index, piece);
      });
  PushStreamCall* call = round.calls[s].get();
  ++round.attempts[s];
  call->context()->set_deadline(
      absl::ToChronoTime(absl::Now() + options_.deadline));
  push_stubs_[s]->PrepareBidiStreamingCall(
      call->context(), "/cddp.v1.ParameterServer/PushPullStream",
      grpc::StubOptions(), call);
  call->Begin();
  return [call] { return call->Wait(); };
}

}  // namespace cddp::worker
