// cddp.v1.PushPullResponse as a type of our own, the reply's half of
// push_piece_message.h: a shard sends a dense piece's values as the one
// slice it read them into (no protobuf copy), and a worker parses a piece
// without copying its bytes out of the slices gRPC received, then copies
// them straight into its parameters. The same bytes on the wire as the
// generated message; what our parser does not take goes to protobuf's
// (slice_wire.h), so peers on the generated message work unchanged.
//
// Thread-compatible; gRPC may serialise one message from several threads
// at once (its slices are reference-counted and only read).
#ifndef CDDP_PROTO_REPLY_PIECE_MESSAGE_H_
#define CDDP_PROTO_REPLY_PIECE_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "cddp/v1/parameter_server.pb.h"
#include "grpcpp/impl/serialization_traits.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "proto/slice_wire.h"

namespace cddp::proto {

// One cddp.v1.PushPullResponse; see the proto for the fields.
struct ReplyPieceMessage {
  uint64_t step = 0;
  uint32_t contributors = 0;
  uint64_t offset = 0;
  SliceBytes dense_values;
  // has_sparse_update as the generated message's has_sparse_update().
  bool has_sparse_update = false;
  ChunkFields sparse_update;
  bool last = false;
  bool delta = false;

  void Clear() { *this = ReplyPieceMessage(); }
  // The bytes SerializeReplyPiece produces.
  size_t ByteSizeLong() const;
};

// The message as slices; the same bytes as the generated message's
// SerializeAsString().
grpc::ByteBuffer SerializeReplyPiece(const ReplyPieceMessage& message);

// As ParsePushPiece / DeserializePushPiece (push_piece_message.h).
bool ParseReplyPiece(std::span<const grpc::Slice> slices,
                     ReplyPieceMessage* message);
grpc::Status DeserializeReplyPiece(grpc::ByteBuffer* buffer,
                                   ReplyPieceMessage* message);

ReplyPieceMessage FromGenerated(const cddp::v1::PushPullResponse& response);
void ToGenerated(const ReplyPieceMessage& message,
                 cddp::v1::PushPullResponse* response);

}  // namespace cddp::proto

namespace grpc {

template <>
class SerializationTraits<cddp::proto::ReplyPieceMessage, void> {
 public:
  static Status Serialize(const cddp::proto::ReplyPieceMessage& message,
                          ByteBuffer* buffer, bool* own_buffer) {
    *buffer = cddp::proto::SerializeReplyPiece(message);
    *own_buffer = true;
    return Status::OK;
  }
  static Status Deserialize(ByteBuffer* buffer,
                            cddp::proto::ReplyPieceMessage* message) {
    return cddp::proto::DeserializeReplyPiece(buffer, message);
  }
};

}  // namespace grpc

#endif  // CDDP_PROTO_REPLY_PIECE_MESSAGE_H_
