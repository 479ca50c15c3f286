#include "common/wire/push_pieces.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string_view>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/wire/bytes_digest.h"

namespace cddp::common {

PushAssembler::PushAssembler(uint32_t range_size, RecycledPush buffer)
    : range_size_(range_size),
      pairs_(std::move(buffer.pairs)),
      ascending_prefix_(
          std::min(buffer.ascending_prefix, pairs_.indices.size())) {}

namespace {

// The parts joined: a view of the one part, or of *scratch.
std::string_view Join(std::span<const std::string_view> parts,
                      std::string* scratch) {
  if (parts.empty()) return {};
  if (parts.size() == 1) return parts[0];
  scratch->clear();
  for (std::string_view p : parts) scratch->append(p);
  return *scratch;
}

size_t TotalSize(std::span<const std::string_view> parts) {
  size_t n = 0;
  for (std::string_view p : parts) n += p.size();
  return n;
}

// Copies the parts' bytes (fp32 values, one of which may straddle two
// parts) to `to` and, while they are in cache, checks and digests them:
// AllFiniteFp32WithDigest of what was copied.
bool CopyFiniteFp32(std::span<const std::string_view> parts, float* to,
                    size_t count, uint64_t* digest) {
  char* at = reinterpret_cast<char*>(to);
  for (std::string_view p : parts) {
    if (!p.empty()) std::memcpy(at, p.data(), p.size());
    at += p.size();
  }
  return AllFiniteFp32WithDigest(
      {reinterpret_cast<const char*>(to), count * sizeof(float)}, digest);
}

}  // namespace

void PushAssembler::Trim() {
  pairs_.indices.resize(size_);
  pairs_.values.resize(size_);
  ascending_prefix_ = std::min(ascending_prefix_, size_);
}

absl::Status PushAssembler::CheckPlacement(bool dense, uint64_t offset,
                                           uint32_t count) const {
  const uint64_t first_free = FirstFree();
  if (!dense && offset != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", pieces_, ": offset ", offset,
                     " on a piece that is not dense"));
  }
  if (dense && (offset < first_free || offset > range_size_ ||
                count > range_size_ - offset)) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", pieces_, ": dense piece [", offset, ", ",
                     offset + count, ") is not after index ", first_free,
                     " or not within the range of ", range_size_));
  }
  return absl::OkStatus();
}

void PushAssembler::Record(uint64_t offset, uint32_t count, int value_type,
                           int index_encoding, std::string_view indices,
                           uint64_t values_digest) {
  digest_ = absl::HashOf(digest_, offset, count, value_type, index_encoding,
                         BytesDigest(indices), values_digest);
  ++pieces_;
}

bool PushAssembler::AppendDensePrefix(std::span<const std::string_view> parts,
                                      uint32_t count, uint64_t* values_digest) {
  const size_t end = size_ + count;
  // Grows only where the recycled buffer is shorter (a first push).
  if (pairs_.values.size() < end) pairs_.values.resize(end);
  if (!CopyFiniteFp32(parts, pairs_.values.data() + size_, count,
                      values_digest)) {
    return false;
  }
  if (ascending_prefix_ < end) {
    if (pairs_.indices.size() < end) pairs_.indices.resize(end);
    std::iota(
        pairs_.indices.begin() + static_cast<ptrdiff_t>(ascending_prefix_),
        pairs_.indices.begin() + static_cast<ptrdiff_t>(end),
        static_cast<uint32_t>(ascending_prefix_));
    ascending_prefix_ = end;
  }
  size_ = end;
  return true;
}

absl::Status PushAssembler::Add(const EncodedChunkView& piece,
                                uint64_t offset) {
  const bool dense =
      piece.index_encoding == static_cast<int>(IndexEncoding::kDense);
  const uint64_t first_free = FirstFree();
  CDDP_RETURN_IF_ERROR(CheckPlacement(dense, offset, piece.count));
  Trim();
  // A push that starts dense is, as a rule, the whole range: size its
  // buffer once (address space only until written) instead of growing it.
  if (dense && pieces_ == 0) {
    pairs_.indices.reserve(range_size_);
    pairs_.values.reserve(range_size_);
  }
  const size_t old = pairs_.size();
  // A dense piece decodes as a whole range of `count`, then moves by offset.
  if (absl::Status s =
          DecodeChunkAppend(piece, dense ? piece.count : range_size_, &pairs_);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", pieces_, ": ", s.message()));
  }
  if (dense) {
    const auto shift = static_cast<uint32_t>(offset);
    for (size_t k = old; k < pairs_.size(); ++k) pairs_.indices[k] += shift;
  } else if (pairs_.size() > old && pairs_.indices[old] < first_free) {
    const uint32_t first = pairs_.indices[old];
    pairs_.indices.resize(old);
    pairs_.values.resize(old);
    return absl::InvalidArgumentError(absl::StrCat(
        "piece ", pieces_, ": first index ", first,
        " is not above the previous piece's last index ", first_free - 1));
  }
  size_ = pairs_.size();
  Record(offset, piece.count, piece.value_type, piece.index_encoding,
         piece.indices, BytesDigest(piece.values));
  return absl::OkStatus();
}

absl::Status PushAssembler::Add(const ChunkParts& piece, uint64_t offset) {
  const size_t value_bytes = TotalSize(piece.values);
  const bool dense_fp32 =
      piece.index_encoding == static_cast<int>(IndexEncoding::kDense) &&
      piece.value_type == static_cast<int>(ValueType::kFp32) &&
      TotalSize(piece.indices) == 0 &&
      value_bytes == uint64_t{piece.count} * sizeof(float);
  const auto joined = [&] {
    return EncodedChunkView{piece.count, piece.value_type, piece.index_encoding,
                            Join(piece.indices, &scratch_indices_),
                            Join(piece.values, &scratch_values_)};
  };
  if (!dense_fp32) return Add(joined(), offset);
  CDDP_RETURN_IF_ERROR(CheckPlacement(/*dense=*/true, offset, piece.count));
  uint64_t values_digest = 0;
  // The common case: the push so far is 0..size_-1 and this piece follows.
  if (offset == size_ && FirstFree() == size_) {
    if (pieces_ == 0) {
      pairs_.indices.reserve(range_size_);
      pairs_.values.reserve(range_size_);
    }
    if (!AppendDensePrefix(piece.values, piece.count, &values_digest)) {
      return Add(joined(), offset);  // refused as the joined piece is
    }
    Record(offset, piece.count, piece.value_type, piece.index_encoding, {},
           values_digest);
    return absl::OkStatus();
  }
  Trim();
  // The parts' bytes straight into the buffer, checked there.
  const size_t old = pairs_.size();
  pairs_.values.resize(old + piece.count);
  if (!CopyFiniteFp32(piece.values, pairs_.values.data() + old, piece.count,
                      &values_digest)) {
    pairs_.values.resize(old);
    return Add(joined(), offset);  // refused as the joined piece is
  }
  pairs_.indices.resize(old + piece.count);
  std::iota(pairs_.indices.begin() + static_cast<ptrdiff_t>(old),
            pairs_.indices.end(), static_cast<uint32_t>(offset));
  size_ = pairs_.size();
  Record(offset, piece.count, piece.value_type, piece.index_encoding, {},
         values_digest);
  return absl::OkStatus();
}

}  // namespace cddp::common
