// The compressed downlink's selection: which part of what the optimizer did
// a shard sends back this round. The shard keeps two copies of its slice:
// the master values its update rule moves, and the copy every worker holds.
// Each round it sends the Top-K of the difference d = master - copy (with
// error feedback on the server side: what is not sent stays in d and is
// sent in a later round, so nothing is lost, only delayed) and adds what it
// sent to its copy, as every worker adds it to theirs:
//
//   S       = top k of d by magnitude (the order of common/compress/topk.h)
//   sent_i  = d_i rounded to the wire value type (saturated to its largest
//             finite value, never inf), for i in S
//   copy_i += sent_i                   (the same float addition a worker
//                                       does, so both stay bit-identical)
//
// d is never stored: a sample of it gives a magnitude threshold, then one
// pass computes it block by block in cache while collecting the candidates
// at or above the threshold, and an exact select among them picks the k, so
// a round costs one read of both copies plus work proportional to k. Without
// a useful sample (small shards, large k, fewer nonzero differences than
// the sample expects) every nonzero difference is a candidate; if the sample
// overshoots (fewer than k candidates), the pass runs again with every
// nonzero one. The result is the same either way. Zero differences are
// never sent.
//
// Not thread-safe: one per shard, driven under the shard's lock.
#ifndef CDDP_SERVER_SHARD_DOWNLINK_COMPRESSOR_H_
#define CDDP_SERVER_SHARD_DOWNLINK_COMPRESSOR_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/compress/compression_types.h"
#include "common/compress/sparse.h"
#include "common/compress/topk.h"  // Candidates

namespace cddp::server {

// What one round of the compressed downlink did.
struct DownlinkRound {
  size_t sent = 0;  // pairs sent (k, less any non-finite difference skipped)
  // Squared L2 norm of master - copy after the round (what is still unsent).
  double residual_sq_norm = 0;
};

class DownlinkCompressor {
 public:
  // Replaces `out` with the round's (index, sent value) pairs, ascending,
  // and adds them to `copy`. `master` and `copy` have the same size (below
  // 2^32); k <= size. A difference that is not finite (the master holds
  // inf/NaN) is never sent: it stays out of `out` and `copy`.
  DownlinkRound Select(std::span<const float> master, std::span<float> copy,
                       size_t k, common::ValueType value_type,
                       common::SparseSelection* out);

 private:
  // Replaces candidates_ with (i, d_i) for every d_i whose magnitude key
  // reaches `threshold` (> 0), ascending; returns the sum of all d_i^2.
  double CollectDifferences(std::span<const float> master,
                            std::span<const float> copy, uint32_t threshold);

  common::Candidates candidates_;
  std::vector<uint32_t> sample_;
  std::vector<uint32_t> positions_;
  std::vector<float> scratch_;  // one block of d
};

// `v` rounded to `type`, but never infinite: a finite value too large for
// the type becomes the type's largest finite value of the same sign.
float SaturatingRound(float v, common::ValueType type);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_DOWNLINK_COMPRESSOR_H_
