// The exact sparse downlink's reply: the entries a round changed with their
// new absolute values, encoded fp32 / delta-varint in pieces of a bounded
// number of pairs, so a worker applies one piece while the next is on the
// wire. What the update rule did to the master values is its business; this
// only encodes the changed set it reports. Stateless; thread-compatible.
#ifndef CDDP_SERVER_SHARD_SPARSE_REPLY_H_
#define CDDP_SERVER_SHARD_SPARSE_REPLY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/compress/sparse.h"

namespace cddp::server {

// One message's worth of a sparse reply: consecutive entries of the
// round's changed set, encoded fp32 / delta-varint (the first index
// absolute, as in any chunk).
struct SparsePiece {
  uint32_t count = 0;
  std::string indices;
  std::string values;
};

// Replaces `pieces` with `changed` (indices strictly ascending, values
// finite) in ascending pieces of at most `pairs_per_piece` (> 0) pairs: at
// least one piece, possibly empty.
void EncodeSparsePieces(const common::SparseSelection& changed,
                        uint32_t pairs_per_piece,
                        std::vector<SparsePiece>* pieces);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_SPARSE_REPLY_H_
