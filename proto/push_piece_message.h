// cddp.v1.PushPullRequest as a type of our own, so a piece of a push
// crosses gRPC without the two copies protobuf adds (the message's byte
// fields into gRPC's buffers on the worker, out of them on the shard).
//
// gRPC serialises a PushPieceMessage through the SerializationTraits
// specialisation below:
//   - Serialise emits the bytes the generated message would (fields in
//     number order, defaults left out) and hands the chunk's index and value
//     bytes to gRPC as slices that own them: no copy.
//   - Parse reads the fields straight out of the slices gRPC received; the
//     chunk's byte fields stay there, as references to those slices, until
//     the reader copies them where they belong (common::PushAssembler's
//     ChunkParts). A message our parser does not take (groups, malformed
//     input) goes to protobuf's parser, so the two take the same messages
//     and read the same fields from them; unknown fields are skipped.
// Peers that use the generated message (older workers, other languages)
// talk to either side unchanged: the wire format is the same.
//
// Thread-compatible; a message must not be used while gRPC serialises it.
#ifndef CDDP_PROTO_PUSH_PIECE_MESSAGE_H_
#define CDDP_PROTO_PUSH_PIECE_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "cddp/v1/parameter_server.pb.h"
#include "grpcpp/impl/serialization_traits.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "proto/slice_wire.h"

namespace cddp::proto {

// One cddp.v1.PushPullRequest; see the proto for the fields.
struct PushPieceMessage {
  uint64_t step = 0;
  uint32_t worker_id = 0;
  uint32_t shard_index = 0;
  uint64_t offset = 0;
  bool last = false;
  // has_chunk as the generated message's has_chunk(): set by a chunk on
  // the wire or by a writer.
  bool has_chunk = false;
  ChunkFields chunk;

  void Clear() { *this = PushPieceMessage(); }
  // The bytes SerializePushPiece produces.
  size_t ByteSizeLong() const;
};

// The message as slices (the chunk's byte fields as their own parts). The
// same bytes as the generated message's SerializeAsString().
grpc::ByteBuffer SerializePushPiece(const PushPieceMessage& message);

// Parses `slices` (one serialised message, cut anywhere) into *message
// (cleared first) without copying the chunk's byte fields. False, with
// *message unspecified, for a message it does not take: malformed, or
// holding a group; DeserializePushPiece then asks protobuf.
bool ParsePushPiece(std::span<const grpc::Slice> slices,
                    PushPieceMessage* message);

// ParsePushPiece, else protobuf's parser (copying the fields it reads);
// INTERNAL if neither takes the bytes, as for a generated message.
grpc::Status DeserializePushPiece(grpc::ByteBuffer* buffer,
                                  PushPieceMessage* message);

// Conversions to and from the generated message (copies the bytes).
PushPieceMessage FromGenerated(const cddp::v1::PushPullRequest& request);
void ToGenerated(const PushPieceMessage& message,
                 cddp::v1::PushPullRequest* request);

}  // namespace cddp::proto

namespace grpc {

template <>
class SerializationTraits<cddp::proto::PushPieceMessage, void> {
 public:
  static Status Serialize(const cddp::proto::PushPieceMessage& message,
                          ByteBuffer* buffer, bool* own_buffer) {
    *buffer = cddp::proto::SerializePushPiece(message);
    *own_buffer = true;
    return Status::OK;
  }
  static Status Deserialize(ByteBuffer* buffer,
                            cddp::proto::PushPieceMessage* message) {
    return cddp::proto::DeserializePushPiece(buffer, message);
  }
};

}  // namespace grpc

#endif  // CDDP_PROTO_PUSH_PIECE_MESSAGE_H_
