// Pushing to a shard over a raw stub, as a misbehaving or foreign client
// would: whole (PushPull) or in pieces (PushPullStream), with the call's
// status and the shard's current step from the trailing metadata. Blocking;
// each call waits at most kWaitTimeout (a bound on a hang, not a speed
// check).
#ifndef CDDP_TESTS_SUPPORT_RAW_PUSH_H_
#define CDDP_TESTS_SUPPORT_RAW_PUSH_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cddp/v1/parameter_server.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/status_convert.h"
#include "tests/support/wait_until.h"

namespace cddp::testing {

struct Outcome {
  absl::Status status;
  std::optional<uint64_t> current_step;
  uint32_t reply_messages = 0;
};

// A stub without message size limits of its own (plaintext unless
// `credentials` are given).
inline std::unique_ptr<cddp::v1::ParameterServer::Stub> RawStub(
    const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  if (credentials == nullptr) {
    credentials = grpc::InsecureChannelCredentials();
  }
  return cddp::v1::ParameterServer::NewStub(
      grpc::CreateCustomChannel(address, credentials, args));
}

// One PushPull with `req`; reads the whole reply.
inline Outcome RawPush(cddp::v1::ParameterServer::Stub& stub,
                       const cddp::v1::PushPullRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kWaitTimeout);
  auto reader = stub.PushPull(&ctx, req);
  Outcome o;
  cddp::v1::PushPullResponse resp;
  while (reader->Read(&resp)) ++o.reply_messages;
  o.status = proto::FromGrpcStatus(reader->Finish());
  o.current_step = proto::CurrentStepFromTrailers(ctx);
  return o;
}

// One PushPullStream writing `pieces` as they are (their `last` fields
// included), then half-closing; reads the whole reply.
inline Outcome RawPushPieces(
    cddp::v1::ParameterServer::Stub& stub,
    const std::vector<cddp::v1::PushPullRequest>& pieces) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kWaitTimeout);
  auto stream = stub.PushPullStream(&ctx);
  for (const auto& piece : pieces) {
    if (!stream->Write(piece)) break;  // the server finished the call
  }
  stream->WritesDone();
  Outcome o;
  cddp::v1::PushPullResponse resp;
  while (stream->Read(&resp)) ++o.reply_messages;
  o.status = proto::FromGrpcStatus(stream->Finish());
  o.current_step = proto::CurrentStepFromTrailers(ctx);
  return o;
}

}  // namespace cddp::testing

#endif  // CDDP_TESTS_SUPPORT_RAW_PUSH_H_
