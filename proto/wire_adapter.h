// The one adapter between the generated cddp.v1 messages and the domain
// types: chunk views from a SparseChunk and chunks encoded into one, the
// enums (checked at compile time to agree), the layout fingerprint, and
// the dense pieces replies stream in. Status codes have their own half,
// status_convert.h. No other file casts between cddp::v1 and domain types
// or reads a chunk's bytes field by field.
//
// Stateless functions; safe from any thread.
#ifndef CDDP_PROTO_WIRE_ADAPTER_H_
#define CDDP_PROTO_WIRE_ADAPTER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cddp/v1/parameter_server.pb.h"
#include "common/compress/sparse.h"
#include "common/wire/layout.h"
#include "common/wire/push_pieces.h"
#include "common/wire/wire_codec.h"
#include "grpcpp/support/slice.h"
#include "proto/push_piece_message.h"
#include "proto/reply_piece_message.h"

namespace cddp::proto {

cddp::v1::ValueType ToProto(common::ValueType type);
cddp::v1::IndexEncoding ToProto(common::IndexEncoding encoding);

// A view of `chunk`'s fields (valid while `chunk` lives); its enums are
// checked by common::DecodeChunk, not here.
common::EncodedChunkView ChunkView(const cddp::v1::SparseChunk& chunk);

// Encodes the pairs (indices[i], values[i]) into `chunk` (count, formats,
// bytes), straight into its fields. Errors as common::EncodeChunk, with
// `chunk` then unspecified.
absl::Status EncodeChunkInto(std::span<const uint32_t> indices,
                             std::span<const float> values,
                             common::ValueType value_type,
                             common::IndexEncoding index_encoding,
                             cddp::v1::SparseChunk* chunk);
// Encodes the pairs (indices[i], values[i]) as one piece of a push sent in
// pieces (common/wire/push_pieces.h) into `piece`'s chunk and offset: with
// `dense` (the pairs are a run of consecutive indices) a dense piece of
// values alone at offset indices[0], else a chunk in `index_encoding` at
// offset 0. The encoded bytes become the message's (no copy). Errors as
// EncodeChunkInto.
absl::Status EncodePushPieceInto(std::span<const uint32_t> indices,
                                 std::span<const float> values,
                                 common::ValueType value_type,
                                 common::IndexEncoding index_encoding,
                                 bool dense, PushPieceMessage* piece);
// A dense piece of a push: `values` for the consecutive shard-local indices
// from `offset` (no index bytes), into `piece`'s chunk and offset.
void EncodeDensePieceInto(uint32_t offset, std::span<const float> values,
                          common::ValueType value_type,
                          PushPieceMessage* piece);
// The same for fp32 values already in wire form: `fp32_le` holds `count`
// little-endian floats and becomes the piece's values as it is (no copy).
void DensePieceFromSlice(uint32_t offset, uint32_t count, grpc::Slice fp32_le,
                         PushPieceMessage* piece);

// The chunk of a received piece as parts of gRPC's slices, for
// common::PushAssembler::Add; the views live as long as `piece`'s bytes
// and `*parts` (whose storage they use).
struct PieceParts {
  std::vector<std::string_view> indices, values;
};
common::ChunkParts ChunkPartsOf(const PushPieceMessage& piece,
                                PieceParts* parts);
common::Layout LayoutFromProto(const cddp::v1::LayoutFingerprint& fingerprint);
void LayoutToProto(const common::Layout& layout,
                   cddp::v1::LayoutFingerprint* fingerprint);

// Puts the dense piece values[*offset, *offset + piece) into `response`
// (offset, dense_values, last) and advances *offset. Returns whether this
// was the last piece. For PushPullResponse and PullResponse alike.
template <typename Response>
bool FillDensePiece(std::span<const float> values, size_t piece, size_t* offset,
                    Response* response) {
  const size_t len = std::min(piece, values.size() - *offset);
  response->set_offset(*offset);
  response->mutable_dense_values()->assign(
      reinterpret_cast<const char*>(values.data() + *offset),
      len * sizeof(float));
  *offset += len;
  const bool last = *offset == values.size();
  response->set_last(last);
  return last;
}

// The same for a reply of ours: the values in one copy, into a slice the
// message owns.
bool FillDensePiece(std::span<const float> values, size_t piece, size_t* offset,
                    ReplyPieceMessage* message);

// Copies a dense piece (`bytes` of fp32 at shard-local `offset`) into the
// shard's range; pieces come in order, *next_offset is where the next one
// starts. DATA_LOSS (nothing copied) for a piece out of order, of a ragged
// size or past the range.
absl::Status TakeDensePiece(uint64_t offset, const std::string& bytes,
                            std::span<float> shard_params,
                            uint64_t* next_offset);
// The same from the slices a reply of ours was received in.
absl::Status TakeDensePiece(uint64_t offset, const SliceBytes& bytes,
                            std::span<float> shard_params,
                            uint64_t* next_offset);

}  // namespace cddp::proto

#endif  // CDDP_PROTO_WIRE_ADAPTER_H_
