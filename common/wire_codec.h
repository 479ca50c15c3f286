// Encoding and strict decoding of sparse chunks: the (index, value) pairs a
// worker sends to one shard, with shard-local indices.
//
// Layout (matching cddp.v1.SparseChunk): `indices` is either `count`
// little-endian uint32 (absolute) or `count` LEB128 varints (the first index,
// then each gap to the previous index; gaps are >= 1), or empty for a dense
// chunk (every index of the range, in order); `values` is `count`
// little-endian values of the value type. Values are rounded to nearest even
// when narrowed to fp16/bf16.
//
// The decoder is the gatekeeper for peer input: it checks every rule below
// and returns INVALID_ARGUMENT naming the broken rule, never reads out of
// bounds, and writes its outputs only on success.
//   - value type and index encoding are known
//   - values has exactly count * bytes-per-value bytes
//   - absolute: indices has exactly 4 * count bytes; varint: exactly count
//     varints, none longer than 5 bytes or above 2^32 - 1, no bytes left
//     over; dense: no index bytes and count == range_size
//   - indices strictly increasing and < range_size
//   - every value finite
#ifndef CDDP_COMMON_WIRE_CODEC_H_
#define CDDP_COMMON_WIRE_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/sparse.h"

namespace cddp::common {

// An encoded chunk's fields, as views (e.g. into a protobuf message).
struct EncodedChunkView {
  uint32_t count = 0;
  int value_type = 0;      // a ValueType value; checked by DecodeChunk
  int index_encoding = 0;  // an IndexEncoding value; checked by DecodeChunk
  std::string_view indices;
  std::string_view values;
};

// Encodes `s` (indices strictly ascending) into `indices_out` and
// `values_out` (replacing their contents). INVALID_ARGUMENT if the indices
// are not strictly ascending, the sizes differ, or kDense is asked for
// indices that are not exactly 0, 1, ..., size - 1.
absl::Status EncodeChunk(const SparseSelection& s, ValueType value_type,
                         IndexEncoding index_encoding,
                         std::string* indices_out, std::string* values_out);

// Wire bytes EncodeChunk would produce, without encoding.
size_t EncodedSize(const SparseSelection& s, ValueType value_type,
                   IndexEncoding index_encoding);

// Decodes and validates `chunk` against a range of `range_size` elements;
// on success replaces `out`'s contents. See the file comment for the rules.
absl::Status DecodeChunk(const EncodedChunkView& chunk, uint32_t range_size,
                         SparseSelection* out);

}  // namespace cddp::common

#endif  // CDDP_COMMON_WIRE_CODEC_H_
