// The proto <-> domain conversions of wire_adapter.h. The enums are cast
// here and only here, after the static_asserts below show they agree.
#include "proto/wire_adapter.h"

#include <bit>
#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cddp::proto {
namespace {

static_assert(std::endian::native == std::endian::little,
              "wire values are little-endian fp32 copied as-is");

using common::IndexEncoding;
using common::ValueType;

static_assert(static_cast<int>(ValueType::kFp32) == cddp::v1::VALUE_TYPE_FP32);
static_assert(static_cast<int>(ValueType::kFp16) == cddp::v1::VALUE_TYPE_FP16);
static_assert(static_cast<int>(ValueType::kBf16) == cddp::v1::VALUE_TYPE_BF16);
static_assert(static_cast<int>(IndexEncoding::kAbsoluteU32) ==
              cddp::v1::INDEX_ENCODING_ABSOLUTE_U32);
static_assert(static_cast<int>(IndexEncoding::kDeltaVarint) ==
              cddp::v1::INDEX_ENCODING_DELTA_VARINT);
static_assert(static_cast<int>(IndexEncoding::kDense) ==
              cddp::v1::INDEX_ENCODING_DENSE);

}  // namespace

cddp::v1::ValueType ToProto(ValueType type) {
  return static_cast<cddp::v1::ValueType>(type);
}

cddp::v1::IndexEncoding ToProto(IndexEncoding encoding) {
  return static_cast<cddp::v1::IndexEncoding>(encoding);
}

common::EncodedChunkView ChunkView(const cddp::v1::SparseChunk& chunk) {
  return {chunk.count(), chunk.value_type(), chunk.index_encoding(),
          chunk.indices(), chunk.values()};
}

absl::Status EncodeChunkInto(std::span<const uint32_t> indices,
                             std::span<const float> values,
                             ValueType value_type, IndexEncoding index_encoding,
                             cddp::v1::SparseChunk* chunk) {
  chunk->set_count(static_cast<uint32_t>(indices.size()));
  chunk->set_value_type(ToProto(value_type));
  chunk->set_index_encoding(ToProto(index_encoding));
  return common::EncodeChunk(indices, values, value_type, index_encoding,
                             chunk->mutable_indices(), chunk->mutable_values());
}

absl::Status EncodePushPieceInto(std::span<const uint32_t> indices,
                                 std::span<const float> values,
                                 ValueType value_type,
                                 IndexEncoding index_encoding, bool dense,
                                 PushPieceMessage* piece) {
  if (!dense) {
    std::string index_bytes, value_bytes;
    CDDP_RETURN_IF_ERROR(common::EncodeChunk(indices, values, value_type,
                                             index_encoding, &index_bytes,
                                             &value_bytes));
    piece->offset = 0;
    piece->has_chunk = true;
    wire::SetChunk(static_cast<uint32_t>(indices.size()),
                   static_cast<int32_t>(value_type),
                   static_cast<int32_t>(index_encoding), std::move(index_bytes),
                   std::move(value_bytes), &piece->chunk);
    return absl::OkStatus();
  }
  if (indices.size() != values.size() ||
      (!indices.empty() &&
       indices.back() - indices.front() != indices.size() - 1)) {
    return absl::InvalidArgumentError(
        "a dense piece needs a run of consecutive indices");
  }
  EncodeDensePieceInto(indices.empty() ? 0 : indices.front(), values,
                       value_type, piece);
  return absl::OkStatus();
}

void EncodeDensePieceInto(uint32_t offset, std::span<const float> values,
                          ValueType value_type, PushPieceMessage* piece) {
  std::string value_bytes;
  common::EncodeValues(values, value_type, &value_bytes);
  piece->offset = offset;
  piece->has_chunk = true;
  wire::SetChunk(static_cast<uint32_t>(values.size()),
                 static_cast<int32_t>(value_type),
                 static_cast<int32_t>(IndexEncoding::kDense), "",
                 std::move(value_bytes), &piece->chunk);
}

void DensePieceFromSlice(uint32_t offset, uint32_t count, grpc::Slice fp32_le,
                         PushPieceMessage* piece) {
  piece->offset = offset;
  piece->has_chunk = true;
  wire::SetChunk(count, static_cast<int32_t>(ValueType::kFp32),
                 static_cast<int32_t>(IndexEncoding::kDense), "", "",
                 &piece->chunk);
  piece->chunk.values.Append(std::move(fp32_le));
}

common::ChunkParts ChunkPartsOf(const PushPieceMessage& piece,
                                PieceParts* parts) {
  piece.chunk.indices.Views(&parts->indices);
  piece.chunk.values.Views(&parts->values);
  return {piece.chunk.count, piece.chunk.value_type, piece.chunk.index_encoding,
          parts->indices, parts->values};
}

common::Layout LayoutFromProto(const cddp::v1::LayoutFingerprint& f) {
  common::Layout layout;
  layout.total_size = f.total_size();
  layout.shard_bounds.assign(f.shard_bounds().begin(), f.shard_bounds().end());
  layout.tensor_sizes.assign(f.tensor_sizes().begin(), f.tensor_sizes().end());
  return layout;
}

void LayoutToProto(const common::Layout& layout,
                   cddp::v1::LayoutFingerprint* f) {
  f->set_total_size(layout.total_size);
  f->mutable_shard_bounds()->Assign(layout.shard_bounds.begin(),
                                    layout.shard_bounds.end());
  f->mutable_tensor_sizes()->Assign(layout.tensor_sizes.begin(),
                                    layout.tensor_sizes.end());
}

bool FillDensePiece(std::span<const float> values, size_t piece, size_t* offset,
                    ReplyPieceMessage* message) {
  const size_t len = std::min(piece, values.size() - *offset);
  message->offset = *offset;
  message->dense_values.Assign(
      std::string(reinterpret_cast<const char*>(values.data() + *offset),
                  len * sizeof(float)));
  *offset += len;
  message->last = *offset == values.size();
  return message->last;
}

namespace {

// Where a dense piece of `bytes` at `offset` goes, checked as
// TakeDensePiece says.
absl::StatusOr<float*> DensePieceTarget(uint64_t offset, size_t bytes,
                                        std::span<float> shard_params,
                                        uint64_t* next_offset) {
  if (offset != *next_offset || bytes % sizeof(float) != 0 ||
      offset + bytes / sizeof(float) > shard_params.size()) {
    return absl::DataLossError(absl::StrCat(
        "malformed dense piece: offset ", offset, " (expected ", *next_offset,
        "), ", bytes, " bytes, shard size ", shard_params.size()));
  }
  *next_offset = offset + bytes / sizeof(float);
  return shard_params.data() + offset;
}

}  // namespace

absl::Status TakeDensePiece(uint64_t offset, const std::string& bytes,
                            std::span<float> shard_params,
                            uint64_t* next_offset) {
  CDDP_ASSIGN_OR_RETURN(float* to, DensePieceTarget(offset, bytes.size(),
                                                    shard_params, next_offset));
  std::memcpy(to, bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::Status TakeDensePiece(uint64_t offset, const SliceBytes& bytes,
                            std::span<float> shard_params,
                            uint64_t* next_offset) {
  CDDP_ASSIGN_OR_RETURN(float* to, DensePieceTarget(offset, bytes.size(),
                                                    shard_params, next_offset));
  bytes.CopyTo(reinterpret_cast<char*>(to));
  return absl::OkStatus();
}

}  // namespace cddp::proto
