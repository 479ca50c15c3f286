// proto::PushPieceMessage's parser (proto/push_piece_message.h) against
// protobuf's on arbitrary bytes cut into slices anywhere: whatever ours
// takes, protobuf takes and reads the same fields from (unknown fields
// dropped); DeserializePushPiece takes exactly what protobuf takes; and
// what ours read serialises back to bytes protobuf reads the same way.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "grpcpp/impl/grpc_library.h"
#include "proto/push_piece_message.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using cddp::fuzz::Check;

grpc::internal::GrpcLibraryInitializer grpc_library;

std::string Reading(const cddp::proto::PushPieceMessage& m) {
  cddp::v1::PushPullRequest request;
  cddp::proto::ToGenerated(m, &request);
  return request.SerializeAsString();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cddp::fuzz::FuzzInput in(data, size);
  // Up to three cut points, then the message's bytes.
  const int cuts = in.Int<uint8_t>() % 4;
  std::vector<uint16_t> at;
  for (int k = 0; k < cuts; ++k) at.push_back(in.Int<uint16_t>());
  const std::string bytes(in.Rest());
  std::vector<grpc::Slice> slices;
  size_t from = 0;
  for (uint16_t a : at) {
    const size_t to = std::max(from, std::min<size_t>(a, bytes.size()));
    slices.emplace_back(bytes.substr(from, to - from));
    from = to;
  }
  slices.emplace_back(bytes.substr(from));

  cddp::v1::PushPullRequest expected;
  const bool protobuf_ok = expected.ParseFromString(bytes);
  expected.DiscardUnknownFields();

  cddp::proto::PushPieceMessage ours;
  if (cddp::proto::ParsePushPiece(slices, &ours)) {
    Check(protobuf_ok, "ours took bytes protobuf refuses");
    Check(Reading(ours) == expected.SerializeAsString(), "fields differ");
    Check(ours.has_chunk == expected.has_chunk(), "has_chunk differs");
    // Serialised again: protobuf reads the same message.
    std::vector<grpc::Slice> out;
    Check(cddp::proto::SerializePushPiece(ours).Dump(&out).ok(), "dump");
    std::string again;
    for (const grpc::Slice& s : out) {
      again.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    Check(again.size() == ours.ByteSize(), "ByteSize differs");
    cddp::v1::PushPullRequest reread;
    Check(reread.ParseFromString(again), "protobuf refuses our bytes");
    Check(reread.SerializeAsString() == expected.SerializeAsString(),
          "round trip differs");
  }
  grpc::ByteBuffer buffer(slices.data(), slices.size());
  cddp::proto::PushPieceMessage any;
  const bool deserialized =
      cddp::proto::DeserializePushPiece(&buffer, &any).ok();
  Check(deserialized == protobuf_ok, "Deserialize and protobuf disagree");
  if (deserialized) {
    Check(Reading(any) == expected.SerializeAsString(), "fallback differs");
  }
  return 0;
}
