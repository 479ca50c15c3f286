// The gRPC face of one parameter-server shard (cddp.v1.ParameterServer),
// on the callback API. Join is unary. Pull is server-streaming: dense values
// go out in pieces of `piece_bytes` so no single message has to hold a whole
// shard. PushPull and PushPullStream are answered by the reactors of
// push_pull_reactors.h, whose replies stream the same way; a push whose
// round is still open keeps its reactor registered with the ShardState and
// returns, so no thread waits for a round. A push's pieces and its reply's
// are proto::PushPieceMessage and proto::ReplyPieceMessage, not the
// generated messages (the same bytes on the wire, without protobuf's
// copies).
//
// Thread-safe: gRPC calls the handlers from its own threads.
#ifndef CDDP_SERVER_PARAMETER_SERVER_SERVICE_H_
#define CDDP_SERVER_PARAMETER_SERVER_SERVICE_H_

#include <cstddef>
#include <memory>

#include "cddp/v1/parameter_server.grpc.pb.h"
#include "server/push_pull_reactors.h"
#include "server/shard/server_metrics.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

// 256 KiB: the copies of a piece (into the message, into gRPC's buffers)
// stay in L2; with the 1 % push of bench/ps_bench.sh the dense reply moved
// at a median 47.5 % of raw TCP (44-48 %, six runs) against 43.5 % (31-50 %)
// with 1 MiB pieces.
inline constexpr size_t kDefaultPieceBytes = size_t{256} << 10;

class ParameterServerService final
    : public cddp::v1::ParameterServer::CallbackService {
 public:
  // `state` and `metrics` outlive the service; piece_bytes is a multiple of 4.
  // With `authorize_workers` (the server serves mutual TLS), a Join or push
  // is taken only as the worker the peer's certificate names
  // (server/worker_identity.h); a refusal changes nothing.
  ParameterServerService(ShardState* state, ServerMetrics* metrics,
                         size_t piece_bytes = kDefaultPieceBytes,
                         bool authorize_workers = false);
  ~ParameterServerService() override;

  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* context,
                                 const cddp::v1::JoinRequest* request,
                                 cddp::v1::JoinResponse* response) override;
  grpc::ServerWriteReactor<cddp::v1::PullResponse>* Pull(
      grpc::CallbackServerContext* context,
      const cddp::v1::PullRequest* request) override;

 private:
  ShardState* const state_;
  ServerMetrics* const metrics_;
  const std::unique_ptr<SparseReplyCache> sparse_replies_;
  const std::unique_ptr<DenseReplyCache> dense_replies_;
  const size_t piece_floats_;
  const bool authorize_workers_;

  PushContext push_context() const {
    return {state_,
            metrics_,
            sparse_replies_.get(),
            dense_replies_.get(),
            piece_floats_,
            authorize_workers_};
  }
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_PARAMETER_SERVER_SERVICE_H_
