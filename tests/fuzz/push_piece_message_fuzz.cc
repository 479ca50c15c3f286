// Our parsers of a push's and a reply's pieces (proto/push_piece_message.h,
// proto/reply_piece_message.h) against protobuf's, on arbitrary bytes cut
// into slices anywhere: whatever ours takes, protobuf takes and reads the
// same fields from (unknown fields dropped); Deserialize takes exactly what
// protobuf takes; and what ours read serialises back to bytes protobuf
// reads the same way.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "grpcpp/impl/grpc_library.h"
#include "proto/push_piece_message.h"
#include "proto/reply_piece_message.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using cddp::fuzz::Check;

grpc::internal::GrpcLibraryInitializer grpc_library;

template <typename Generated, typename Message>
std::string Reading(const Message& m) {
  Generated generated;
  cddp::proto::ToGenerated(m, &generated);
  return generated.SerializeAsString();
}

// One message type: Message is ours, Generated protobuf's.
template <typename Generated, typename Message>
void Compare(const std::string& bytes, std::vector<grpc::Slice>& slices,
             bool (*parse)(std::span<const grpc::Slice>, Message*),
             grpc::ByteBuffer (*serialize)(const Message&),
             grpc::Status (*deserialize)(grpc::ByteBuffer*, Message*)) {
  Generated expected;
  const bool protobuf_ok = expected.ParseFromString(bytes);
  expected.DiscardUnknownFields();
  const std::string expected_bytes = expected.SerializeAsString();

  Message ours;
  if (parse(slices, &ours)) {
    Check(protobuf_ok, "ours took bytes protobuf refuses");
    Check(Reading<Generated>(ours) == expected_bytes, "fields differ");
    // Serialised again: protobuf reads the same message.
    std::vector<grpc::Slice> out;
    Check(serialize(ours).Dump(&out).ok(), "dump");
    std::string again;
    for (const grpc::Slice& s : out) {
      again.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    Check(again.size() == ours.ByteSizeLong(), "ByteSizeLong differs");
    Generated reread;
    Check(reread.ParseFromString(again), "protobuf refuses our bytes");
    Check(reread.SerializeAsString() == expected_bytes, "round trip differs");
  }
  grpc::ByteBuffer buffer(slices.data(), slices.size());
  Message any;
  const bool deserialized = deserialize(&buffer, &any).ok();
  Check(deserialized == protobuf_ok, "Deserialize and protobuf disagree");
  if (deserialized) {
    Check(Reading<Generated>(any) == expected_bytes, "fallback differs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cddp::fuzz::FuzzInput in(data, size);
  // Which message (bit 7), up to three cut points, then the bytes.
  const uint8_t head = in.Int<uint8_t>();
  std::vector<uint16_t> at;
  for (int k = 0; k < head % 4; ++k) at.push_back(in.Int<uint16_t>());
  const std::string bytes(in.Rest());
  std::vector<grpc::Slice> slices;
  size_t from = 0;
  for (uint16_t a : at) {
    const size_t to = std::max(from, std::min<size_t>(a, bytes.size()));
    slices.emplace_back(bytes.substr(from, to - from));
    from = to;
  }
  slices.emplace_back(bytes.substr(from));
  if (head & 0x80) {
    Compare<cddp::v1::PushPullResponse, cddp::proto::ReplyPieceMessage>(
        bytes, slices, &cddp::proto::ParseReplyPiece,
        &cddp::proto::SerializeReplyPiece, &cddp::proto::DeserializeReplyPiece);
  } else {
    Compare<cddp::v1::PushPullRequest, cddp::proto::PushPieceMessage>(
        bytes, slices, &cddp::proto::ParsePushPiece,
        &cddp::proto::SerializePushPiece, &cddp::proto::DeserializePushPiece);
  }
  return 0;
}
