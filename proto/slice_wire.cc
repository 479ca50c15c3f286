#include "proto/slice_wire.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace cddp::proto {
namespace {

// Fields below this many bytes are copied into their slice, not owned by
// it (a slice that owns a string costs an allocation of its own).
constexpr size_t kOwnAtLeast = 4096;

// Field numbers of cddp.v1.SparseChunk.
enum ChunkField : uint32_t {
  kCount = 1,
  kValueType = 2,
  kIndexEncoding = 3,
  kIndices = 4,
  kValues = 5,
};

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
  scratch->resize(size_);
  CopyTo(scratch->data());
  return *scratch;
}

void SliceBytes::CopyTo(char* to) const {
  for (const grpc::Slice& s : parts_) {
    std::memcpy(to, s.begin(), s.size());
    to += s.size();
  }
}

namespace wire {

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t VarintFieldSize(uint32_t field, uint64_t v) {
  return v == 0 ? 0 : VarintSize(uint64_t{field} << 3) + VarintSize(v);
}

size_t BytesFieldSize(uint32_t field, size_t n) {
  return n == 0 ? 0 : MessageFieldSize(field, n);
}

size_t MessageFieldSize(uint32_t field, size_t size) {
  return VarintSize(uint64_t{field} << 3) + VarintSize(size) + size;
}

size_t ChunkSize(const ChunkFields& c) {
  return VarintFieldSize(kCount, c.count) +
         VarintFieldSize(kValueType, EnumWire(c.value_type)) +
         VarintFieldSize(kIndexEncoding, EnumWire(c.index_encoding)) +
         BytesFieldSize(kIndices, c.indices.size()) +
         BytesFieldSize(kValues, c.values.size());
}

void SliceWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    pending_.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  pending_.push_back(static_cast<char>(v));
}

void SliceWriter::Tag(uint32_t field, WireType type) {
  Varint(uint64_t{field} << 3 | type);
}

void SliceWriter::Flush() {
  if (pending_.empty()) return;
  slices_.emplace_back(pending_);
  pending_.clear();
}

void SliceWriter::VarintField(uint32_t field, uint64_t v) {
  if (v == 0) return;
  Tag(field, kVarint);
  Varint(v);
}

void SliceWriter::BytesField(uint32_t field, const SliceBytes& bytes) {
  if (bytes.empty()) return;
  Tag(field, kLen);
  Varint(bytes.size());
  Flush();
  slices_.insert(slices_.end(), bytes.parts().begin(), bytes.parts().end());
}

void SliceWriter::ChunkField(uint32_t field, const ChunkFields& c) {
  Tag(field, kLen);
  Varint(ChunkSize(c));
  VarintField(kCount, c.count);
  VarintField(kValueType, EnumWire(c.value_type));
  VarintField(kIndexEncoding, EnumWire(c.index_encoding));
  BytesField(kIndices, c.indices);
  BytesField(kValues, c.values);
}

grpc::ByteBuffer SliceWriter::Finish() {
  Flush();
  return grpc::ByteBuffer(slices_.data(), slices_.size());
}

SliceReader::SliceReader(std::span<const grpc::Slice> slices)
    : slices_(slices) {
  for (const grpc::Slice& s : slices_) remaining_ += s.size();
  Advance(0);  // past leading empty slices
}

bool SliceReader::Tag(uint32_t* field, uint32_t* type) {
  uint64_t tag;
  if (!Varint(&tag, 5) || tag > 0xffffffffu) return false;
  *field = static_cast<uint32_t>(tag >> 3);
  *type = static_cast<uint32_t>(tag & 7);
  return *field != 0 && (*type == kVarint || *type == kFixed64 ||
                         *type == kLen || *type == kFixed32);
}

bool SliceReader::Varint(uint64_t* v, int max_bytes) {
  uint64_t value = 0;
  for (int i = 0; i < max_bytes; ++i) {
    uint8_t byte;
    if (!Byte(&byte)) return false;
    value |= uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80) == 0) {
      *v = value;
      return true;
    }
  }
  return false;
}

bool SliceReader::Len(SliceBytes* out) {
  uint64_t n;
  return Varint(&n, 5) && n <= 0x7fffffffu - 16 && Take(n, out);
}

bool SliceReader::Skip(uint32_t type) {
  uint64_t ignored;
  switch (type) {
    case kVarint:
      return Varint(&ignored);
    case kFixed64:
      return Take(8, nullptr);
    case kFixed32:
      return Take(4, nullptr);
    default:
      return Len(nullptr);
  }
}

bool SliceReader::Take(size_t n, SliceBytes* out) {
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

bool SliceReader::Byte(uint8_t* byte) {
  if (remaining_ == 0) return false;
  *byte = slices_[slice_].begin()[at_];
  --remaining_;
  Advance(1);
  return true;
}

void SliceReader::Advance(size_t n) {
  at_ += n;
  while (slice_ < slices_.size() && at_ == slices_[slice_].size()) {
    ++slice_;
    at_ = 0;
  }
}

bool ParseChunk(std::span<const grpc::Slice> bytes, ChunkFields* c) {
  SliceReader r(bytes);
  while (r.remaining() > 0) {
    uint32_t field, type;
    if (!r.Tag(&field, &type)) return false;
    uint64_t v;
    if (type == kVarint &&
        (field == kCount || field == kValueType || field == kIndexEncoding)) {
      if (!r.Varint(&v)) return false;
      if (field == kCount) c->count = static_cast<uint32_t>(v);
      if (field == kValueType) c->value_type = static_cast<int32_t>(v);
      if (field == kIndexEncoding) c->index_encoding = static_cast<int32_t>(v);
    } else if (type == kLen && (field == kIndices || field == kValues)) {
      SliceBytes& bytes = field == kIndices ? c->indices : c->values;
      bytes.Clear();  // a repeated singular field: the last one counts
      if (!r.Len(&bytes)) return false;
    } else if (!r.Skip(type)) {
      return false;
    }
  }
  return true;
}

bool ReadChunk(SliceReader& r, ChunkFields* chunk) {
  SliceBytes bytes;
  return r.Len(&bytes) && ParseChunk(bytes.parts(), chunk);
}

void SetChunk(uint32_t count, int32_t value_type, int32_t index_encoding,
              std::string indices, std::string values, ChunkFields* chunk) {
  chunk->count = count;
  chunk->value_type = value_type;
  chunk->index_encoding = index_encoding;
  chunk->indices.Assign(std::move(indices));
  chunk->values.Assign(std::move(values));
}

void ChunkFromGenerated(const cddp::v1::SparseChunk& c, ChunkFields* out) {
  SetChunk(c.count(), c.value_type(), c.index_encoding(), c.indices(),
           c.values(), out);
}

void ChunkToGenerated(const ChunkFields& c, cddp::v1::SparseChunk* out) {
  out->set_count(c.count);
  out->set_value_type(static_cast<cddp::v1::ValueType>(c.value_type));
  out->set_index_encoding(
      static_cast<cddp::v1::IndexEncoding>(c.index_encoding));
  std::string scratch;
  out->set_indices(std::string(c.indices.Contiguous(&scratch)));
  out->set_values(std::string(c.values.Contiguous(&scratch)));
}

}  // namespace wire
}  // namespace cddp::proto
