// The reactors that answer a push on the gRPC callback API: PushPull (the
// whole push in one message) and PushPullStream (the push in pieces, put
// together by common::PushAssembler as they arrive). Both register the push
// with the ShardState and, once its round closes, stream the reply: the
// round's shared dense pieces of `piece_floats` values (DenseReplyCache,
// each copied under a read lease once a round) or its shared sparse pieces
// (SparseReplyCache). A push whose round is
// still open keeps its reactor registered with the ShardState and returns;
// no thread waits for a round.
//
// With PushContext::authorize_workers, a push as a worker the peer's
// certificate does not name is refused (UNAUTHENTICATED / PERMISSION_DENIED)
// before the shard sees it.
//
// Step-mismatch rejections carry the shard's current step in the trailing
// metadata key proto::kCurrentStepMetadataKey as well as in the message.
#ifndef CDDP_SERVER_PUSH_PULL_REACTORS_H_
#define CDDP_SERVER_PUSH_PULL_REACTORS_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cddp/v1/parameter_server.grpc.pb.h"
#include "proto/push_piece_message.h"
#include "proto/reply_piece_message.h"
#include "server/reply_caches.h"
#include "server/shard/server_metrics.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

// What the push reactors need from their service; all outlive the calls.
struct PushContext {
  ShardState* state;
  ServerMetrics* metrics;
  SparseReplyCache* sparse_replies;
  DenseReplyCache* dense_replies;
  size_t piece_floats;
  // Mutual TLS: a push is taken only as the worker its peer's certificate
  // names (server/worker_identity.h).
  bool authorize_workers;
};

// The status of a reply whose read lease was revoked (ShardState::
// PollTimeout): the reader did not keep up. Also for pulls.
grpc::Status AbandonedReply();

// Starts answering a PushPull; the reactor deletes itself when done.
grpc::ServerWriteReactor<proto::ReplyPieceMessage>* StartPushPull(
    grpc::CallbackServerContext* context,
    const cddp::v1::PushPullRequest* request, const PushContext& push);

// Starts answering a PushPullStream; the reactor deletes itself when done.
// The pieces are read as proto::PushPieceMessage (their bytes stay in
// gRPC's slices until assembled); see ParameterServerService.
grpc::ServerBidiReactor<proto::PushPieceMessage, proto::ReplyPieceMessage>*
StartPushPullStream(grpc::CallbackServerContext* context,
                    const PushContext& push);

}  // namespace cddp::server

#endif  // CDDP_SERVER_PUSH_PULL_REACTORS_H_
