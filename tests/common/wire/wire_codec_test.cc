// Tests for the sparse-chunk codec: round trips in every value type and index
// encoding, and each malformed chunk rejected with the rule it broke.
#include "common/wire/wire_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/compress/float_formats.h"
#include "tests/support/sample_selection.h"

namespace cddp::common {
namespace {

SparseSelection Sample(size_t n, uint32_t range, uint64_t seed) {
  return testing::SampleSelection(n, range, seed);
}

struct Encoded {
  std::string indices, values;
  EncodedChunkView View(uint32_t count, ValueType vt, IndexEncoding ie) const {
    return {count, static_cast<int>(vt), static_cast<int>(ie), indices, values};
  }
};

Encoded Encode(const SparseSelection& s, ValueType vt, IndexEncoding ie) {
  Encoded e;
  EXPECT_TRUE(EncodeChunk(s, vt, ie, &e.indices, &e.values).ok());
  return e;
}

class RoundTripTest
    : public ::testing::TestWithParam<std::tuple<ValueType, IndexEncoding>> {};

TEST_P(RoundTripTest, DecodesWhatWasEncoded) {
  const auto [vt, ie] = GetParam();
  for (size_t n : {0u, 1u, 5u, 1000u}) {
    const SparseSelection s = Sample(n, 1'000'000, n);
    const Encoded e = Encode(s, vt, ie);
    EXPECT_EQ(e.indices.size() + e.values.size(), EncodedSize(s, vt, ie));
    SparseSelection back;
    ASSERT_TRUE(DecodeChunk(e.View(n, vt, ie), 1'000'000, &back).ok());
    EXPECT_EQ(back.indices, s.indices);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(back.values[i], RoundToValueType(s.values[i], vt));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllFormats, RoundTripTest,
    ::testing::Combine(::testing::Values(ValueType::kFp32, ValueType::kFp16,
                                         ValueType::kBf16),
                       ::testing::Values(IndexEncoding::kAbsoluteU32,
                                         IndexEncoding::kDeltaVarint)),
    [](const auto& info) {
      std::string name =
          absl::StrCat(std::string(ValueTypeName(std::get<0>(info.param))), "_",
                       std::string(IndexEncodingName(std::get<1>(info.param))));
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(WireCodecTest, DeltaVarintAtOnePercentIsUnderSixBytesPerPair) {
  const SparseSelection s = Sample(10'000, 1'000'000, 1);
  const size_t bytes =
      EncodedSize(s, ValueType::kFp32, IndexEncoding::kDeltaVarint);
  EXPECT_LT(static_cast<double>(bytes) / s.size(), 6.0);
}

TEST(WireCodecTest, ExtremeIndicesRoundTrip) {
  SparseSelection s;
  s.indices = {0, 1, 0xfffffffeu};
  s.values = {1, 2, 3};
  for (auto ie : {IndexEncoding::kAbsoluteU32, IndexEncoding::kDeltaVarint}) {
    const Encoded e = Encode(s, ValueType::kFp32, ie);
    SparseSelection back;
    ASSERT_TRUE(
        DecodeChunk(e.View(3, ValueType::kFp32, ie), 0xffffffffu, &back).ok());
    EXPECT_EQ(back.indices, s.indices);
  }
}

// The varint fast paths (one- and two-byte gaps without branches, longer
// ones the general way) against the bytes LEB128 defines, at every length
// boundary and with the last varint one byte from the end.
TEST(WireCodecTest, DeltaVarintBytesAtEveryLengthBoundary) {
  SparseSelection s;
  uint32_t index = 0;
  for (uint32_t gap : {0u, 1u, 127u, 128u, 129u, 16383u, 16384u, 1u, 2097151u,
                       2097152u, 268435455u, 268435456u, 5u}) {
    index += gap;
    s.indices.push_back(index);
    s.values.push_back(1.0f);
  }
  s.indices.push_back(0xfffffffeu);  // a five-byte gap, the largest index
  s.values.push_back(2.0f);
  const Encoded e = Encode(s, ValueType::kFp32, IndexEncoding::kDeltaVarint);
  std::string expected;
  uint32_t prev = 0;
  for (uint32_t i : s.indices) {
    uint32_t gap = i - prev;
    prev = i;
    while (gap >= 0x80) {
      expected.push_back(static_cast<char>((gap & 0x7f) | 0x80));
      gap >>= 7;
    }
    expected.push_back(static_cast<char>(gap));
  }
  EXPECT_EQ(e.indices, expected);
  SparseSelection back;
  const uint32_t n = static_cast<uint32_t>(s.size());
  ASSERT_TRUE(
      DecodeChunk(e.View(n, ValueType::kFp32, IndexEncoding::kDeltaVarint),
                  0xffffffffu, &back)
          .ok());
  EXPECT_EQ(back.indices, s.indices);
}

TEST(WireCodecTest, RandomGapsRoundTripThroughTheFastPaths) {
  std::mt19937_64 rng(7);
  for (uint32_t mean_gap : {1u, 50u, 100u, 3000u, 100000u}) {
    SparseSelection s;
    std::uniform_int_distribution<uint32_t> gap(1, 2 * mean_gap);
    for (uint64_t i = gap(rng) - 1; i < (1u << 30) && s.size() < 20000;
         i += gap(rng)) {
      s.indices.push_back(static_cast<uint32_t>(i));
      s.values.push_back(static_cast<float>(s.size()));
    }
    const Encoded e = Encode(s, ValueType::kFp32, IndexEncoding::kDeltaVarint);
    SparseSelection back;
    ASSERT_TRUE(
        DecodeChunk(e.View(static_cast<uint32_t>(s.size()), ValueType::kFp32,
                           IndexEncoding::kDeltaVarint),
                    1u << 30, &back)
            .ok())
        << "mean gap " << mean_gap;
    EXPECT_EQ(back.indices, s.indices) << "mean gap " << mean_gap;
    EXPECT_EQ(back.values, s.values) << "mean gap " << mean_gap;
  }
}

TEST(WireCodecTest, EncodeRefusesUnsortedOrMismatchedInput) {
  std::string i, v;
  SparseSelection s;
  s.indices = {3, 2};
  s.values = {1, 1};
  EXPECT_EQ(
      EncodeChunk(s, ValueType::kFp32, IndexEncoding::kDeltaVarint, &i, &v)
          .code(),
      absl::StatusCode::kInvalidArgument);
  s.indices = {1};
  EXPECT_EQ(
      EncodeChunk(s, ValueType::kFp32, IndexEncoding::kDeltaVarint, &i, &v)
          .code(),
      absl::StatusCode::kInvalidArgument);
}

// Each malformed chunk: INVALID_ARGUMENT, a message naming the rule, and the
// output left untouched.
void ExpectRejected(const EncodedChunkView& view, uint32_t range,
                    const std::string& rule) {
  SparseSelection out;
  out.indices = {77};
  out.values = {7.0f};
  const absl::Status s = DecodeChunk(view, range, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find(rule), std::string::npos)
      << "message '" << s.message() << "' does not name '" << rule << "'";
  EXPECT_EQ(out.indices, std::vector<uint32_t>{77});
  EXPECT_EQ(out.values, std::vector<float>{7.0f});
}

TEST(WireCodecTest, RejectsIndexOutOfRange) {
  SparseSelection s;
  s.indices = {1, 100};
  s.values = {1, 2};
  for (auto ie : {IndexEncoding::kAbsoluteU32, IndexEncoding::kDeltaVarint}) {
    const Encoded e = Encode(s, ValueType::kFp32, ie);
    ExpectRejected(e.View(2, ValueType::kFp32, ie), 100, "out of range");
  }
}

TEST(WireCodecTest, RejectsUnsortedAndDuplicateIndices) {
  Encoded e;
  for (uint32_t v : {5u, 3u}) {
    e.indices.append(reinterpret_cast<const char*>(&v), 4);
  }
  e.values.assign(8, '\0');
  ExpectRejected(e.View(2, ValueType::kFp32, IndexEncoding::kAbsoluteU32), 10,
                 "not strictly increasing");
  Encoded dup;
  for (uint32_t v : {5u, 5u}) {
    dup.indices.append(reinterpret_cast<const char*>(&v), 4);
  }
  dup.values.assign(8, '\0');
  ExpectRejected(dup.View(2, ValueType::kFp32, IndexEncoding::kAbsoluteU32), 10,
                 "not strictly increasing");
  Encoded zero_gap;
  zero_gap.indices = std::string("\x05\x00", 2);  // 5, then gap 0
  zero_gap.values.assign(8, '\0');
  ExpectRejected(
      zero_gap.View(2, ValueType::kFp32, IndexEncoding::kDeltaVarint), 10,
      "not strictly increasing");
}

TEST(WireCodecTest, RejectsLengthMismatches) {
  const SparseSelection s = Sample(4, 100, 3);
  for (auto vt : {ValueType::kFp32, ValueType::kFp16, ValueType::kBf16}) {
    for (auto ie : {IndexEncoding::kAbsoluteU32, IndexEncoding::kDeltaVarint}) {
      Encoded e = Encode(s, vt, ie);
      ExpectRejected(e.View(5, vt, ie), 100, "length mismatch");  // count
      Encoded short_values = e;
      short_values.values.pop_back();
      ExpectRejected(short_values.View(4, vt, ie), 100, "length mismatch");
      Encoded long_indices = e;
      long_indices.indices.push_back('\x01');
      ExpectRejected(long_indices.View(4, vt, ie), 100, "length mismatch");
      Encoded short_indices = e;
      short_indices.indices.pop_back();
      ExpectRejected(short_indices.View(4, vt, ie), 100, "length mismatch");
    }
  }
}

TEST(WireCodecTest, DenseChunksCarryNoIndices) {
  SparseSelection s;
  s.indices = {0, 1, 2};
  s.values = {1, -2, 3};
  const Encoded e = Encode(s, ValueType::kFp32, IndexEncoding::kDense);
  EXPECT_TRUE(e.indices.empty());
  EXPECT_EQ(EncodedSize(s, ValueType::kFp32, IndexEncoding::kDense), 12u);
  SparseSelection back;
  ASSERT_TRUE(
      DecodeChunk(e.View(3, ValueType::kFp32, IndexEncoding::kDense), 3, &back)
          .ok());
  EXPECT_EQ(back.indices, s.indices);
  EXPECT_EQ(back.values, s.values);
  // Not the whole range, or stray index bytes: refused.
  ExpectRejected(e.View(3, ValueType::kFp32, IndexEncoding::kDense), 4,
                 "whole range");
  Encoded stray = e;
  stray.indices = "x";
  ExpectRejected(stray.View(3, ValueType::kFp32, IndexEncoding::kDense), 3,
                 "no index bytes");
  // The encoder refuses a selection that is not 0..n-1.
  s.indices = {0, 1, 3};
  std::string i, v;
  EXPECT_EQ(
      EncodeChunk(s, ValueType::kFp32, IndexEncoding::kDense, &i, &v).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(WireCodecTest, RejectsOverlongVarint) {
  Encoded e;
  e.indices = std::string("\x80\x80\x80\x80\x80\x01", 6);
  e.values.assign(4, '\0');
  ExpectRejected(e.View(1, ValueType::kFp32, IndexEncoding::kDeltaVarint), 100,
                 "longer than 5 bytes");
  Encoded big;
  big.indices = std::string("\xff\xff\xff\xff\x7f", 5);  // 2^35 - 1
  big.values.assign(4, '\0');
  ExpectRejected(big.View(1, ValueType::kFp32, IndexEncoding::kDeltaVarint),
                 100, "exceeds 2^32 - 1");
}

TEST(WireCodecTest, RejectsVarintCutShortAtTheEnd) {
  // One byte left and it continues (the fast path reads two bytes, so this
  // is the tail case), and a longer varint cut short.
  for (const std::string& bytes :
       {std::string("\x05\x81", 2), std::string("\x81", 1),
        std::string("\x05\x80\x80", 3)}) {
    Encoded e;
    e.indices = bytes;
    const uint32_t count = bytes.size() == 1 ? 1 : 2;
    e.values.assign(4 * count, '\0');
    ExpectRejected(e.View(count, ValueType::kFp32, IndexEncoding::kDeltaVarint),
                   1000, "end inside varint");
  }
}

TEST(WireCodecTest, RejectsNonFiniteValues) {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    SparseSelection s;
    s.indices = {1, 2};
    s.values = {1.0f, bad};
    for (auto vt : {ValueType::kFp32, ValueType::kFp16, ValueType::kBf16}) {
      const Encoded e = Encode(s, vt, IndexEncoding::kAbsoluteU32);
      ExpectRejected(e.View(2, vt, IndexEncoding::kAbsoluteU32), 10,
                     "not finite");
    }
  }
  // fp16 overflow: finite in fp32, inf on the wire, refused by the decoder.
  SparseSelection s;
  s.indices = {0};
  s.values = {1e6f};
  const Encoded e = Encode(s, ValueType::kFp16, IndexEncoding::kAbsoluteU32);
  ExpectRejected(e.View(1, ValueType::kFp16, IndexEncoding::kAbsoluteU32), 10,
                 "not finite");
}

TEST(WireCodecTest, RejectsUnknownFormatsAndImpossibleCounts) {
  Encoded e;
  ExpectRejected({0, 9, 1, e.indices, e.values}, 10, "unknown value type");
  ExpectRejected({0, 1, 9, e.indices, e.values}, 10, "unknown index encoding");
  ExpectRejected({0, 1, 0, e.indices, e.values}, 10, "unknown index encoding");
  ExpectRejected({11, 1, 1, e.indices, e.values}, 10, "exceeds the range size");
}

// The strict decoder and the fast paths share one varint walk: the walk
// reports the broken rule and where, and the decoder's messages are the
// ones it always gave.
TEST(WireCodecTest, OneVarintWalkNamesEachRule) {
  struct Case {
    std::string bytes;
    uint32_t count, range;
    DeltaVarintFault fault;
    uint32_t position;
    std::string message;
  };
  const std::vector<Case> cases = {
      {std::string("\x03\x02", 2), 2, 100, DeltaVarintFault::kNone, 0, ""},
      {std::string("\x03\x00", 2), 2, 100, DeltaVarintFault::kDuplicate, 1,
       "indices not strictly increasing at position 1: gap of 0 (duplicate "
       "index 3)"},
      {std::string("\x03\x62", 2), 2, 100, DeltaVarintFault::kOutOfRange, 1,
       "index 101 at position 1 is out of range (range size 100)"},
      {std::string("\x03\x02\x01", 3), 2, 100, DeltaVarintFault::kTrailingBytes,
       2, "length mismatch: 1 bytes left after 2 varint indices"},
      {std::string("\x03\x80\x80", 3), 2, 100, DeltaVarintFault::kTruncated, 1,
       "length mismatch: indices end inside varint 1 of 2"},
      {std::string("\x80\x80\x80\x80\x80\x01", 6), 1, 100,
       DeltaVarintFault::kTooLong, 0, "varint 0 is longer than 5 bytes"},
      {std::string("\xff\xff\xff\xff\x7f", 5), 1, 100,
       DeltaVarintFault::kTooLarge, 0, "varint 0 exceeds 2^32 - 1"},
  };
  for (const Case& c : cases) {
    uint32_t seen = 0;
    const DeltaVarintWalk walk = WalkDeltaVarintIndices(
        c.bytes, c.count, c.range, [&](uint32_t, uint32_t) { ++seen; });
    EXPECT_EQ(walk.fault, c.fault) << c.message;
    EXPECT_EQ(ForEachDeltaVarintIndex(c.bytes, c.count, c.range,
                                      [](uint32_t, uint32_t) {}),
              c.fault == DeltaVarintFault::kNone);
    Encoded e;
    e.indices = c.bytes;
    e.values.assign(4 * size_t{c.count}, '\0');
    SparseSelection out;
    const absl::Status s = DecodeChunk(
        e.View(c.count, ValueType::kFp32, IndexEncoding::kDeltaVarint), c.range,
        &out);
    if (c.fault == DeltaVarintFault::kNone) {
      EXPECT_TRUE(s.ok()) << s;
      EXPECT_EQ(seen, c.count);
      continue;
    }
    EXPECT_EQ(walk.position, c.position) << c.message;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), c.message);
  }
}

}  // namespace
}  // namespace cddp::common
