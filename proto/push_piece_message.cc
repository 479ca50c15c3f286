#include "proto/push_piece_message.h"

#include <utility>

#include "grpcpp/impl/codegen/proto_utils.h"

namespace cddp::proto {
namespace {

// Field numbers and wire types of cddp.v1.PushPullRequest / SparseChunk.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };
enum RequestField : uint32_t {
  kStep = 1,
  kWorkerId = 2,
  kShardIndex = 3,
  kChunk = 4,
  kOffset = 5,
  kLast = 6,
};
enum ChunkField : uint32_t {
  kCount = 1,
  kValueType = 2,
  kIndexEncoding = 3,
  kIndices = 4,
  kValues = 5,
};

// Fields below this many bytes are copied into their slice, not owned by
// it (a slice that owns a string costs an allocation of its own).
constexpr size_t kOwnAtLeast = 4096;

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutTag(uint32_t field, WireType type, std::string* out) {
  PutVarint(uint64_t{field} << 3 | type, out);
}

// A varint field as protobuf writes it: nothing for 0. Enums (int32) are
// sign-extended to 64 bits first, as protobuf does.
void PutVarintField(uint32_t field, uint64_t v, std::string* out) {
  if (v == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(v, out);
}

size_t VarintFieldSize(uint32_t field, uint64_t v) {
  return v == 0 ? 0 : VarintSize(uint64_t{field} << 3) + VarintSize(v);
}

uint64_t EnumWire(int32_t v) {
  return static_cast<uint64_t>(static_cast<int64_t>(v));
}

size_t BytesFieldSize(uint32_t field, size_t n) {
  return n == 0 ? 0 : VarintSize(uint64_t{field} << 3) + VarintSize(n) + n;
}

size_t ChunkSize(const PushPieceMessage& m) {
  return VarintFieldSize(kCount, m.count) +
         VarintFieldSize(kValueType, EnumWire(m.value_type)) +
         VarintFieldSize(kIndexEncoding, EnumWire(m.index_encoding)) +
         BytesFieldSize(kIndices, m.indices.size()) +
         BytesFieldSize(kValues, m.values.size());
}

// The bytes around the chunk's two byte fields: head (up to the indices'
// bytes), middle (the values' tag and length) and tail (after the chunk).
struct Frame {
  std::string head, middle, tail;
};

Frame MakeFrame(const PushPieceMessage& m) {
  Frame f;
  PutVarintField(kStep, m.step, &f.head);
  PutVarintField(kWorkerId, m.worker_id, &f.head);
  PutVarintField(kShardIndex, m.shard_index, &f.head);
  if (m.has_chunk) {
    PutTag(kChunk, kLen, &f.head);
    PutVarint(ChunkSize(m), &f.head);
    PutVarintField(kCount, m.count, &f.head);
    PutVarintField(kValueType, EnumWire(m.value_type), &f.head);
    PutVarintField(kIndexEncoding, EnumWire(m.index_encoding), &f.head);
    if (!m.indices.empty()) {
      PutTag(kIndices, kLen, &f.head);
      PutVarint(m.indices.size(), &f.head);
    }
    if (!m.values.empty()) {
      PutTag(kValues, kLen, &f.middle);
      PutVarint(m.values.size(), &f.middle);
    }
  }
  PutVarintField(kOffset, m.offset, &f.tail);
  PutVarintField(kLast, m.last ? 1 : 0, &f.tail);
  return f;
}

// Reads protobuf's wire format across a run of slices. Every read fails
// (false) rather than run past the end.
class SliceReader {
 public:
  explicit SliceReader(std::span<const grpc::Slice> slices) : slices_(slices) {
    for (const grpc::Slice& s : slices_) remaining_ += s.size();
    Advance(0);  // past leading empty slices
  }

  size_t remaining() const { return remaining_; }

  // A varint of at most `max_bytes` bytes; bits past the 64th are
  // dropped, as protobuf drops them.
  bool ReadVarint(uint64_t* v, int max_bytes = 10) {
    uint64_t value = 0;
    for (int i = 0; i < max_bytes; ++i) {
      uint8_t byte;
      if (!ReadByte(&byte)) return false;
      value |= uint64_t{byte & 0x7fu} << (7 * i);
      if ((byte & 0x80) == 0) {
        *v = value;
        return true;
      }
    }
    return false;
  }

  // The next `n` bytes, as references to the slices holding them
  // (appended to *out), or skipped with out == nullptr.
  bool Take(size_t n, SliceBytes* out) {
    if (n > remaining_) return false;
    remaining_ -= n;
    while (n > 0) {
      const grpc::Slice& s = slices_[slice_];
      const size_t take = std::min(n, s.size() - at_);
      if (out != nullptr) out->Append(s.sub(at_, at_ + take));
      n -= take;
      Advance(take);
    }
    return true;
  }

 private:
  bool ReadByte(uint8_t* byte) {
    if (remaining_ == 0) return false;
    *byte = slices_[slice_].begin()[at_];
    --remaining_;
    Advance(1);
    return true;
  }

  // Moves `n` bytes on within the current slice, then past empty ones.
  void Advance(size_t n) {
    at_ += n;
    while (slice_ < slices_.size() && at_ == slices_[slice_].size()) {
      ++slice_;
      at_ = 0;
    }
  }

  std::span<const grpc::Slice> slices_;
  size_t slice_ = 0;
  size_t at_ = 0;
  size_t remaining_ = 0;
};

// A tag as protobuf takes it: at most 5 bytes, below 2^32, field > 0, and
// not a group (which only protobuf's parser skips).
bool ReadTag(SliceReader& r, uint32_t* field, uint32_t* type) {
  uint64_t tag;
  if (!r.ReadVarint(&tag, 5) || tag > 0xffffffffu) return false;
  *field = static_cast<uint32_t>(tag >> 3);
  *type = static_cast<uint32_t>(tag & 7);
  return *field != 0 && (*type == kVarint || *type == kFixed64 ||
                         *type == kLen || *type == kFixed32);
}

// A length-delimited field's bytes (appended to *out, or skipped).
bool ReadLen(SliceReader& r, SliceBytes* out) {
  uint64_t n;
  return r.ReadVarint(&n, 5) && n <= 0x7fffffffu - 16 && r.Take(n, out);
}

// Skips a field of a number this message does not know, or of a wire type
// its number does not have (protobuf keeps both as unknown fields).
bool SkipField(SliceReader& r, uint32_t type) {
  uint64_t ignored;
  switch (type) {
    case kVarint:
      return r.ReadVarint(&ignored);
    case kFixed64:
      return r.Take(8, nullptr);
    case kFixed32:
      return r.Take(4, nullptr);
    default:
      return ReadLen(r, nullptr);
  }
}

bool ParseChunk(std::span<const grpc::Slice> slices, PushPieceMessage* m) {
  SliceReader r(slices);
  while (r.remaining() > 0) {
    uint32_t field, type;
    if (!ReadTag(r, &field, &type)) return false;
    uint64_t v;
    if (type == kVarint &&
        (field == kCount || field == kValueType || field == kIndexEncoding)) {
      if (!r.ReadVarint(&v)) return false;
      if (field == kCount) m->count = static_cast<uint32_t>(v);
      if (field == kValueType) m->value_type = static_cast<int32_t>(v);
      if (field == kIndexEncoding) m->index_encoding = static_cast<int32_t>(v);
    } else if (type == kLen && (field == kIndices || field == kValues)) {
      SliceBytes& bytes = field == kIndices ? m->indices : m->values;
      bytes.Clear();  // a repeated singular field: the last one counts
      if (!ReadLen(r, &bytes)) return false;
    } else if (!SkipField(r, type)) {
      return false;
    }
  }
  return true;
}

}  // namespace

void SliceBytes::Assign(std::string bytes) {
  Clear();
  if (bytes.empty()) return;
  if (bytes.size() < kOwnAtLeast) {
    Append(grpc::Slice(bytes));
    return;
  }
  auto* owned = new std::string(std::move(bytes));
  Append(grpc::Slice(
      owned->data(), owned->size(),
      [](void* p) { delete static_cast<std::string*>(p); }, owned));
}

void SliceBytes::Append(grpc::Slice part) {
  size_ += part.size();
  parts_.push_back(std::move(part));
}

void SliceBytes::Clear() {
  parts_.clear();
  size_ = 0;
}

void SliceBytes::Views(std::vector<std::string_view>* out) const {
  out->clear();
  for (const grpc::Slice& s : parts_) {
    out->emplace_back(reinterpret_cast<const char*>(s.begin()), s.size());
  }
}

std::string_view SliceBytes::Contiguous(std::string* scratch) const {
  if (parts_.empty()) return {};
  if (parts_.size() == 1) {
    return {reinterpret_cast<const char*>(parts_[0].begin()), parts_[0].size()};
  }
  scratch->clear();
  scratch->reserve(size_);
  for (const grpc::Slice& s : parts_) {
    scratch->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return *scratch;
}

size_t PushPieceMessage::ByteSize() const {
  size_t n =
      VarintFieldSize(kStep, step) + VarintFieldSize(kWorkerId, worker_id) +
      VarintFieldSize(kShardIndex, shard_index) +
      VarintFieldSize(kOffset, offset) + VarintFieldSize(kLast, last ? 1 : 0);
  if (has_chunk) {
    const size_t chunk = ChunkSize(*this);
    n += VarintSize(uint64_t{kChunk} << 3) + VarintSize(chunk) + chunk;
  }
  return n;
}

grpc::ByteBuffer SerializePushPiece(const PushPieceMessage& m) {
  const Frame frame = MakeFrame(m);
  std::vector<grpc::Slice> slices;
  slices.reserve(m.indices.parts().size() + m.values.parts().size() + 3);
  const auto add = [&](const std::string& bytes) {
    if (!bytes.empty()) slices.emplace_back(bytes);
  };
  add(frame.head);
  if (m.has_chunk) {
    for (const grpc::Slice& s : m.indices.parts()) slices.push_back(s);
    add(frame.middle);
    for (const grpc::Slice& s : m.values.parts()) slices.push_back(s);
  }
  add(frame.tail);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

bool ParsePushPiece(std::span<const grpc::Slice> slices, PushPieceMessage* m) {
  m->Clear();
  SliceReader r(slices);
  while (r.remaining() > 0) {
    uint32_t field, type;
    if (!ReadTag(r, &field, &type)) return false;
    uint64_t v;
    if (type == kVarint && field != kChunk && field <= kLast) {
      if (!r.ReadVarint(&v)) return false;
      if (field == kStep) m->step = v;
      if (field == kWorkerId) m->worker_id = static_cast<uint32_t>(v);
      if (field == kShardIndex) m->shard_index = static_cast<uint32_t>(v);
      if (field == kOffset) m->offset = v;
      if (field == kLast) m->last = v != 0;
    } else if (type == kLen && field == kChunk) {
      // A repeated message field merges, as if its bytes were one.
      SliceBytes chunk;
      if (!ReadLen(r, &chunk) || !ParseChunk(chunk.parts(), m)) return false;
      m->has_chunk = true;
    } else if (!SkipField(r, type)) {
      return false;
    }
  }
  return true;
}

grpc::Status DeserializePushPiece(grpc::ByteBuffer* buffer,
                                  PushPieceMessage* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer->Dump(&slices).ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "unreadable message");
  }
  if (ParsePushPiece(slices, message)) {
    buffer->Clear();
    return grpc::Status::OK;
  }
  cddp::v1::PushPullRequest request;
  grpc::Status s =
      grpc::GenericDeserialize<grpc::ProtoBufferReader,
                               cddp::v1::PushPullRequest>(buffer, &request);
  if (s.ok()) *message = FromGenerated(request);
  return s;
}

PushPieceMessage FromGenerated(const cddp::v1::PushPullRequest& request) {
  PushPieceMessage m;
  m.step = request.step();
  m.worker_id = request.worker_id();
  m.shard_index = request.shard_index();
  m.offset = request.offset();
  m.last = request.last();
  m.has_chunk = request.has_chunk();
  const cddp::v1::SparseChunk& c = request.chunk();
  m.count = c.count();
  m.value_type = c.value_type();
  m.index_encoding = c.index_encoding();
  m.indices.Assign(c.indices());
  m.values.Assign(c.values());
  return m;
}

void ToGenerated(const PushPieceMessage& m,
                 cddp::v1::PushPullRequest* request) {
  request->Clear();
  request->set_step(m.step);
  request->set_worker_id(m.worker_id);
  request->set_shard_index(m.shard_index);
  request->set_offset(m.offset);
  request->set_last(m.last);
  if (!m.has_chunk) return;
  cddp::v1::SparseChunk* c = request->mutable_chunk();
  c->set_count(m.count);
  c->set_value_type(static_cast<cddp::v1::ValueType>(m.value_type));
  c->set_index_encoding(static_cast<cddp::v1::IndexEncoding>(m.index_encoding));
  std::string scratch;
  c->set_indices(std::string(m.indices.Contiguous(&scratch)));
  c->set_values(std::string(m.values.Contiguous(&scratch)));
}

}  // namespace cddp::proto
