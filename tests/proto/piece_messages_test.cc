// proto::PushPieceMessage and proto::ReplyPieceMessage against the
// generated cddp.v1.PushPullRequest and PushPullResponse: serialised, each
// is the generated message's bytes; parsed from those bytes cut into slices
// anywhere, it reads the same fields; unknown fields, wire types a field
// does not have, repeated fields and groups are read as protobuf reads
// them, and bytes protobuf refuses are refused. A piece's large bytes stay
// in the slices they arrived in, and a dense reply goes from the shard's
// values into one slice and from the received slices into a range.
#include <string>
#include <vector>

#include "grpcpp/impl/grpc_library.h"
#include "gtest/gtest.h"
#include "proto/push_piece_message.h"
#include "proto/reply_piece_message.h"
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

// What the generated message reads from `bytes`, unknown fields dropped
// (*ok: whether protobuf takes them).
template <typename Generated>
std::string ProtobufReading(const std::string& bytes, bool* ok) {
  Generated generated;
  *ok = generated.ParseFromString(bytes);
  generated.DiscardUnknownFields();
  return generated.SerializeAsString();
}

// What ours read, as the generated message's bytes.
template <typename Generated, typename Message>
std::string Reading(const Message& m) {
  Generated generated;
  ToGenerated(m, &generated);
  return generated.SerializeAsString();
}

template <typename Generated, typename Message>
void ExpectSerialisesAsGenerated(
    const std::vector<Generated>& samples,
    grpc::ByteBuffer (*serialize)(const Message&)) {
  for (const Generated& generated : samples) {
    const Message m = FromGenerated(generated);
    const std::string ours = Bytes(serialize(m));
    EXPECT_EQ(ours, generated.SerializeAsString()) << generated.DebugString();
    EXPECT_EQ(m.ByteSizeLong(), ours.size());
  }
}

// Cut at every pair of positions (every 61st / 251st in a long message).
template <typename Generated, typename Message>
void ExpectParsesCutAnywhere(const std::vector<Generated>& samples,
                             bool (*parse)(std::span<const grpc::Slice>,
                                           Message*)) {
  for (const Generated& generated : samples) {
    const std::string bytes = generated.SerializeAsString();
    const size_t step_a = bytes.size() > 64 ? 61 : 1;
    const size_t step_b = bytes.size() > 64 ? 251 : 3;
    for (size_t a = 0; a <= bytes.size(); a += step_a) {
      for (size_t b = a; b <= bytes.size(); b += step_b) {
        Message m;
        ASSERT_TRUE(parse(Cut(bytes, {a, b}), &m)) << a << " " << b;
        EXPECT_EQ(Reading<Generated>(m), bytes) << a << " " << b;
      }
    }
  }
}

std::vector<cddp::v1::PushPullRequest> PushSamples() {
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

std::vector<cddp::v1::PushPullResponse> ReplySamples() {
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

TEST(PieceMessagesTest, SerialiseToTheGeneratedMessagesBytes) {
  ExpectSerialisesAsGenerated(PushSamples(), &SerializePushPiece);
  ExpectSerialisesAsGenerated(ReplySamples(), &SerializeReplyPiece);
}

TEST(PieceMessagesTest, ParseTheGeneratedBytesCutAnywhere) {
  ExpectParsesCutAnywhere(PushSamples(), &ParsePushPiece);
  ExpectParsesCutAnywhere(ReplySamples(), &ParseReplyPiece);
}

TEST(PieceMessagesTest, LargeValuesStayInTheSlicesTheyArrivedIn) {
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

TEST(PieceMessagesTest, ReadsOddButValidBytesAsProtobufDoes) {
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
    const std::string expected =
        ProtobufReading<cddp::v1::PushPullRequest>(bytes, &ok);
    ASSERT_TRUE(ok);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    PushPieceMessage m;
    ASSERT_TRUE(DeserializePushPiece(&buffer, &m).ok());
    EXPECT_EQ(Reading<cddp::v1::PushPullRequest>(m), expected);
  }
}

TEST(PieceMessagesTest, PushRefusesWhatProtobufRefuses) {
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
    ProtobufReading<cddp::v1::PushPullRequest>(bytes, &ok);
    EXPECT_FALSE(ok);
    PushPieceMessage m;
    EXPECT_FALSE(ParsePushPiece(Cut(bytes, {}), &m));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    EXPECT_FALSE(DeserializePushPiece(&buffer, &m).ok());
  }
}

TEST(PieceMessagesTest, ReplyRefusesWhatProtobufRefuses) {
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

TEST(PieceMessagesTest, DensePiecesCoverTheRangeFromTheirSlices) {
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
    ASSERT_TRUE(ParseReplyPiece(Cut(bytes, {7, bytes.size() / 2}), &received));
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
