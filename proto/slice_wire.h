// Protobuf's wire format written to and read from gRPC slices, for the
// messages of a push and its reply that we serialise and parse ourselves
// (push_piece_message.h, reply_piece_message.h): byte fields go out as the
// slices that hold them and come in as references to the slices gRPC
// received, never copied on the way.
//
// The reader takes only what protobuf's parser takes, and reads it the same
// way: fields in any order, the last of a repeated singular field wins, a
// repeated message field merges, unknown fields and known numbers with a
// wire type they do not have are skipped. It refuses (false) malformed
// input and groups, which the messages then leave to protobuf's parser.
//
// Thread-compatible.
#ifndef CDDP_PROTO_SLICE_WIRE_H_
#define CDDP_PROTO_SLICE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cddp/v1/parameter_server.pb.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/status.h"

namespace cddp::proto {

// The bytes of one field as the gRPC slices holding them, in order.
class SliceBytes {
 public:
  // Takes `bytes` (moved into a slice that owns it: no copy for a large
  // field, a copy for a small one).
  void Assign(std::string bytes);
  void Append(grpc::Slice part);
  void Clear();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::vector<grpc::Slice>& parts() const { return parts_; }
  // Views of the parts, in order, replacing *out's contents.
  void Views(std::vector<std::string_view>* out) const;
  // The bytes as one view: of the one part (no copy), or of *scratch,
  // into which several parts are copied.
  std::string_view Contiguous(std::string* scratch) const;
  // Copies the bytes to `to` (size() bytes).
  void CopyTo(char* to) const;

 private:
  std::vector<grpc::Slice> parts_;
  size_t size_ = 0;
};

// A cddp.v1.SparseChunk whose byte fields are slices.
struct ChunkFields {
  uint32_t count = 0;
  int32_t value_type = 0;
  int32_t index_encoding = 0;
  SliceBytes indices;
  SliceBytes values;
};

namespace wire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// An int32 (enum) field's varint: sign-extended to 64 bits, as protobuf.
inline uint64_t EnumWire(int32_t v) {
  return static_cast<uint64_t>(static_cast<int64_t>(v));
}

size_t VarintSize(uint64_t v);
// Bytes of a field as protobuf writes it (nothing for 0 / empty).
size_t VarintFieldSize(uint32_t field, uint64_t v);
size_t BytesFieldSize(uint32_t field, size_t n);
// A message field of `size` bytes (written even when empty).
size_t MessageFieldSize(uint32_t field, size_t size);
// The bytes of a SparseChunk's own fields.
size_t ChunkSize(const ChunkFields& chunk);

// Builds a message's bytes as slices: small fields gathered into one,
// byte fields' parts passed on as they are.
class SliceWriter {
 public:
  void VarintField(uint32_t field, uint64_t v);              // nothing for 0
  void BytesField(uint32_t field, const SliceBytes& bytes);  // nor for empty
  void ChunkField(uint32_t field, const ChunkFields& chunk);
  grpc::ByteBuffer Finish();

 private:
  void Tag(uint32_t field, WireType type);
  void Varint(uint64_t v);
  void Flush();

  std::string pending_;
  std::vector<grpc::Slice> slices_;
};

// Reads fields across a run of slices; every read fails (false) rather
// than run past the end.
class SliceReader {
 public:
  explicit SliceReader(std::span<const grpc::Slice> slices);

  size_t remaining() const { return remaining_; }
  // A tag as protobuf takes it: at most 5 bytes, below 2^32, field > 0,
  // and not a group (which only protobuf's parser skips).
  bool Tag(uint32_t* field, uint32_t* type);
  // A varint of at most `max_bytes` bytes; bits past the 64th are
  // dropped, as protobuf drops them.
  bool Varint(uint64_t* v, int max_bytes = 10);
  // A length-delimited field's bytes, appended to *out (nullptr: skipped).
  bool Len(SliceBytes* out);
  // Skips a field of wire type `type` (an unknown field).
  bool Skip(uint32_t type);

 private:
  bool Take(size_t n, SliceBytes* out);
  bool Byte(uint8_t* byte);
  void Advance(size_t n);  // within the slice, then past empty ones

  std::span<const grpc::Slice> slices_;
  size_t slice_ = 0;
  size_t at_ = 0;
  size_t remaining_ = 0;
};

// Reads a SparseChunk's fields from its bytes into *chunk, merging as
// protobuf does (fields present overwrite).
bool ParseChunk(std::span<const grpc::Slice> bytes, ChunkFields* chunk);
// The same for a chunk field's length and bytes, read from `r`.
bool ReadChunk(SliceReader& r, ChunkFields* chunk);

// Sets every field of *chunk; the bytes become its slices (SliceBytes::
// Assign: no copy for large ones).
void SetChunk(uint32_t count, int32_t value_type, int32_t index_encoding,
              std::string indices, std::string values, ChunkFields* chunk);

// A chunk to and from the generated message (copies the bytes).
void ChunkFromGenerated(const cddp::v1::SparseChunk& chunk, ChunkFields* out);
void ChunkToGenerated(const ChunkFields& chunk, cddp::v1::SparseChunk* out);

// gRPC's Deserialize for a message of ours: `parse` (ours) on the
// buffer's slices, else protobuf's parser into the generated message,
// converted; INTERNAL if neither takes the bytes, as for a generated one.
template <typename Generated, typename Message>
grpc::Status Deserialize(grpc::ByteBuffer* buffer, Message* message,
                         bool (*parse)(std::span<const grpc::Slice>, Message*),
                         Message (*from_generated)(const Generated&)) {
  std::vector<grpc::Slice> slices;
  if (!buffer->Dump(&slices).ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "unreadable message");
  }
  if (parse(slices, message)) {
    buffer->Clear();
    return grpc::Status::OK;
  }
  Generated generated;
  grpc::Status s = grpc::GenericDeserialize<grpc::ProtoBufferReader, Generated>(
      buffer, &generated);
  if (s.ok()) *message = from_generated(generated);
  return s;
}

}  // namespace wire
}  // namespace cddp::proto

#endif  // CDDP_PROTO_SLICE_WIRE_H_
