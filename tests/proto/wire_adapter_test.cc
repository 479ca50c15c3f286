// The proto <-> domain adapter: chunks encoded into a SparseChunk decode
// back through its view, the layout fingerprint round-trips, and dense
// pieces cover a shard in order (and a piece out of order is refused).
#include "proto/wire_adapter.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace cddp::proto {
namespace {

TEST(WireAdapterTest, ChunkRoundTripsThroughTheMessage) {
  const std::vector<uint32_t> indices = {3, 9, 200};
  const std::vector<float> values = {1.5f, -2, 0.25f};
  for (auto encoding : {common::IndexEncoding::kAbsoluteU32,
                        common::IndexEncoding::kDeltaVarint}) {
    cddp::v1::SparseChunk chunk;
    ASSERT_TRUE(EncodeChunkInto(indices, values, common::ValueType::kFp32,
                                encoding, &chunk)
                    .ok());
    EXPECT_EQ(chunk.count(), 3u);
    EXPECT_EQ(chunk.value_type(), cddp::v1::VALUE_TYPE_FP32);
    EXPECT_EQ(chunk.index_encoding(), ToProto(encoding));
    common::SparseSelection out;
    ASSERT_TRUE(common::DecodeChunk(ChunkView(chunk), 1000, &out).ok());
    EXPECT_EQ(out.indices, indices);
    EXPECT_EQ(out.values, values);
  }
  EXPECT_EQ(ToProto(common::ValueType::kBf16), cddp::v1::VALUE_TYPE_BF16);
  EXPECT_EQ(ToProto(common::IndexEncoding::kDense),
            cddp::v1::INDEX_ENCODING_DENSE);
}

TEST(WireAdapterTest, LayoutRoundTrips) {
  common::Layout layout;
  layout.total_size = 10;
  layout.shard_bounds = {0, 4, 10};
  layout.tensor_sizes = {7, 3};
  cddp::v1::LayoutFingerprint f;
  LayoutToProto(layout, &f);
  const common::Layout back = LayoutFromProto(f);
  EXPECT_EQ(back.total_size, 10u);
  EXPECT_EQ(back.shard_bounds, layout.shard_bounds);
  EXPECT_EQ(back.tensor_sizes, layout.tensor_sizes);
}

TEST(WireAdapterTest, DensePiecesCoverTheShardInOrder) {
  const std::vector<float> shard = {1, 2, 3, 4, 5};
  std::vector<float> copy(5, 0.0f);
  size_t sent = 0;
  uint64_t received = 0;
  bool last = false;
  int pieces = 0;
  while (!last) {
    cddp::v1::PullResponse r;
    last = FillDensePiece<cddp::v1::PullResponse>(shard, 2, &sent, &r);
    EXPECT_EQ(r.last(), last);
    ASSERT_TRUE(
        TakeDensePiece(r.offset(), r.dense_values(), copy, &received).ok());
    ++pieces;
  }
  EXPECT_EQ(pieces, 3);
  EXPECT_EQ(copy, shard);
  uint64_t next = 2;
  EXPECT_EQ(TakeDensePiece(0, std::string(8, '\0'), copy, &next).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(next, 2u);
  EXPECT_EQ(copy, shard);
}

}  // namespace
}  // namespace cddp::proto
