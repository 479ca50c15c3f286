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
#ifndef CDDP_COMMON_WIRE_WIRE_CODEC_H_
#define CDDP_COMMON_WIRE_WIRE_CODEC_H_

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "common/compress/sparse.h"

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
                         IndexEncoding index_encoding, std::string* indices_out,
                         std::string* values_out);
// The same for the pairs (indices[i], values[i]), e.g. a piece of a
// selection.
absl::Status EncodeChunk(std::span<const uint32_t> indices,
                         std::span<const float> values, ValueType value_type,
                         IndexEncoding index_encoding, std::string* indices_out,
                         std::string* values_out);

// The values half of EncodeChunk: `values` in `value_type`, into
// `values_out` (replacing its contents). A dense piece of a push
// (push_pieces.h) is just this.
void EncodeValues(std::span<const float> values, ValueType value_type,
                  std::string* values_out);

// Wire bytes EncodeChunk would produce, without encoding.
size_t EncodedSize(const SparseSelection& s, ValueType value_type,
                   IndexEncoding index_encoding);

// Decodes and validates `chunk` against a range of `range_size` elements;
// on success replaces `out`'s contents. See the file comment for the rules.
absl::Status DecodeChunk(const EncodedChunkView& chunk, uint32_t range_size,
                         SparseSelection* out);

// The same, appending the chunk's pairs to `out` (whose capacity is
// reused); on failure `out` is as it was. The pairs are checked against
// each other and the range, not against what `out` held before.
absl::Status DecodeChunkAppend(const EncodedChunkView& chunk,
                               uint32_t range_size, SparseSelection* out);

// --- Fast paths for callers that decode in their own loop (the worker's
// sparse-reply apply); on `false` they run DecodeChunk for the message. ---

// True if `fp32_le` (little-endian fp32 values) holds no NaN or inf.
// Vectorisable: no early exit.
bool AllFiniteFp32(std::string_view fp32_le);

namespace internal {
// One LEB128 varint of at most 5 bytes and at most 2^32 - 1 at `p`: its
// value and the byte after it, or next == nullptr if it is longer, larger,
// or runs past `end`. (Returned by value: a pointer passed by address
// would be spilled to memory and reloaded after every scattered store in
// the callers' loops.)
struct Varint {
  const uint8_t* next;
  uint64_t value;
};
inline Varint ReadVarint32(const uint8_t* p, const uint8_t* end) {
  uint64_t value = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (p == end) break;
    const uint8_t byte = *p++;
    value |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      return {value > 0xffffffffu ? nullptr : p, value};
    }
  }
  return {nullptr, 0};
}
}  // namespace internal

// Which rule a delta-varint index walk found broken (kNone: none).
enum class DeltaVarintFault {
  kNone,
  kTruncated,      // the bytes end inside a varint
  kTooLong,        // a varint longer than 5 bytes
  kTooLarge,       // a varint above 2^32 - 1
  kDuplicate,      // a gap of 0 after the first index
  kOutOfRange,     // an index >= range_size
  kTrailingBytes,  // bytes left after `count` varints
};

// The outcome of WalkDeltaVarintIndices: on a fault, the position it
// happened at, `value` (the index out of range, or the previous index for a
// duplicate) and `trailing` (bytes left over).
struct DeltaVarintWalk {
  DeltaVarintFault fault = DeltaVarintFault::kNone;
  uint32_t position = 0;
  uint64_t value = 0;
  uint64_t trailing = 0;
  bool ok() const { return fault == DeltaVarintFault::kNone; }
};

namespace internal {
// Why ReadVarint32(p, end) failed (it must have): truncated, too long or
// too large. Off the hot path.
DeltaVarintFault ClassifyBadVarint(const uint8_t* p, const uint8_t* end);
}  // namespace internal

// Walks `count` delta-varint indices (the kDeltaVarint layout) and calls
// visit(position, index) for each, in order. OK iff `bytes` is exactly
// `count` well-formed varints whose indices are strictly ascending and
// below `range_size`; otherwise the result names the first broken rule and
// visit has seen a prefix (all of it valid). Gaps below 2^14 (one or two
// bytes, the normal case) are read without a data-dependent branch. The
// one varint reader: the fast paths and the strict decoder both use it.
template <typename Visit>
inline DeltaVarintWalk WalkDeltaVarintIndices(std::string_view bytes,
                                              uint32_t count,
                                              uint32_t range_size,
                                              Visit&& visit) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const auto* const end = p + bytes.size();
  uint64_t index = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t gap;
    uint16_t w = 0;
    if (end - p >= 2) std::memcpy(&w, p, 2);
    const uint32_t two = (w >> 7) & 1u;  // the first byte continues
    if (end - p >= 2 && !(two & (w >> 15))) [[likely]] {
      gap = (w & 0x7fu) | ((uint32_t{w} >> 1) & 0x3f80u & (0u - two));
      p += 1 + two;
    } else {
      const internal::Varint v = internal::ReadVarint32(p, end);
      if (v.next == nullptr) {
        return {internal::ClassifyBadVarint(p, end), i, 0, 0};
      }
      p = v.next;
      gap = v.value;
    }
    if (gap == 0 && i > 0) {
      return {DeltaVarintFault::kDuplicate, i, index, 0};
    }
    index += gap;
    if (index >= range_size) {
      return {DeltaVarintFault::kOutOfRange, i, index, 0};
    }
    visit(i, static_cast<uint32_t>(index));
  }
  if (p != end) {
    return {DeltaVarintFault::kTrailingBytes, count, 0,
            static_cast<uint64_t>(end - p)};
  }
  return {};
}

// WalkDeltaVarintIndices for callers that only need to know whether the
// indices are valid (on false, DecodeChunk names the broken rule).
template <typename Visit>
inline bool ForEachDeltaVarintIndex(std::string_view bytes, uint32_t count,
                                    uint32_t range_size, Visit&& visit) {
  return WalkDeltaVarintIndices(bytes, count, range_size,
                                std::forward<Visit>(visit))
      .ok();
}

}  // namespace cddp::common

#endif  // CDDP_COMMON_WIRE_WIRE_CODEC_H_
