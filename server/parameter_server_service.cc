#include "server/parameter_server_service.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/check.h"
#include "common/happens_before.h"
#include "proto/status_convert.h"
#include "proto/wire_adapter.h"
#include "server/push_pull_reactors.h"
#include "server/worker_identity.h"

namespace cddp::server {
namespace {

using cddp::v1::PullResponse;
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

// PullReactor marks every Start*/Finish call with CDDP_HAPPENS_BEFORE(this)
// and opens every reaction with CDDP_HAPPENS_AFTER(this), and the handler
// marks the reactor it returns (common/happens_before.h).

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
                                               size_t piece_bytes,
                                               bool authorize_workers)
    : state_(state),
      metrics_(metrics),
      sparse_replies_(std::make_unique<SparseReplyCache>()),
      dense_replies_(std::make_unique<DenseReplyCache>()),
      piece_floats_(piece_bytes / sizeof(float)),
      authorize_workers_(authorize_workers) {
  CDDP_CHECK(piece_floats_ > 0);
  // PushPull and PushPullStream read and write proto::PushPieceMessage and
  // proto::ReplyPieceMessage (the same wire bytes, without protobuf's
  // copies): their handlers replace the generated ones, at the methods'
  // places in the service.
  constexpr int kPushPull = 1, kPushPullStream = 2;
  const auto* service =
      cddp::v1::PushPullRequest::descriptor()->file()->FindServiceByName(
          "ParameterServer");
  CDDP_CHECK(service->method(kPushPull)->name() == "PushPull");
  CDDP_CHECK(service->method(kPushPullStream)->name() == "PushPullStream");
  MarkMethodCallback(
      kPushPull, new grpc::internal::CallbackServerStreamingHandler<
                     cddp::v1::PushPullRequest, proto::ReplyPieceMessage>(
                     [this](grpc::CallbackServerContext* context,
                            const cddp::v1::PushPullRequest* request) {
                       return StartPushPull(context, request, push_context());
                     }));
  MarkMethodCallback(
      kPushPullStream,
      new grpc::internal::CallbackBidiHandler<proto::PushPieceMessage,
                                              proto::ReplyPieceMessage>(
          [this](grpc::CallbackServerContext* context) {
            return StartPushPullStream(context, push_context());
          }));
}

grpc::ServerUnaryReactor* ParameterServerService::Join(
    grpc::CallbackServerContext* context, const cddp::v1::JoinRequest* request,
    cddp::v1::JoinResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (authorize_workers_) {
    const absl::Status allowed =
        AuthorizeWorker(context->auth_context().get(), request->worker_id());
    if (!allowed.ok()) {
      metrics_->Reject(RejectReason::kNotAuthorized);
      CDDP_HAPPENS_BEFORE(reactor);
      reactor->Finish(proto::ToGrpcStatus(allowed));
      return reactor;
    }
  }
  const Layout layout = proto::LayoutFromProto(request->layout());
  std::optional<std::string_view> initial_values;
  if (request->has_initial_values()) initial_values = request->initial_values();
  const auto joined = state_->Join(
      request->worker_id(), request->shard_index(), layout, initial_values,
      request->applies_delta_replies(), request->applies_momentum());
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

grpc::ServerWriteReactor<PullResponse>* ParameterServerService::Pull(
    grpc::CallbackServerContext* /*context*/,
    const cddp::v1::PullRequest* request) {
  auto* reactor = new PullReactor(state_, metrics_, piece_floats_);
  reactor->Start(request->shard_index());
  CDDP_HAPPENS_BEFORE(reactor);
  return reactor;
}

}  // namespace cddp::server
