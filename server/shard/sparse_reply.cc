// Splitting a round's changed set into encoded reply pieces.
#include "server/shard/sparse_reply.h"

#include <algorithm>
#include <span>

#include "common/check.h"
#include "common/wire/wire_codec.h"

namespace cddp::server {

void EncodeSparsePieces(const common::SparseSelection& pairs,
                        uint32_t pairs_per_piece, common::ValueType value_type,
                        std::vector<SparsePiece>* pieces) {
  CDDP_CHECK(pairs_per_piece > 0);
  const size_t n = pairs.size();
  const size_t per_piece = pairs_per_piece;
  const std::span<const uint32_t> indices = pairs.indices;
  const std::span<const float> values = pairs.values;
  pieces->resize(std::max<size_t>(1, (n + per_piece - 1) / per_piece));
  for (size_t p = 0; p < pieces->size(); ++p) {
    const size_t begin = p * per_piece;
    const size_t count = std::min(per_piece, n - begin);
    SparsePiece& piece = (*pieces)[p];
    piece.count = static_cast<uint32_t>(count);
    piece.value_type = value_type;
    // Cannot fail: the pairs are the shard's own, ascending and finite.
    CDDP_CHECK(common::EncodeChunk(indices.subspan(begin, count),
                                   values.subspan(begin, count), value_type,
                                   common::IndexEncoding::kDeltaVarint,
                                   &piece.indices, &piece.values)
                   .ok());
  }
}

}  // namespace cddp::server
