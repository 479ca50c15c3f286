// Tests for reassembling a push sent in pieces: any split of a chunk into
// pieces assembles to what the one-message chunk decodes to, and every
// piece that would break the push's order or range is refused naming the
// rule, with nothing appended. A piece whose bytes arrive in parts (cut
// anywhere, a value straddling two parts included) assembles and digests as
// the same piece in one.
#include "common/wire/push_pieces.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/sample_selection.h"

namespace cddp::common {
namespace {

constexpr uint32_t kRange = 1000;

SparseSelection Sample(size_t n, uint64_t seed) {
  return testing::SampleSelection(n, kRange, seed);
}

// One encoded piece and the views of it.
struct Piece {
  uint32_t count = 0;
  IndexEncoding encoding = IndexEncoding::kDeltaVarint;
  std::string indices, values;
  EncodedChunkView View() const {
    return {count, static_cast<int>(ValueType::kFp32),
            static_cast<int>(encoding), indices, values};
  }
};

Piece Encode(const SparseSelection& s, size_t begin, size_t end,
             IndexEncoding encoding) {
  Piece p;
  p.count = static_cast<uint32_t>(end - begin);
  p.encoding = encoding;
  const auto idx = std::span(s.indices).subspan(begin, end - begin);
  const auto val = std::span(s.values).subspan(begin, end - begin);
  if (encoding == IndexEncoding::kDense) {
    EncodeValues(val, ValueType::kFp32, &p.values);
  } else {
    EXPECT_TRUE(
        EncodeChunk(idx, val, ValueType::kFp32, encoding, &p.indices, &p.values)
            .ok());
  }
  return p;
}

SparseSelection DenseRange() {
  SparseSelection s;
  for (uint32_t i = 0; i < kRange; ++i) {
    s.indices.push_back(i);
    s.values.push_back(0.25f * static_cast<float>(i % 13) - 1.0f);
  }
  return s;
}

TEST(PushAssemblerTest, AnySplitAssemblesToTheWholePush) {
  const SparseSelection push = Sample(300, 7);
  for (size_t per_piece : {1u, 7u, 64u, 299u, 300u, 1000u}) {
    for (IndexEncoding e :
         {IndexEncoding::kDeltaVarint, IndexEncoding::kAbsoluteU32}) {
      PushAssembler a(kRange, {});
      for (size_t b = 0; b < push.size(); b += per_piece) {
        const Piece p =
            Encode(push, b, std::min(push.size(), b + per_piece), e);
        ASSERT_TRUE(a.Add(p.View(), 0).ok()) << per_piece;
      }
      EXPECT_EQ(a.pieces(), (push.size() + per_piece - 1) / per_piece);
      const SparseSelection got = a.Take();
      EXPECT_EQ(got.indices, push.indices) << per_piece;
      EXPECT_EQ(got.values, push.values) << per_piece;
    }
  }
}

TEST(PushAssemblerTest, DensePiecesCoverTheirOffsetsAndReuseTheBuffer) {
  const SparseSelection push = DenseRange();
  SparseSelection recycled;
  recycled.indices.reserve(kRange);
  recycled.values.reserve(kRange);
  recycled.indices.push_back(42);  // stale contents are dropped
  const uint32_t* storage = recycled.indices.data();
  PushAssembler a(kRange, {std::move(recycled), 0});
  for (size_t b = 0; b < kRange; b += 300) {
    const size_t e = std::min<size_t>(kRange, b + 300);
    ASSERT_TRUE(
        a.Add(Encode(push, b, e, IndexEncoding::kDense).View(), b).ok());
  }
  const SparseSelection got = a.Take();
  EXPECT_EQ(got.indices, push.indices);
  EXPECT_EQ(got.values, push.values);
  EXPECT_EQ(got.indices.data(), storage);  // no new allocation
}

// `bytes` cut into parts at `cuts` (ascending; those past the end cut
// there).
std::vector<std::string_view> Parts(std::string_view bytes,
                                    const std::vector<size_t>& cuts) {
  std::vector<std::string_view> parts;
  size_t from = 0;
  for (size_t cut : cuts) {
    const size_t to = std::min(cut, bytes.size());
    parts.push_back(bytes.substr(from, to - from));
    from = to;
  }
  parts.push_back(bytes.substr(from));
  return parts;
}

TEST(PushAssemblerTest, APieceInPartsAssemblesAndDigestsAsInOne) {
  const SparseSelection dense = DenseRange();
  const SparseSelection sparse = Sample(300, 11);
  // Cuts inside a value (1, 402, 1203), at value boundaries, none at all.
  for (const std::vector<size_t>& cuts :
       {std::vector<size_t>{}, std::vector<size_t>{1, 402, 1203},
        std::vector<size_t>{400, 400, 800}}) {
    PushAssembler whole(kRange, {}), parted(kRange, {});
    const auto add_both = [&](const Piece& p, uint64_t offset) {
      ASSERT_TRUE(whole.Add(p.View(), offset).ok());
      const std::vector<std::string_view> values = Parts(p.values, cuts);
      const std::vector<std::string_view> indices = Parts(p.indices, {});
      ASSERT_TRUE(
          parted
              .Add(ChunkParts{p.count, static_cast<int>(ValueType::kFp32),
                              static_cast<int>(p.encoding), indices, values},
                   offset)
              .ok());
    };
    add_both(Encode(dense, 0, 500, IndexEncoding::kDense), 0);  // direct
    add_both(Encode(dense, 500, 900, IndexEncoding::kDense), 500);
    add_both(Encode(sparse, 280, 300, IndexEncoding::kDeltaVarint),
             0);  // joined
    EXPECT_EQ(parted.digest(), whole.digest());
    EXPECT_EQ(parted.pieces(), 3u);
    const SparseSelection got = parted.Take(), want = whole.Take();
    EXPECT_EQ(got.indices, want.indices);
    EXPECT_EQ(got.values, want.values);
  }
}

// Adds `p` as the server does: its fields as (one-part) parts.
absl::Status AddAsParts(PushAssembler& a, const Piece& p, uint64_t offset) {
  const std::string_view indices[] = {p.indices};
  const std::string_view values[] = {p.values};
  return a.Add(
      ChunkParts{p.count, static_cast<int>(ValueType::kFp32),
                 static_cast<int>(p.encoding),
                 std::span(indices, p.indices.empty() ? 0 : 1), values},
      offset);
}

// A whole-range push's storage, as ShardState recycles it.
RecycledPush RecycledWholeRange() {
  PushAssembler a(kRange, {});
  const SparseSelection old = DenseRange();
  EXPECT_TRUE(
      AddAsParts(a, Encode(old, 0, kRange, IndexEncoding::kDense), 0).ok());
  return {a.Take(), kRange};
}

// What `pieces` (piece, offset) assemble to, and their digest, in `buffer`.
std::pair<SparseSelection, uint64_t> Assemble(
    RecycledPush buffer,
    const std::vector<std::pair<Piece, uint64_t>>& pieces) {
  PushAssembler a(kRange, std::move(buffer));
  for (const auto& [piece, offset] : pieces) {
    EXPECT_TRUE(AddAsParts(a, piece, offset).ok()) << offset;
  }
  const uint64_t digest = a.digest();
  return {a.Take(), digest};
}

TEST(PushAssemblerTest, ARecycledWholeRangePushTakesTheNextInPlace) {
  SparseSelection next = DenseRange();
  for (float& v : next.values) v = -2.0f * v + 0.125f;
  std::vector<std::pair<Piece, uint64_t>> pieces;
  for (size_t b = 0; b < kRange; b += 300) {
    const size_t e = std::min<size_t>(kRange, b + 300);
    pieces.emplace_back(Encode(next, b, e, IndexEncoding::kDense), b);
  }
  RecycledPush recycled = RecycledWholeRange();
  const uint32_t* indices = recycled.pairs.indices.data();
  const float* values = recycled.pairs.values.data();
  const auto [got, digest] = Assemble(std::move(recycled), pieces);
  EXPECT_EQ(got.indices, next.indices);
  EXPECT_EQ(got.values, next.values);
  EXPECT_EQ(got.indices.data(), indices);  // the same storage
  EXPECT_EQ(got.values.data(), values);
  EXPECT_EQ(digest, Assemble({}, pieces).second);  // as in a fresh buffer
}

TEST(PushAssemblerTest, ARecycledBufferKeepsNothingOfTheOldPush) {
  const SparseSelection dense = DenseRange();
  const SparseSelection sparse = Sample(300, 13);
  // Index of the first sampled pair at or above 600.
  const size_t tail = static_cast<size_t>(
      std::lower_bound(sparse.indices.begin(), sparse.indices.end(), 600u) -
      sparse.indices.begin());
  const std::vector<std::vector<std::pair<Piece, uint64_t>>> pushes = {
      // Shorter than the recycled one.
      {{Encode(dense, 0, 500, IndexEncoding::kDense), 0}},
      // A dense start, then sparse pairs after a gap.
      {{Encode(dense, 0, 300, IndexEncoding::kDense), 0},
       {Encode(sparse, tail, sparse.size(), IndexEncoding::kDeltaVarint), 0}},
      // Dense, but not from index 0.
      {{Encode(dense, 100, 400, IndexEncoding::kDense), 100},
       {Encode(dense, 400, kRange, IndexEncoding::kDense), 400}},
      // Sparse only.
      {{Encode(sparse, 0, sparse.size(), IndexEncoding::kAbsoluteU32), 0}},
  };
  for (size_t i = 0; i < pushes.size(); ++i) {
    const auto fresh = Assemble({}, pushes[i]);
    // The recycled storage of a whole-range push, and of a sparse one that
    // claims nothing.
    for (RecycledPush buffer :
         {RecycledWholeRange(), RecycledPush{sparse, 0}}) {
      const auto recycled = Assemble(std::move(buffer), pushes[i]);
      EXPECT_EQ(recycled.first.indices, fresh.first.indices) << i;
      EXPECT_EQ(recycled.first.values, fresh.first.values) << i;
      EXPECT_EQ(recycled.second, fresh.second) << i;
    }
  }
}

TEST(PushAssemblerTest, ARefusedPieceInARecycledBufferAppendsNothing) {
  const SparseSelection dense = DenseRange();
  PushAssembler a(kRange, RecycledWholeRange());
  ASSERT_TRUE(
      AddAsParts(a, Encode(dense, 0, 200, IndexEncoding::kDense), 0).ok());
  Piece bad = Encode(dense, 200, 400, IndexEncoding::kDense);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(bad.values.data() + 4 * 150, &nan, 4);
  const uint64_t digest = a.digest();
  const absl::Status s = AddAsParts(a, bad, 200);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(a.size(), 200u);
  EXPECT_EQ(a.digest(), digest);
  ASSERT_TRUE(
      AddAsParts(a, Encode(dense, 200, kRange, IndexEncoding::kDense), 200)
          .ok());
  const SparseSelection got = a.Take();
  EXPECT_EQ(got.indices, dense.indices);
  EXPECT_EQ(got.values, dense.values);
}

TEST(PushAssemblerTest, APieceInPartsIsRefusedAsInOne) {
  const SparseSelection dense = DenseRange();
  PushAssembler a(kRange, {});
  Piece bad = Encode(dense, 0, 100, IndexEncoding::kDense);
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(bad.values.data() + 200, &inf, 4);
  const std::vector<std::string_view> values = Parts(bad.values, {202});
  const auto parts = [&](uint32_t count) {
    return ChunkParts{count,
                      static_cast<int>(ValueType::kFp32),
                      static_cast<int>(IndexEncoding::kDense),
                      {},
                      values};
  };
  absl::Status s = a.Add(parts(100), 0);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("piece 0: value at position 50"),
            std::string::npos)
      << s;
  s = a.Add(parts(99), 0);  // bytes for 100 values
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.pieces(), 0u);
}

TEST(PushAssemblerTest, EmptyPushIsOneEmptyPiece) {
  PushAssembler a(kRange, {});
  ASSERT_TRUE(a.Add(Piece{}.View(), 0).ok());
  EXPECT_EQ(a.size(), 0u);
}

// Each refusal names its rule and leaves what was assembled as it was.
void ExpectRefused(PushAssembler& a, const EncodedChunkView& piece,
                   uint64_t offset, const std::string& needle) {
  const std::vector<uint32_t> before(a.indices().begin(), a.indices().end());
  const uint64_t digest = a.digest();
  const absl::Status s = a.Add(piece, offset);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find(needle), std::string::npos) << s;
  EXPECT_EQ(std::vector<uint32_t>(a.indices().begin(), a.indices().end()),
            before);
  EXPECT_EQ(a.digest(), digest);
}

TEST(PushAssemblerTest, PiecesOutOfOrderOrRangeAreRefused) {
  const SparseSelection push = Sample(100, 3);
  PushAssembler a(kRange, {});
  ASSERT_TRUE(
      a.Add(Encode(push, 0, 50, IndexEncoding::kDeltaVarint).View(), 0).ok());
  // The same pairs again: not above the last index.
  ExpectRefused(a, Encode(push, 40, 60, IndexEncoding::kDeltaVarint).View(), 0,
                "not above the previous piece's last index");
  // An offset on a piece that has indices.
  ExpectRefused(a, Encode(push, 50, 60, IndexEncoding::kAbsoluteU32).View(), 5,
                "not dense");
  const SparseSelection dense = DenseRange();
  // A dense piece starting at or before the last index so far.
  ExpectRefused(a, Encode(dense, 0, 10, IndexEncoding::kDense).View(),
                push.indices[49], "is not after index");
  // A dense piece running past the range.
  ExpectRefused(a, Encode(dense, 0, 10, IndexEncoding::kDense).View(),
                kRange - 5, "within the range");
  // A piece the codec refuses: a value that is not finite.
  Piece bad = Encode(push, 50, 60, IndexEncoding::kAbsoluteU32);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(bad.values.data(), &nan, 4);
  ExpectRefused(a, bad.View(), 0, "piece 1: value at position 0");
  // The rest of the push still fits after the refusals.
  ASSERT_TRUE(
      a.Add(Encode(push, 50, 100, IndexEncoding::kDeltaVarint).View(), 0).ok());
  EXPECT_EQ(a.Take().indices, push.indices);
}

TEST(PushAssemblerTest, DigestTellsPushesApart) {
  const SparseSelection push = Sample(100, 5);
  const auto digest_of = [&](size_t per_piece, float nudge) {
    SparseSelection s = push;
    s.values[70] += nudge;
    PushAssembler a(kRange, {});
    for (size_t b = 0; b < s.size(); b += per_piece) {
      EXPECT_TRUE(a.Add(Encode(s, b, std::min(s.size(), b + per_piece),
                               IndexEncoding::kDeltaVarint)
                            .View(),
                        0)
                      .ok());
    }
    return a.digest();
  };
  EXPECT_EQ(digest_of(30, 0.0f), digest_of(30, 0.0f));
  EXPECT_NE(digest_of(30, 0.0f), digest_of(30, 1.0f));
}

}  // namespace
}  // namespace cddp::common
