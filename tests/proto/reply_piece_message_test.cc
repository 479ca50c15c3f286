// proto::ReplyPieceMessage against the generated cddp.v1.PushPullResponse:
// serialised, it is the generated message's bytes; parsed from them cut
// into slices anywhere, it reads the same fields; what protobuf refuses it
// refuses; and a dense piece goes from the shard's values into one slice
// and from the received slices into the worker's range.
#include "proto/reply_piece_message.h"

#include <string>
#include <vector>

#include "grpcpp/impl/grpc_library.h"
#include "gtest/gtest.h"
#include "proto/wire_adapter.h"

namespace cddp::proto {
namespace {

grpc::internal::GrpcLibraryInitializer grpc_library;

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

std::vector<grpc::Slice> Cut(const std::string& bytes, size_t a, size_t b) {
  return {grpc::Slice(bytes.substr(0, a)), grpc::Slice(bytes.substr(a, b - a)),
          grpc::Slice(bytes.substr(b))};
}

std::string Reading(const ReplyPieceMessage& m) {
  cddp::v1::PushPullResponse response;
  ToGenerated(m, &response);
  return response.SerializeAsString();
}

std::vector<cddp::v1::PushPullResponse> Samples() {
  std::vector<cddp::v1::PushPullResponse> samples(3);
  samples[1].set_step(12);
  samples[1].set_contributors(4);
  samples[1].set_offset(65536);
  samples[1].set_dense_values(std::string(8000, '\x3f'));
  samples[1].set_last(true);
  samples[2].set_step(3);
  cddp::v1::SparseChunk* chunk = samples[2].mutable_sparse_update();
  chunk->set_count(2);
  chunk->set_value_type(cddp::v1::VALUE_TYPE_FP32);
  chunk->set_index_encoding(cddp::v1::INDEX_ENCODING_DELTA_VARINT);
  chunk->set_indices(std::string("\x01\x05", 2));
  chunk->set_values(std::string(8, '\x01'));
  samples[2].set_delta(true);
  return samples;
}

TEST(ReplyPieceMessageTest, SerialisesToTheGeneratedMessagesBytes) {
  for (const cddp::v1::PushPullResponse& response : Samples()) {
    const ReplyPieceMessage m = FromGenerated(response);
    const std::string ours = Bytes(SerializeReplyPiece(m));
    EXPECT_EQ(ours, response.SerializeAsString()) << response.DebugString();
    EXPECT_EQ(m.ByteSizeLong(), ours.size());
  }
}

TEST(ReplyPieceMessageTest, ParsesTheGeneratedBytesCutAnywhere) {
  for (const cddp::v1::PushPullResponse& response : Samples()) {
    const std::string bytes = response.SerializeAsString();
    const size_t step = bytes.size() > 64 ? 251 : 1;
    for (size_t a = 0; a <= bytes.size(); a += step) {
      for (size_t b = a; b <= bytes.size(); b += step) {
        ReplyPieceMessage m;
        ASSERT_TRUE(ParseReplyPiece(Cut(bytes, a, b), &m)) << a << " " << b;
        EXPECT_EQ(Reading(m), bytes) << a << " " << b;
        EXPECT_EQ(m.has_sparse_update, response.has_sparse_update());
      }
    }
  }
}

TEST(ReplyPieceMessageTest, RefusesWhatProtobufRefuses) {
  for (const std::string& bytes :
       {std::string("\x22\x09"
                    "abc",
                    5),
        std::string("\x2a\x03\x0a\x05", 4), std::string("\x39", 1)}) {
    cddp::v1::PushPullResponse generated;
    EXPECT_FALSE(generated.ParseFromString(bytes));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    ReplyPieceMessage m;
    EXPECT_FALSE(DeserializeReplyPiece(&buffer, &m).ok());
  }
}

TEST(ReplyPieceMessageTest, DensePiecesCoverTheRangeFromTheirSlices) {
  std::vector<float> values(2500);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * i;
  std::vector<float> got(values.size(), -1.0f);
  uint64_t next = 0;
  size_t offset = 0;
  bool last = false;
  while (!last) {
    ReplyPieceMessage piece;
    last = FillDensePiece(values, 1024, &offset, &piece);
    // Received in slices cut inside a value.
    const std::string bytes = Bytes(SerializeReplyPiece(piece));
    ReplyPieceMessage received;
    ASSERT_TRUE(ParseReplyPiece(Cut(bytes, 7, bytes.size() / 2), &received));
    EXPECT_GT(received.dense_values.parts().size(), 1u);
    EXPECT_EQ(received.last, last);
    ASSERT_TRUE(
        TakeDensePiece(received.offset, received.dense_values, got, &next)
            .ok());
  }
  EXPECT_EQ(got, values);
  // Out of order: refused, nothing copied.
  ReplyPieceMessage again;
  offset = 0;
  FillDensePiece(values, 1024, &offset, &again);
  EXPECT_EQ(TakeDensePiece(again.offset, again.dense_values, got, &next).code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cddp::proto
