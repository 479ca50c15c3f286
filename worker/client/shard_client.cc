#include "worker/client/shard_client.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/check.h"
#include "common/happens_before.h"
#include "common/status_macros.h"
#include "common/wire/wire_codec.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "proto/status_convert.h"
#include "proto/wire_adapter.h"
#include "worker/client/sparse_apply.h"
#include "worker/client/stream_call.h"

namespace cddp::worker {
namespace {

static_assert(std::endian::native == std::endian::little,
              "wire values are little-endian fp32 copied as-is");

using cddp::v1::PullResponse;
using cddp::v1::PushPullResponse;
using proto::TakeDensePiece;

// A pending call: blocks until it is over and returns its status.
using Waiter = std::function<absl::Status()>;

// A unary Join on the callback API.
struct JoinCall {
  grpc::ClientContext context;
  cddp::v1::JoinRequest request;
  cddp::v1::JoinResponse response;
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  grpc::Status status ABSL_GUARDED_BY(mu);
};

absl::Status Annotate(const absl::Status& s, uint32_t shard,
                      const std::string& address) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("shard ", shard, " (", address,
                                             "): ", s.message()));
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
      options.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "max_attempts >= 1, max_message_mb in [1, 2047] and a positive "
        "deadline are required");
  }
  return std::unique_ptr<ShardClient>(
      new ShardClient(shard_map, std::move(options)));
}

ShardClient::ShardClient(const common::ShardMap& shard_map,
                         ShardClientOptions options)
    : shard_map_(shard_map),
      options_(std::move(options)),
      shard_steps_(shard_map.num_shards(), 0) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_message_mb << 20);
  args.SetMaxSendMessageSize(options_.max_message_mb << 20);
  // One connection per client, even when several workers share a process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Bulk transfers: several MiB in flight per stream, large HTTP/2 frames.
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
  args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 1 << 20);
  for (const auto& address : options_.server_addresses) {
    stubs_.push_back(
        cddp::v1::ParameterServer::NewStub(grpc::CreateCustomChannel(
            address, grpc::InsecureChannelCredentials(), args)));
  }
  if (options_.registry != nullptr) {
    metrics_ = std::make_unique<ShardClientMetrics>(
        *options_.registry, options_.worker_id, shard_map_.num_shards());
  }
}

template <typename Attempt>
std::vector<absl::Status> ShardClient::RunWithRetries(
    const std::vector<uint32_t>& shards, Attempt attempt) {
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

absl::StatusOr<uint64_t> ShardClient::Join(
    std::span<const uint64_t> tensor_sizes, std::span<float> params) {
  if (params.size() != shard_map_.total_size()) {
    return absl::InvalidArgumentError(absl::StrCat("params has ", params.size(),
                                                   " elements, the shard map ",
                                                   shard_map_.total_size()));
  }
  const uint32_t num_shards = shard_map_.num_shards();
  std::vector<uint32_t> all(num_shards);
  for (uint32_t s = 0; s < num_shards; ++s) all[s] = s;
  common::Layout layout;
  layout.total_size = shard_map_.total_size();
  layout.shard_bounds.assign(shard_map_.bounds().begin(),
                             shard_map_.bounds().end());
  layout.tensor_sizes.assign(tensor_sizes.begin(), tensor_sizes.end());
  std::vector<std::unique_ptr<JoinCall>> calls(num_shards);
  // First without values: only a shard that has none asks for them.
  bool with_values = false;
  const auto attempt = [&](uint32_t s) -> Waiter {
    calls[s] = std::make_unique<JoinCall>();
    JoinCall* call = calls[s].get();
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.deadline));
    auto& req = call->request;
    req.set_worker_id(options_.worker_id);
    req.set_shard_index(s);
    proto::LayoutToProto(layout, req.mutable_layout());
    if (with_values) {
      req.set_initial_values(
          reinterpret_cast<const char*>(params.data() + shard_map_.begin(s)),
          shard_map_.size(s) * sizeof(float));
    }
    if (metrics_) {
      metrics_->sent_bytes->Increment(static_cast<double>(req.ByteSizeLong()));
    }
    // The callback runs on a gRPC thread, after this call (see
    // common/happens_before.h).
    CDDP_HAPPENS_BEFORE(call);
    stubs_[s]->async()->Join(&call->context, &call->request, &call->response,
                             [call](grpc::Status status) {
                               CDDP_HAPPENS_AFTER(call);
                               absl::MutexLock lock(&call->mu);
                               call->status = std::move(status);
                               call->done = true;
                             });
    return [call] {
      absl::MutexLock lock(&call->mu);
      call->mu.Await(absl::Condition(&call->done));
      return proto::FromGrpcStatus(call->status);
    };
  };
  std::vector<uint32_t> shards = all;
  for (int pass = 0; pass < 2 && !shards.empty(); ++pass) {
    const std::vector<absl::Status> statuses = RunWithRetries(shards, attempt);
    std::vector<uint32_t> uninitialised;
    for (size_t i = 0; i < shards.size(); ++i) {
      const uint32_t s = shards[i];
      if (!statuses[i].ok()) {
        return Annotate(statuses[i], s, options_.server_addresses[s]);
      }
      if (calls[s]->response.needs_initial_values()) {
        uninitialised.push_back(s);
      }
    }
    shards = std::move(uninitialised);
    with_values = true;
  }
  if (!shards.empty()) {  // a shard that asks for values it was sent
    return Annotate(absl::InternalError("shard still has no values after a "
                                        "join that carried them"),
                    shards[0], options_.server_addresses[shards[0]]);
  }
  return Pull(params);
}

absl::Status ShardClient::PullShards(const std::vector<uint32_t>& shards,
                                     std::span<float> params,
                                     uint64_t* bytes_received) {
  const uint32_t num_shards = shard_map_.num_shards();
  std::vector<std::unique_ptr<StreamCall<PullResponse>>> calls(num_shards);
  std::vector<uint64_t> next(num_shards, 0), steps(num_shards, 0);
  // Not vector<bool>: gRPC threads set different shards' flags at once, and
  // vector<bool> packs them into shared bytes (a data race that lost flags).
  std::vector<char> last(num_shards, 0);
  const auto attempt = [&](uint32_t s) -> Waiter {
    next[s] = 0;
    last[s] = 0;
    const auto range = params.subspan(shard_map_.begin(s), shard_map_.size(s));
    calls[s] = std::make_unique<StreamCall<PullResponse>>(
        [&, s, range](const PullResponse& r) -> absl::Status {
          steps[s] = r.step();
          if (r.last()) last[s] = 1;
          return TakeDensePiece(r.offset(), r.dense_values(), range, &next[s]);
        });
    StreamCall<PullResponse>* call = calls[s].get();
    call->context()->set_deadline(
        absl::ToChronoTime(absl::Now() + options_.deadline));
    auto request = std::make_shared<cddp::v1::PullRequest>();
    request->set_shard_index(s);
    stubs_[s]->async()->Pull(call->context(), request.get(), call);
    call->Begin();
    return [call, request] { return call->Wait(); };
  };
  const std::vector<absl::Status> statuses = RunWithRetries(shards, attempt);
  for (size_t i = 0; i < shards.size(); ++i) {
    const uint32_t s = shards[i];
    absl::Status st = statuses[i];
    if (st.ok() && (!last[s] || next[s] != shard_map_.size(s))) {
      st = absl::DataLossError(absl::StrCat(
          "incomplete pull: ", next[s], " of ", shard_map_.size(s), " values"));
    }
    if (!st.ok()) return Annotate(st, s, options_.server_addresses[s]);
    shard_steps_[s] = steps[s];
    *bytes_received += calls[s]->bytes_received();
    if (metrics_) {
      metrics_->received_bytes->Increment(
          static_cast<double>(calls[s]->bytes_received()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ShardClient::Pull(std::span<float> params) {
  if (params.size() != shard_map_.total_size()) {
    return absl::InvalidArgumentError(absl::StrCat("params has ", params.size(),
                                                   " elements, the shard map ",
                                                   shard_map_.total_size()));
  }
  std::vector<uint32_t> all(shard_map_.num_shards());
  for (uint32_t s = 0; s < all.size(); ++s) all[s] = s;
  uint64_t bytes = 0;
  if (auto s = PullShards(all, params, &bytes); !s.ok()) return s;
  return *std::max_element(shard_steps_.begin(), shard_steps_.end());
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPull(
    const common::SparseSelection& selection, std::span<float> params,
    common::SparseSelection* undelivered) {
  return PushPullAt(shard_steps_, selection, params, undelivered);
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPull(
    uint64_t step, const common::SparseSelection& selection,
    std::span<float> params, common::SparseSelection* undelivered) {
  return PushPullAt(std::vector<uint64_t>(shard_map_.num_shards(), step),
                    selection, params, undelivered);
}

absl::StatusOr<ShardClient::PushPullResult> ShardClient::PushPullAt(
    std::vector<uint64_t> steps, const common::SparseSelection& selection,
    std::span<float> params, common::SparseSelection* undelivered) {
  if (undelivered != nullptr) undelivered->clear();
  if (params.size() != shard_map_.total_size()) {
    return absl::InvalidArgumentError(absl::StrCat("params has ", params.size(),
                                                   " elements, the shard map ",
                                                   shard_map_.total_size()));
  }
  if (selection.indices.size() != selection.values.size() ||
      (!selection.indices.empty() &&
       selection.indices.back() >= shard_map_.total_size())) {
    return absl::InvalidArgumentError(
        "selection sizes differ or an index is beyond the flat size");
  }
  for (size_t k = 1; k < selection.size(); ++k) {
    if (selection.indices[k] <= selection.indices[k - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "selection indices not strictly increasing at position ", k));
    }
  }
  const uint32_t num_shards = shard_map_.num_shards();
  shard_map_.Split(selection, &split_);
  PushPullResult result;
  result.contributors.assign(num_shards, 0);

  // Each request is encoded just before its first attempt (so shard 0 is on
  // the wire while shard 1 is encoded) and reused by retries.
  std::vector<cddp::v1::PushPullRequest> requests(num_shards);
  std::vector<char> encoded(num_shards, 0);  // per shard; see `last` above
  const auto encode = [&](uint32_t s) {
    auto& req = requests[s];
    req.set_step(steps[s]);
    req.set_worker_id(options_.worker_id);
    req.set_shard_index(s);
    // Every element of the shard (strictly ascending, in range, as many as
    // the shard has: exactly 0..n-1): no index bytes at all.
    const common::IndexEncoding encoding =
        split_[s].size() > 0 && split_[s].size() == shard_map_.size(s)
            ? common::IndexEncoding::kDense
            : options_.index_encoding;
    // Cannot fail: the selection was checked above.
    CDDP_CHECK(proto::EncodeChunkInto(split_[s].indices, split_[s].values,
                                      options_.value_type, encoding,
                                      req.mutable_chunk())
                   .ok());
    encoded[s] = 1;
  };

  struct Reply {
    uint64_t step = 0;
    uint32_t contributors = 0;
    uint64_t next = 0;  // dense: values received so far
    bool sparse = false;
    bool last = false;
    bool any = false;  // a reply arrived: the round took the push
  };
  std::vector<Reply> replies(num_shards);
  std::vector<std::unique_ptr<StreamCall<PushPullResponse>>> calls(num_shards);
  const absl::Time start = absl::Now();
  const auto attempt = [&](uint32_t s) -> Waiter {
    // A retry starts the reply over, but "the round took the push" sticks.
    const bool any = replies[s].any;
    replies[s] = Reply{};
    replies[s].any = any;
    const auto range = params.subspan(shard_map_.begin(s), shard_map_.size(s));
    calls[s] = std::make_unique<StreamCall<PushPullResponse>>(
        [&, s, range](const PushPullResponse& r) -> absl::Status {
          Reply& rep = replies[s];
          rep.any = true;
          rep.step = r.step();
          rep.contributors = r.contributors();
          if (r.last()) rep.last = true;
          if (!r.has_sparse_update()) {
            return TakeDensePiece(r.offset(), r.dense_values(), range,
                                  &rep.next);
          }
          rep.sparse = true;
          return ApplySparseUpdate(r.sparse_update(), range);
        });
    StreamCall<PushPullResponse>* call = calls[s].get();
    call->context()->set_deadline(
        absl::ToChronoTime(absl::Now() + options_.deadline));
    if (!encoded[s]) encode(s);
    result.bytes_sent += requests[s].ByteSizeLong();
    stubs_[s]->async()->PushPull(call->context(), &requests[s], call);
    call->Begin();
    return [call] { return call->Wait(); };
  };
  std::vector<uint32_t> all(num_shards);
  for (uint32_t s = 0; s < num_shards; ++s) all[s] = s;
  const std::vector<absl::Status> statuses = RunWithRetries(all, attempt);

  absl::Status first_error;
  std::vector<uint32_t> stale;
  for (uint32_t s = 0; s < num_shards; ++s) {
    absl::Status st = statuses[s];
    const Reply& rep = replies[s];
    if (st.ok() &&
        (!rep.last || (!rep.sparse && rep.next != shard_map_.size(s)))) {
      st = absl::DataLossError("incomplete reply");
    }
    result.bytes_received += calls[s]->bytes_received();
    if (metrics_) {
      metrics_->push_pull_seconds[s]->Observe(
          absl::ToDoubleSeconds(calls[s]->done_at() - start));
    }
    if (!st.ok()) {
      if (first_error.ok()) {
        first_error = Annotate(st, s, options_.server_addresses[s]);
      }
      if (!rep.any && undelivered != nullptr) {
        const uint32_t offset = static_cast<uint32_t>(shard_map_.begin(s));
        for (size_t k = 0; k < split_[s].size(); ++k) {
          undelivered->indices.push_back(split_[s].indices[k] + offset);
          undelivered->values.push_back(split_[s].values[k]);
        }
      }
      continue;
    }
    result.contributors[s] = rep.contributors;
    // A sparse update is exact only on top of the step it followed.
    if (rep.sparse && shard_steps_[s] != steps[s]) stale.push_back(s);
    shard_steps_[s] = rep.step;
    result.step = std::max(result.step, rep.step);
  }
  if (metrics_) {
    metrics_->sent_bytes->Increment(static_cast<double>(result.bytes_sent));
    metrics_->received_bytes->Increment(
        static_cast<double>(result.bytes_received));
  }
  // Undelivered pairs went in shard order, so they are ascending.
  if (!first_error.ok()) return first_error;
  if (!stale.empty()) {
    if (auto st = PullShards(stale, params, &result.bytes_received); !st.ok()) {
      return st;
    }
  }
  return result;
}

}  // namespace cddp::worker
