// ShardClient's Join and Pull: joining every shard with this worker's layout
// (sending initial values only to a shard that asks for them) and fetching
// the shards' dense values into the flat parameter vector. The client's
// construction, retries and PushPull are in shard_client.cc.
#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/happens_before.h"
#include "common/status_macros.h"
#include "proto/status_convert.h"
#include "proto/wire_adapter.h"
#include "worker/client/shard_client.h"
#include "worker/client/stream_call.h"

namespace cddp::worker {
namespace {

using cddp::v1::PullResponse;
using proto::TakeDensePiece;

// A unary Join on the callback API.
struct JoinCall {
  grpc::ClientContext context;
  cddp::v1::JoinRequest request;
  cddp::v1::JoinResponse response;
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  grpc::Status status ABSL_GUARDED_BY(mu);
};

}  // namespace

absl::StatusOr<uint64_t> ShardClient::Join(
    std::span<const uint64_t> tensor_sizes, std::span<float> params) {
  CDDP_RETURN_IF_ERROR(CheckParamsSize(params));
  common::Layout layout;
  layout.total_size = shard_map_.total_size();
  layout.shard_bounds.assign(shard_map_.bounds().begin(),
                             shard_map_.bounds().end());
  layout.tensor_sizes.assign(tensor_sizes.begin(), tensor_sizes.end());
  // First without values: only a shard that has none asks for them.
  std::vector<uint32_t> shards = AllShards();
  for (int pass = 0; pass < 2 && !shards.empty(); ++pass) {
    std::vector<uint32_t> uninitialised;
    CDDP_RETURN_IF_ERROR(JoinShards(shards, layout, /*with_values=*/pass > 0,
                                    params, &uninitialised));
    shards = std::move(uninitialised);
  }
  if (!shards.empty()) {  // a shard that asks for values it was sent
    return Annotate(absl::InternalError("shard still has no values after a "
                                        "join that carried them"),
                    shards[0]);
  }
  CDDP_RETURN_IF_ERROR(SettleAndWait(layout, params));
  return Pull(params);
}

absl::Status ShardClient::SettleAndWait(const common::Layout& layout,
                                        std::span<const float> params) {
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    Unsettled& u = unsettled_[s];
    if (!u.pending) continue;
    u.pending = false;
    if (answers_[s].counted_step == u.step) continue;  // counted: applied
    uncounted_.Append(u.pairs);
  }
  const absl::Time deadline = absl::Now() + options_.settle_timeout;
  while (true) {
    std::vector<uint32_t> waiting;
    for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
      if (answers_[s].counted_step == answers_[s].step) waiting.push_back(s);
    }
    if (waiting.empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return Annotate(absl::DeadlineExceededError(
                          absl::StrCat("round ", answers_[waiting[0]].step,
                                       " still holds this worker's push")),
                      waiting[0]);
    }
    absl::SleepFor(absl::Milliseconds(50));
    std::vector<uint32_t> ignored;
    CDDP_RETURN_IF_ERROR(
        JoinShards(waiting, layout, /*with_values=*/false, params, &ignored));
  }
}

void ShardClient::TakeUncounted(common::SparseSelection* out) {
  out->Append(uncounted_);
  uncounted_.clear();
}

bool ShardClient::ShardsAtOneStep() const {
  return std::all_of(shard_steps_.begin(), shard_steps_.end(),
                     [&](uint64_t step) { return step == shard_steps_[0]; });
}

absl::Status ShardClient::JoinShards(const std::vector<uint32_t>& shards,
                                     const common::Layout& layout,
                                     bool with_values,
                                     std::span<const float> params,
                                     std::vector<uint32_t>* uninitialised) {
  std::vector<std::unique_ptr<JoinCall>> calls(shard_map_.num_shards());
  const auto attempt = [&](uint32_t s) -> Waiter {
    calls[s] = std::make_unique<JoinCall>();
    JoinCall* call = calls[s].get();
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.deadline));
    auto& req = call->request;
    req.set_worker_id(options_.worker_id);
    req.set_shard_index(s);
    req.set_applies_delta_replies(true);
    req.set_applies_momentum(options_.applies_momentum);
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
  const std::vector<absl::Status> statuses = RunWithRetries(shards, attempt);
  for (size_t i = 0; i < shards.size(); ++i) {
    const uint32_t s = shards[i];
    if (!statuses[i].ok()) return Annotate(statuses[i], s);
    const cddp::v1::JoinResponse& r = calls[s]->response;
    answers_[s].step = r.step();
    answers_[s].counted_step.reset();
    if (r.has_counted_step()) answers_[s].counted_step = r.counted_step();
    if (r.needs_initial_values()) uninitialised->push_back(s);
  }
  return absl::OkStatus();
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
    if (!st.ok()) return Annotate(st, s);
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
  CDDP_RETURN_IF_ERROR(CheckParamsSize(params));
  uint64_t bytes = 0;
  if (auto s = PullShards(AllShards(), params, &bytes); !s.ok()) return s;
  return *std::max_element(shard_steps_.begin(), shard_steps_.end());
}

}  // namespace cddp::worker
