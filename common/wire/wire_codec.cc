#include "common/wire/wire_codec.h"

#include <cmath>
#include <cstring>
#include <span>

#include "absl/strings/str_cat.h"
#include "common/compress/float_formats.h"
#include "common/little_endian.h"

namespace cddp::common {
namespace {

size_t VarintSize(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* PutVarint(uint32_t v, char* p) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// The gaps of strictly ascending `idx` as varints at `p` (which has room for
// 5 bytes per index); returns the end. Gaps below 2^14 are written as one
// two-byte store without a data-dependent branch (the second byte is
// overwritten by the next varint when only one is used).
char* PutDeltaVarints(const uint32_t* idx, size_t n, char* p) {
  uint32_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t gap = idx[i] - prev;
    prev = idx[i];
    if (gap < (1u << 14)) [[likely]] {
      // Arithmetic rather than a ternary, which compilers turn into a
      // branch that mispredicts on every other gap.
      const uint32_t high = gap >> 7;
      const uint32_t two = (high | (0u - high)) >> 31;  // high != 0
      const uint16_t w =
          static_cast<uint16_t>((gap & 0x7fu) | (two << 7) | (high << 8));
      std::memcpy(p, &w, 2);
      p += 1 + two;
    } else {
      p = PutVarint(gap, p);
    }
  }
  return p;
}

// Strictly ascending: one pass with no early exit, so it vectorises.
bool Ascending(const uint32_t* idx, size_t n) {
  uint32_t ok = 1;
  for (size_t i = 1; i < n; ++i) ok &= idx[i] > idx[i - 1] ? 1u : 0u;
  return ok != 0;
}

absl::Status CheckAscending(std::span<const uint32_t> indices,
                            std::span<const float> values) {
  if (indices.size() != values.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("selection has ", indices.size(), " indices but ",
                     values.size(), " values"));
  }
  if (Ascending(indices.data(), indices.size())) return absl::OkStatus();
  for (size_t i = 1; i < indices.size(); ++i) {
    if (indices[i] <= indices[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat("indices not strictly increasing at position ", i, ": ",
                       indices[i - 1], " then ", indices[i]));
    }
  }
  return absl::OkStatus();
}

bool KnownValueType(int v) { return v >= 1 && v <= 3; }
bool KnownIndexEncoding(int v) { return v >= 1 && v <= 3; }

// Decodes `count` indices into `idx`, checking order and range.
// Kernel: the tuned push decode of BENCHMARKS.md §2 (BM_DecodePush); whole.
// NOLINTNEXTLINE(readability-function-size)
absl::Status DecodeIndices(const EncodedChunkView& c, uint32_t range_size,
                           uint32_t* idx) {
  if (static_cast<IndexEncoding>(c.index_encoding) == IndexEncoding::kDense) {
    if (!c.indices.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "length mismatch: a dense chunk carries no index bytes, got ",
          c.indices.size()));
    }
    if (c.count != range_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("length mismatch: a dense chunk holds the whole range (",
                       range_size, " values), count is ", c.count));
    }
    for (uint32_t i = 0; i < c.count; ++i) idx[i] = i;
    return absl::OkStatus();
  }
  const auto check = [&](size_t i, uint64_t v, uint64_t prev) -> absl::Status {
    if (i > 0 && v <= prev) {
      return absl::InvalidArgumentError(
          absl::StrCat("indices not strictly increasing at position ", i, ": ",
                       prev, " then ", v));
    }
    if (v >= range_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("index ", v, " at position ", i,
                       " is out of range (range size ", range_size, ")"));
    }
    return absl::OkStatus();
  };
  if (static_cast<IndexEncoding>(c.index_encoding) ==
      IndexEncoding::kAbsoluteU32) {
    if (c.indices.size() != uint64_t{c.count} * 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          "length mismatch: ", c.count, " absolute indices need ",
          uint64_t{c.count} * 4, " bytes, got ", c.indices.size()));
    }
    uint32_t prev = 0;
    for (size_t i = 0; i < c.count; ++i) {
      const uint32_t v = LoadLE32(c.indices.data() + 4 * i);
      if ((i > 0 && v <= prev) || v >= range_size) {
        if (auto s = check(i, v, prev); !s.ok()) return s;
      }
      idx[i] = v;
      prev = v;
    }
    return absl::OkStatus();
  }
  // Delta varint: one walk, which names the broken rule if there is one.
  const DeltaVarintWalk walk =
      WalkDeltaVarintIndices(c.indices, c.count, range_size,
                             [idx](uint32_t i, uint32_t v) { idx[i] = v; });
  const uint32_t i = walk.position;
  switch (walk.fault) {
    case DeltaVarintFault::kNone:
      return absl::OkStatus();
    case DeltaVarintFault::kTruncated:
      return absl::InvalidArgumentError(absl::StrCat(
          "length mismatch: indices end inside varint ", i, " of ", c.count));
    case DeltaVarintFault::kTooLong:
      return absl::InvalidArgumentError(
          absl::StrCat("varint ", i, " is longer than 5 bytes"));
    case DeltaVarintFault::kTooLarge:
      return absl::InvalidArgumentError(
          absl::StrCat("varint ", i, " exceeds 2^32 - 1"));
    case DeltaVarintFault::kDuplicate:
      return absl::InvalidArgumentError(
          absl::StrCat("indices not strictly increasing at position ", i,
                       ": gap of 0 (duplicate index ", walk.value, ")"));
    case DeltaVarintFault::kOutOfRange:
      return check(i, walk.value, /*prev=*/0);  // names the range only
    case DeltaVarintFault::kTrailingBytes:
      return absl::InvalidArgumentError(
          absl::StrCat("length mismatch: ", walk.trailing, " bytes left after ",
                       c.count, " varint indices"));
  }
  return absl::InternalError("unreachable");
}

absl::Status DecodeValues(const EncodedChunkView& c, float* values) {
  const auto type = static_cast<ValueType>(c.value_type);
  const size_t width = BytesPerValue(type);
  if (c.values.size() != uint64_t{c.count} * width) {
    return absl::InvalidArgumentError(absl::StrCat(
        "length mismatch: ", c.count, " ", std::string(ValueTypeName(type)),
        " values need ", uint64_t{c.count} * width, " bytes, got ",
        c.values.size()));
  }
  const char* p = c.values.data();
  if (type == ValueType::kFp32 && AllFiniteFp32(c.values)) {
    if (c.count > 0) std::memcpy(values, p, 4 * size_t{c.count});
    return absl::OkStatus();
  }
  for (size_t i = 0; i < c.count; ++i) {
    float v;
    if (type == ValueType::kFp32) {
      v = BitsToFloat(LoadLE32(p + 4 * i));
    } else {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      v = type == ValueType::kFp16 ? Fp16ToFloat(h) : Bf16ToFloat(h);
    }
    if (MagnitudeKey(v) >= kInfinityKey) {
      return absl::InvalidArgumentError(
          absl::StrCat("value at position ", i, " is not finite (", v, ")"));
    }
    values[i] = v;
  }
  return absl::OkStatus();
}

}  // namespace

namespace internal {
DeltaVarintFault ClassifyBadVarint(const uint8_t* p, const uint8_t* end) {
  for (int shift = 0; shift < 35; shift += 7) {
    if (p == end) return DeltaVarintFault::kTruncated;
    if ((*p++ & 0x80) == 0) return DeltaVarintFault::kTooLarge;
  }
  return DeltaVarintFault::kTooLong;
}
}  // namespace internal

bool AllFiniteFp32(std::string_view fp32_le) {
  const size_t n = fp32_le.size() / 4;
  const char* p = fp32_le.data();
  // key >= kInfinityKey exactly when key + 0x00800000 has the top bit set
  // (keys are below 2^31, so the sum cannot wrap).
  uint32_t any = 0;
  for (size_t i = 0; i < n; ++i) {
    any |= (LoadLE32(p + 4 * i) & 0x7fffffffu) + 0x00800000u;
  }
  return (any & 0x80000000u) == 0;
}

size_t EncodedSize(const SparseSelection& s, ValueType value_type,
                   IndexEncoding index_encoding) {
  size_t bytes = s.size() * BytesPerValue(value_type);
  if (index_encoding == IndexEncoding::kDense) return bytes;
  if (index_encoding == IndexEncoding::kAbsoluteU32)
    return bytes + 4 * s.size();
  uint32_t prev = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    bytes += VarintSize(i == 0 ? s.indices[i] : s.indices[i] - prev);
    prev = s.indices[i];
  }
  return bytes;
}

absl::Status EncodeChunk(std::span<const uint32_t> indices,
                         std::span<const float> values, ValueType value_type,
                         IndexEncoding index_encoding, std::string* indices_out,
                         std::string* values_out) {
  if (auto st = CheckAscending(indices, values); !st.ok()) return st;
  const size_t n = indices.size();
  if (index_encoding == IndexEncoding::kDense) {
    if (n > 0 && indices.back() != n - 1) {  // ascending + last == n-1
      return absl::InvalidArgumentError(
          "a dense chunk needs indices 0, 1, ..., size - 1");
    }
    indices_out->clear();
  } else if (index_encoding == IndexEncoding::kAbsoluteU32) {
    indices_out->assign(reinterpret_cast<const char*>(indices.data()), 4 * n);
  } else {
    indices_out->resize(5 * n);
    char* p = PutDeltaVarints(indices.data(), n, indices_out->data());
    indices_out->resize(static_cast<size_t>(p - indices_out->data()));
  }
  EncodeValues(values, value_type, values_out);
  return absl::OkStatus();
}

void EncodeValues(std::span<const float> values, ValueType value_type,
                  std::string* values_out) {
  const size_t n = values.size();
  if (value_type == ValueType::kFp32) {
    values_out->assign(reinterpret_cast<const char*>(values.data()), 4 * n);
    return;
  }
  values_out->resize(2 * n);
  char* p = values_out->data();
  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = value_type == ValueType::kFp16 ? FloatToFp16(values[i])
                                                      : FloatToBf16(values[i]);
    std::memcpy(p + 2 * i, &h, 2);
  }
}

absl::Status EncodeChunk(const SparseSelection& s, ValueType value_type,
                         IndexEncoding index_encoding, std::string* indices_out,
                         std::string* values_out) {
  return EncodeChunk(s.indices, s.values, value_type, index_encoding,
                     indices_out, values_out);
}

absl::Status DecodeChunk(const EncodedChunkView& chunk, uint32_t range_size,
                         SparseSelection* out) {
  SparseSelection decoded;
  if (auto s = DecodeChunkAppend(chunk, range_size, &decoded); !s.ok()) {
    return s;
  }
  *out = std::move(decoded);
  return absl::OkStatus();
}

absl::Status DecodeChunkAppend(const EncodedChunkView& chunk,
                               uint32_t range_size, SparseSelection* out) {
  if (!KnownValueType(chunk.value_type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown value type ", chunk.value_type));
  }
  if (!KnownIndexEncoding(chunk.index_encoding)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown index encoding ", chunk.index_encoding));
  }
  if (chunk.count > range_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("count ", chunk.count, " exceeds the range size ",
                     range_size, " (indices must be distinct)"));
  }
  // Straight into the tail (count <= range_size bounds the growth), cut
  // off again on failure.
  const size_t old = out->size();
  out->values.resize(old + chunk.count);
  out->indices.resize(old + chunk.count);
  absl::Status s = DecodeValues(chunk, out->values.data() + old);
  if (s.ok()) s = DecodeIndices(chunk, range_size, out->indices.data() + old);
  if (!s.ok()) {
    out->values.resize(old);
    out->indices.resize(old);
  }
  return s;
}

}  // namespace cddp::common
