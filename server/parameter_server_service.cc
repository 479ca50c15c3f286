#include "server/parameter_server_service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/check.h"
#include "common/happens_before.h"
#include "proto/status_convert.h"
#include "proto/wire_adapter.h"

namespace cddp::server {
namespace {

using cddp::v1::PullResponse;
using cddp::v1::PushPullResponse;
using proto::FillDensePiece;

cddp::v1::Downlink DownlinkToProto(DownlinkMode mode) {
  switch (mode) {
    case DownlinkMode::kDense:
      return cddp::v1::DOWNLINK_DENSE;
    case DownlinkMode::kSparse:
      return cddp::v1::DOWNLINK_SPARSE;
    case DownlinkMode::kCompressed:
      return cddp::v1::DOWNLINK_COMPRESSED;
  }
  return cddp::v1::DOWNLINK_UNSPECIFIED;
}

// The status of a reply whose read lease was revoked (ShardState::
// PollTimeout): the reader did not keep up.
grpc::Status AbandonedReply() {
  return grpc::Status(grpc::StatusCode::ABORTED,
                      "reply abandoned: the reader did not keep up within "
                      "the server's --reply_timeout; pull again");
}

}  // namespace

// The sparse-downlink reply of the latest round: one message per piece
// (RoundResult::sparse_pieces), the last one marked. Every waiter of a
// round gets the same messages, so they are built once (by the first
// waiter to ask) and shared; gRPC only reads them (const serialisation is
// thread-safe).
class SparseReplyCache {
 public:
  using Reply = std::vector<std::shared_ptr<const PushPullResponse>>;

  std::shared_ptr<const Reply> Get(
      const std::shared_ptr<const RoundResult>& result) {
    absl::MutexLock lock(&mu_);
    if (reply_ == nullptr || result_.lock() != result) {
      auto reply = std::make_shared<Reply>();
      for (size_t p = 0; p < result->sparse_pieces.size(); ++p) {
        const SparsePiece& piece = result->sparse_pieces[p];
        auto message = std::make_shared<PushPullResponse>();
        message->set_step(result->open_round);
        message->set_contributors(result->contributors);
        proto::SetEncodedChunk(
            piece.count, piece.value_type, common::IndexEncoding::kDeltaVarint,
            piece.indices, piece.values, message->mutable_sparse_update());
        message->set_last(p + 1 == result->sparse_pieces.size());
        message->set_delta(result->delta);
        message->ByteSizeLong();  // cache the size before threads share it
        reply->push_back(std::move(message));
      }
      reply_ = std::move(reply);
      result_ = result;
    }
    return reply_;
  }

 private:
  absl::Mutex mu_;
  std::weak_ptr<const RoundResult> result_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Reply> reply_ ABSL_GUARDED_BY(mu_);
};

namespace {

// The reactors mark every Start*/Finish call with CDDP_HAPPENS_BEFORE(this)
// and open every reaction with CDDP_HAPPENS_AFTER(this), and the handlers
// mark the reactor they return: gRPC orders these, but inside its own
// uninstrumented code, where ThreadSanitizer cannot see it
// (common/happens_before.h). Nothing in a normal build.

// Answers one PushPull: registers the push with the shard and, once its
// round closes, streams the reply. Deletes itself in OnDone.
class PushPullReactor final : public grpc::ServerWriteReactor<PushPullResponse>,
                              public PushWaiter {
 public:
  PushPullReactor(grpc::CallbackServerContext* context,
                  const cddp::v1::PushPullRequest* request, ShardState* state,
                  ServerMetrics* metrics, SparseReplyCache* sparse_replies,
                  size_t piece_floats)
      : context_(context),
        request_(request),
        state_(state),
        metrics_(metrics),
        sparse_replies_(sparse_replies),
        piece_floats_(piece_floats) {}

  void Start() {
    const common::EncodedChunkView view = proto::ChunkView(request_->chunk());
    uint64_t current_step = 0;
    const absl::Status s = state_->Push(
        request_->worker_id(), request_->shard_index(), request_->step(), view,
        request_->ByteSizeLong(), this, &current_step);
    if (!s.ok()) {
      context_->AddTrailingMetadata(proto::kCurrentStepMetadataKey,
                                    std::to_string(current_step));
      absl::MutexLock lock(&mu_);
      FinishLocked(proto::ToGrpcStatus(s));
    }
  }

  // Once mu_ is released after the last piece, another thread may finish
  // the call and delete this reactor: take what is needed after the lock
  // into locals first.
  void OnRoundClosed(std::shared_ptr<const RoundResult> result,
                     uint64_t lease) override {
    ShardState* const state = state_;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      delivered_ = true;
      if (!result->refused.ok()) {  // nothing applied, no lease
        FinishLocked(proto::ToGrpcStatus(result->refused));
        return;
      }
      has_lease_ = true;
      lease_ = lease;
      result_ = std::move(result);
      if (cancelled_) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      } else {
        release = WriteNextLocked();
      }
      if (release) has_lease_ = false;
    }
    if (release) state->EndRead(lease);
  }

  void OnWriteDone(bool ok) override {
    CDDP_HAPPENS_AFTER(this);
    ShardState* const state = state_;
    bool release = false;
    uint64_t lease = 0;
    {
      absl::MutexLock lock(&mu_);
      lease = lease_;
      if (!ok) {
        FinishLocked(
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "reply stream broke"));
      } else if (wrote_last_) {
        FinishLocked(grpc::Status::OK);
      } else {
        release = WriteNextLocked();
        if (release) has_lease_ = false;
      }
    }
    if (release) state->EndRead(lease);
  }

  void OnCancel() override {
    CDDP_HAPPENS_AFTER(this);
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    // Not yet answered: withdraw from the round. If the round already took
    // us, OnRoundClosed is coming and finishes the call.
    if (!delivered_ && state_->CancelWaiter(this)) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  void OnDone() override {
    CDDP_HAPPENS_AFTER(this);
    bool release;
    uint64_t lease;
    {
      absl::MutexLock lock(&mu_);
      release = has_lease_;
      has_lease_ = false;
      lease = lease_;
    }
    if (release) state_->EndRead(lease);
    delete this;
  }

 private:
  // Builds and starts the next piece; true once the values are no longer
  // needed (the last piece is built), so the caller can end the lease.
  bool WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (sparse_next_ == 0 && offset_ == 0) {  // the reply's first piece
      metrics_->sent_dense_equivalent_bytes.Increment(
          static_cast<double>(state_->values().size() * sizeof(float)));
    }
    if (result_->sparse) {
      if (sparse_reply_ == nullptr)
        sparse_reply_ = sparse_replies_->Get(result_);
      const PushPullResponse& piece = *(*sparse_reply_)[sparse_next_++];
      wrote_last_ = sparse_next_ == sparse_reply_->size();
      metrics_->sent_bytes.Increment(static_cast<double>(piece.ByteSizeLong()));
      CDDP_HAPPENS_BEFORE(this);
      StartWrite(&piece);
      // The pieces hold their own bytes and never read the shard's values:
      // the lease can end with the first piece (and only once).
      return sparse_next_ == 1;
    }
    response_.Clear();
    response_.set_step(result_->open_round);
    response_.set_contributors(result_->contributors);
    if (!state_->ReadValues(lease_, [&](std::span<const float> values) {
          wrote_last_ =
              FillDensePiece(values, piece_floats_, &offset_, &response_);
        })) {
      FinishLocked(AbandonedReply());
      return true;  // the lease is gone already
    }
    metrics_->sent_bytes.Increment(
        static_cast<double>(response_.ByteSizeLong()));
    CDDP_HAPPENS_BEFORE(this);
    StartWrite(&response_);
    return wrote_last_;
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    CDDP_HAPPENS_BEFORE(this);
    Finish(status);
  }

  grpc::CallbackServerContext* const context_;
  const cddp::v1::PushPullRequest* const request_;
  ShardState* const state_;
  ServerMetrics* const metrics_;
  SparseReplyCache* const sparse_replies_;
  const size_t piece_floats_;

  absl::Mutex mu_;
  bool delivered_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool has_lease_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  bool wrote_last_ ABSL_GUARDED_BY(mu_) = false;
  size_t offset_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const RoundResult> result_ ABSL_GUARDED_BY(mu_);
  PushPullResponse response_ ABSL_GUARDED_BY(mu_);  // dense pieces
  // Sparse downlink: the round's shared messages and the next to write.
  std::shared_ptr<const SparseReplyCache::Reply> sparse_reply_
      ABSL_GUARDED_BY(mu_);
  size_t sparse_next_ ABSL_GUARDED_BY(mu_) = 0;
};

// Streams the shard's current values under a read lease.
class PullReactor final : public grpc::ServerWriteReactor<PullResponse> {
 public:
  PullReactor(ShardState* state, ServerMetrics* metrics, size_t piece_floats)
      : state_(state), metrics_(metrics), piece_floats_(piece_floats) {}

  void Start(uint32_t shard_index) {
    absl::MutexLock lock(&mu_);
    if (shard_index != state_->shard_index()) {
      metrics_->Reject(RejectReason::kWrongShard);
      CDDP_HAPPENS_BEFORE(this);
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "wrong shard: pull for shard " +
                              std::to_string(shard_index) +
                              ", this server holds shard " +
                              std::to_string(state_->shard_index())));
      return;
    }
    absl::StatusOr<ReadLease> lease = state_->BeginRead();
    if (!lease.ok()) {
      CDDP_HAPPENS_BEFORE(this);
      Finish(proto::ToGrpcStatus(lease.status()));
      return;
    }
    has_lease_ = true;
    lease_ = *lease;
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    CDDP_HAPPENS_AFTER(this);
    absl::MutexLock lock(&mu_);
    if (!ok) {
      CDDP_HAPPENS_BEFORE(this);
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broke"));
    } else if (wrote_last_) {
      CDDP_HAPPENS_BEFORE(this);
      Finish(grpc::Status::OK);
    } else {
      WriteNextLocked();
    }
  }

  void OnDone() override {
    CDDP_HAPPENS_AFTER(this);
    bool release;
    uint64_t lease;
    {
      absl::MutexLock lock(&mu_);
      release = has_lease_;
      lease = lease_.id;
    }
    if (release) state_->EndRead(lease);
    delete this;
  }

 private:
  // The lease is kept to OnDone: pulls are rare, and the lock order
  // (EndRead may deliver to other reactors) stays simple.
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    response_.Clear();
    response_.set_step(lease_.step);
    if (!state_->ReadValues(lease_.id, [&](std::span<const float> values) {
          wrote_last_ =
              FillDensePiece(values, piece_floats_, &offset_, &response_);
        })) {
      CDDP_HAPPENS_BEFORE(this);
      Finish(AbandonedReply());
      return;
    }
    metrics_->sent_bytes.Increment(
        static_cast<double>(response_.ByteSizeLong()));
    CDDP_HAPPENS_BEFORE(this);
    StartWrite(&response_);
  }

  ShardState* const state_;
  ServerMetrics* const metrics_;
  const size_t piece_floats_;
  absl::Mutex mu_;
  bool has_lease_ ABSL_GUARDED_BY(mu_) = false;
  bool wrote_last_ ABSL_GUARDED_BY(mu_) = false;
  ReadLease lease_ ABSL_GUARDED_BY(mu_);
  size_t offset_ ABSL_GUARDED_BY(mu_) = 0;
  PullResponse response_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

ParameterServerService::~ParameterServerService() = default;

ParameterServerService::ParameterServerService(ShardState* state,
                                               ServerMetrics* metrics,
                                               size_t piece_bytes)
    : state_(state),
      metrics_(metrics),
      sparse_replies_(std::make_unique<SparseReplyCache>()),
      piece_floats_(piece_bytes / sizeof(float)) {
  CDDP_CHECK(piece_floats_ > 0);
}

grpc::ServerUnaryReactor* ParameterServerService::Join(
    grpc::CallbackServerContext* context, const cddp::v1::JoinRequest* request,
    cddp::v1::JoinResponse* response) {
  const Layout layout = proto::LayoutFromProto(request->layout());
  std::optional<std::string_view> initial_values;
  if (request->has_initial_values()) initial_values = request->initial_values();
  const auto joined = state_->Join(
      request->worker_id(), request->shard_index(), layout, initial_values,
      request->applies_delta_replies(), request->applies_momentum());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!joined.ok()) {
    CDDP_HAPPENS_BEFORE(reactor);
    reactor->Finish(proto::ToGrpcStatus(joined.status()));
    return reactor;
  }
  response->set_step(joined->open_round);
  response->set_num_workers(state_->num_workers());
  response->set_initialized_by_this_worker(joined->initialized_by_this_worker);
  response->set_needs_initial_values(joined->needs_initial_values);
  response->set_downlink(DownlinkToProto(joined->downlink));
  if (joined->counted_step.has_value()) {
    response->set_counted_step(*joined->counted_step);
  }
  CDDP_HAPPENS_BEFORE(reactor);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<PushPullResponse>* ParameterServerService::PushPull(
    grpc::CallbackServerContext* context,
    const cddp::v1::PushPullRequest* request) {
  auto* reactor = new PushPullReactor(context, request, state_, metrics_,
                                      sparse_replies_.get(), piece_floats_);
  reactor->Start();
  CDDP_HAPPENS_BEFORE(reactor);  // the handler happens before the reactions
  return reactor;
}

grpc::ServerWriteReactor<PullResponse>* ParameterServerService::Pull(
    grpc::CallbackServerContext* /*context*/,
    const cddp::v1::PullRequest* request) {
  auto* reactor = new PullReactor(state_, metrics_, piece_floats_);
  reactor->Start(request->shard_index());
  CDDP_HAPPENS_BEFORE(reactor);
  return reactor;
}

}  // namespace cddp::server
