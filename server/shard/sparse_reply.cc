// Splitting a round's changed set into encoded reply pieces.
#include "server/shard/sparse_reply.h"

#include <algorithm>
#include <span>

#include "common/check.h"
#include "common/wire/wire_codec.h"

namespace cddp::server {

void EncodeSparsePieces(const common::SparseSelection& changed,
                        uint32_t pairs_per_piece,
                        std::vector<SparsePiece>* pieces) {
  CDDP_CHECK(pairs_per_piece > 0);
  const size_t n = changed.size();
  const size_t per_piece = pairs_per_piece;
  const std::span<const uint32_t> indices = changed.indices;
  const std::span<const float> values = changed.values;
  pieces->resize(std::max<size_t>(1, (n + per_piece - 1) / per_piece));
  for (size_t p = 0; p < pieces->size(); ++p) {
    const size_t begin = p * per_piece;
    const size_t count = std::min(per_piece, n - begin);
    SparsePiece& piece = (*pieces)[p];
    piece.count = static_cast<uint32_t>(count);
    // Cannot fail: the changed set is the shard's own ascending sum.
    CDDP_CHECK(common::EncodeChunk(indices.subspan(begin, count),
                                   values.subspan(begin, count),
                                   common::ValueType::kFp32,
                                   common::IndexEncoding::kDeltaVarint,
                                   &piece.indices, &piece.values)
                   .ok());
  }
}

}  // namespace cddp::server
