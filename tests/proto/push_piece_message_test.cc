// proto::PushPieceMessage against the generated cddp.v1.PushPullRequest:
// serialised, it is the generated message's bytes; parsed from those bytes
// cut into slices anywhere, it reads the same fields; unknown fields, wire
// types a field does not have, repeated fields and groups are read as
// protobuf reads them, and bytes protobuf refuses are refused.
#include "proto/push_piece_message.h"

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

// `bytes` as slices cut at `cuts` (ascending positions).
std::vector<grpc::Slice> Cut(const std::string& bytes,
                             const std::vector<size_t>& cuts) {
  std::vector<grpc::Slice> slices;
  size_t from = 0;
  for (size_t to : cuts) {
    slices.emplace_back(bytes.substr(from, to - from));
    from = to;
  }
  slices.emplace_back(bytes.substr(from));
  return slices;
}

// What the generated message reads from `bytes`, unknown fields dropped;
// nullopt-like empty string with ok = false if protobuf refuses them.
std::string ProtobufReading(const std::string& bytes, bool* ok) {
  cddp::v1::PushPullRequest request;
  *ok = request.ParseFromString(bytes);
  request.DiscardUnknownFields();
  return request.SerializeAsString();
}

std::string OurReading(const PushPieceMessage& m) {
  cddp::v1::PushPullRequest request;
  ToGenerated(m, &request);
  return request.SerializeAsString();
}

std::vector<cddp::v1::PushPullRequest> Samples() {
  std::vector<cddp::v1::PushPullRequest> samples(5);
  samples[1].set_step(7);
  samples[1].set_worker_id(3);
  samples[1].set_shard_index(1);
  samples[1].set_last(true);
  samples[1].set_offset(uint64_t{1} << 40);
  PushPieceMessage dense;
  const std::vector<float> values(3000, -1.25f);  // above kOwnAtLeast
  EncodeDensePieceInto(65536, values, common::ValueType::kFp32, &dense);
  ToGenerated(dense, &samples[2]);
  PushPieceMessage sparse;
  EXPECT_TRUE(EncodePushPieceInto(
                  std::vector<uint32_t>{1, 5, 900}, std::vector<float>{1, 2, 3},
                  common::ValueType::kBf16, common::IndexEncoding::kDeltaVarint,
                  /*dense=*/false, &sparse)
                  .ok());
  sparse.step = 2;
  ToGenerated(sparse, &samples[3]);
  samples[4].mutable_chunk()->set_value_type(
      static_cast<cddp::v1::ValueType>(-3));  // a negative enum: 10 bytes
  return samples;
}

TEST(PushPieceMessageTest, SerialisesToTheGeneratedMessagesBytes) {
  for (const cddp::v1::PushPullRequest& request : Samples()) {
    const PushPieceMessage m = FromGenerated(request);
    const std::string ours = Bytes(SerializePushPiece(m));
    EXPECT_EQ(ours, request.SerializeAsString()) << request.DebugString();
    EXPECT_EQ(m.ByteSizeLong(), ours.size());
  }
}

TEST(PushPieceMessageTest, ParsesTheGeneratedBytesCutAnywhere) {
  for (const cddp::v1::PushPullRequest& request : Samples()) {
    const std::string bytes = request.SerializeAsString();
    const std::string expected = request.SerializeAsString();
    for (size_t a = 0; a <= bytes.size(); a += bytes.size() > 64 ? 61 : 1) {
      for (size_t b = a; b <= bytes.size(); b += bytes.size() > 64 ? 397 : 3) {
        PushPieceMessage m;
        ASSERT_TRUE(ParsePushPiece(Cut(bytes, {a, b}), &m)) << a << " " << b;
        EXPECT_EQ(OurReading(m), expected) << a << " " << b;
        EXPECT_EQ(m.has_chunk, request.has_chunk());
      }
    }
  }
}

TEST(PushPieceMessageTest, LargeValuesStayInTheSlicesTheyArrivedIn) {
  PushPieceMessage dense;
  const std::vector<float> values(5000, 0.5f);
  EncodeDensePieceInto(0, values, common::ValueType::kFp32, &dense);
  const grpc::ByteBuffer buffer = SerializePushPiece(dense);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(buffer.Dump(&slices).ok());
  PushPieceMessage parsed;
  ASSERT_TRUE(ParsePushPiece(slices, &parsed));
  ASSERT_EQ(parsed.chunk.values.parts().size(), 1u);
  // The parsed field is the serialised slice itself: no byte was copied.
  EXPECT_EQ(parsed.chunk.values.parts()[0].begin(),
            dense.chunk.values.parts()[0].begin());
  EXPECT_EQ(parsed.chunk.values.size(), 5000 * sizeof(float));
}

TEST(PushPieceMessageTest, ReadsOddButValidBytesAsProtobufDoes) {
  const std::string chunk_a = std::string("\x08\x05", 2)  // count 5
                              +
                              "\x2a\x02"
                              "ab";                       // values "ab"
  const std::string chunk_b = std::string("\x10\x01", 2)  // value_type 1
                              +
                              "\x2a\x01"
                              "c";  // values "c"
  const std::vector<std::string> inputs = {
      // The chunk twice: merged, the later values win.
      "\x22" + std::string(1, static_cast<char>(chunk_a.size())) + chunk_a +
          "\x22" + std::string(1, static_cast<char>(chunk_b.size())) + chunk_b,
      // step twice (the last wins), unknown fields of every wire type.
      std::string("\x08\x01\x08\x09", 4) + "\xf8\x01\x05" +  // field 31 varint
          "\x79" + std::string(8, 'x') +                     // field 15 fixed64
          "\x7d" + std::string(4, 'y') +                     // field 15 fixed32
          "\x7a\x02zz",                                      // field 15 bytes
      // Known numbers with wire types they do not have: unknown fields.
      std::string("\x0a\x01q", 3) + "\x25" + std::string(4, 'w'),
      // A varint with redundant continuation bytes, a 10-byte varint.
      std::string("\x10\x85\x80\x80\x00", 5) +
          std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
      // A group (only protobuf's parser skips it).
      std::string("\x0b\x08\x01\x0c", 4) + "\x30\x01",
  };
  for (const std::string& bytes : inputs) {
    bool ok = false;
    const std::string expected = ProtobufReading(bytes, &ok);
    ASSERT_TRUE(ok);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    PushPieceMessage m;
    ASSERT_TRUE(DeserializePushPiece(&buffer, &m).ok());
    EXPECT_EQ(OurReading(m), expected);
  }
}

TEST(PushPieceMessageTest, RefusesWhatProtobufRefuses) {
  const std::vector<std::string> inputs = {
      std::string("\x08", 1),              // a varint cut off
      std::string("\x22\x05\x08\x01", 4),  // a chunk past the end
      std::string("\x00\x01", 2),          // field number 0
      std::string("\x0f\x01", 2),          // wire type 7
      std::string("\x22\x02\x2a\x05", 4),  // values past the chunk's end
      std::string(11, '\xff') + "\x01",    // an 11-byte varint tag
  };
  for (const std::string& bytes : inputs) {
    bool ok = true;
    ProtobufReading(bytes, &ok);
    EXPECT_FALSE(ok);
    PushPieceMessage m;
    EXPECT_FALSE(ParsePushPiece(Cut(bytes, {}), &m));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    EXPECT_FALSE(DeserializePushPiece(&buffer, &m).ok());
  }
}

}  // namespace
}  // namespace cddp::proto
