#include "common/wire/push_pieces.h"

#include <string_view>
#include <tuple>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace cddp::common {

PushAssembler::PushAssembler(uint32_t range_size, SparseSelection buffer)
    : range_size_(range_size), pairs_(std::move(buffer)) {
  pairs_.clear();
}

absl::Status PushAssembler::Add(const EncodedChunkView& piece,
                                uint64_t offset) {
  const bool dense =
      piece.index_encoding == static_cast<int>(IndexEncoding::kDense);
  // Where this piece's indices must start: after the last one so far.
  const uint64_t first_free =
      pairs_.size() == 0 ? 0 : uint64_t{pairs_.indices.back()} + 1;
  if (!dense && offset != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", pieces_, ": offset ", offset,
                     " on a piece that is not dense"));
  }
  if (dense && (offset < first_free || offset > range_size_ ||
                piece.count > range_size_ - offset)) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", pieces_, ": dense piece [", offset, ", ",
                     offset + piece.count, ") is not after index ", first_free,
                     " or not within the range of ", range_size_));
  }
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
  digest_ = absl::Hash<std::tuple<uint64_t, uint64_t, uint32_t, int, int,
                                  std::string_view, std::string_view>>{}(
      std::make_tuple(digest_, offset, piece.count, piece.value_type,
                      piece.index_encoding, piece.indices, piece.values));
  ++pieces_;
  return absl::OkStatus();
}

}  // namespace cddp::common
