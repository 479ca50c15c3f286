#include "common/wire/push_pieces.h"

#include <cstring>
#include <numeric>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cddp::common {

PushAssembler::PushAssembler(uint32_t range_size, SparseSelection buffer)
    : range_size_(range_size), pairs_(std::move(buffer)) {
  pairs_.clear();
}

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

}  // namespace

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
                           std::string_view values) {
  digest_ = absl::Hash<std::tuple<uint64_t, uint64_t, uint32_t, int, int,
                                  std::string_view, std::string_view>>{}(
      std::make_tuple(digest_, offset, count, value_type, index_encoding,
                      indices, values));
  ++pieces_;
}

absl::Status PushAssembler::Add(const EncodedChunkView& piece,
                                uint64_t offset) {
  const bool dense =
      piece.index_encoding == static_cast<int>(IndexEncoding::kDense);
  const uint64_t first_free = FirstFree();
  CDDP_RETURN_IF_ERROR(CheckPlacement(dense, offset, piece.count));
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
  Record(offset, piece.count, piece.value_type, piece.index_encoding,
         piece.indices, piece.values);
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
  if (pieces_ == 0) {
    pairs_.indices.reserve(range_size_);
    pairs_.values.reserve(range_size_);
  }
  // The parts' bytes straight into the buffer (a value may straddle two
  // parts), checked there.
  const size_t old = pairs_.size();
  pairs_.values.resize(old + piece.count);
  char* to = reinterpret_cast<char*>(pairs_.values.data() + old);
  for (std::string_view p : piece.values) {
    std::memcpy(to, p.data(), p.size());
    to += p.size();
  }
  const std::string_view copied(
      reinterpret_cast<const char*>(pairs_.values.data() + old), value_bytes);
  if (!AllFiniteFp32(copied)) {  // refused as the joined piece is
    pairs_.values.resize(old);
    return Add(joined(), offset);
  }
  pairs_.indices.resize(old + piece.count);
  std::iota(pairs_.indices.begin() + static_cast<ptrdiff_t>(old),
            pairs_.indices.end(), static_cast<uint32_t>(offset));
  Record(offset, piece.count, piece.value_type, piece.index_encoding, {},
         copied);
  return absl::OkStatus();
}

}  // namespace cddp::common
