// A sparse reply's encoding: the pairs a round sends back (the exact sparse
// downlink's changed entries with their new values, or the compressed
// downlink's differences), delta-varint indices, in pieces of a bounded
// number of pairs, so a worker applies one piece while the next is on the
// wire. What the pairs mean is the downlink's business; this only encodes
// them. Stateless; thread-compatible.
#ifndef CDDP_SERVER_SHARD_SPARSE_REPLY_H_
#define CDDP_SERVER_SHARD_SPARSE_REPLY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/compress/sparse.h"

namespace cddp::server {

// One message's worth of a sparse reply: consecutive pairs, encoded with
// `value_type` values and delta-varint indices (the first index absolute, as
// in any chunk).
struct SparsePiece {
  uint32_t count = 0;
  common::ValueType value_type = common::ValueType::kFp32;
  std::string indices;
  std::string values;
};

// Replaces `pieces` with `pairs` (indices strictly ascending, values finite
// and exactly representable in `value_type`) in ascending pieces of at most
// `pairs_per_piece` (> 0) pairs: at least one piece, possibly empty.
void EncodeSparsePieces(const common::SparseSelection& pairs,
                        uint32_t pairs_per_piece, common::ValueType value_type,
                        std::vector<SparsePiece>* pieces);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_SPARSE_REPLY_H_
