// Summing a round's sparse pushes deterministically: a merge of the
// workers' ascending selections that adds, for each index, the workers'
// values in worker-id order starting from 0.0f. The result is therefore
// bit-identical whatever order the pushes arrived in, and equal to
// scatter-adding each worker's selection, in worker order, into zeros.
// Pushes that all hold the whole range (no compression) are summed entry by
// entry without the merge, with the same additions in the same order.
// Stateless; thread-compatible.
#ifndef CDDP_SERVER_SHARD_AGGREGATE_H_
#define CDDP_SERVER_SHARD_AGGREGATE_H_

#include <span>

#include "common/compress/sparse.h"

namespace cddp::server {

// `pushes` in worker-id order (absent workers left out), each with strictly
// ascending indices. Replaces `out` with the union of their indices,
// ascending, and the sums. Reuses out's capacity.
// The whole-range sum splits over up to `threads` threads for a large
// shard (parallel_for.h); the merge runs on the calling thread.
void SumInWorkerOrder(std::span<const common::SparseSelection* const> pushes,
                      common::SparseSelection* out, int threads = 1);

// The bound on a round's averaged gradient: every |sum * scale| at most
// `max_abs` (finite, >= 0); a NaN is beyond it.
struct AverageBound {
  float scale = 1.0f;
  float max_abs = 0.0f;
};

// SumInWorkerOrder for a shard's rounds, into its running sum: `sum` holds
// nothing or an earlier round's result (distinct, ascending), so when
// whole-range pushes find n indices there, the last n - 1, they are 0..n-1
// already and are not written again (only the sums are). Returns whether
// every sum is within `bound`. Whole-range pushes are summed a block at a
// time (each block's sums stay in cache while every worker's values are
// added and while they are checked), so the sum is written once and not
// read again; other rounds are checked in one pass after the merge.
bool SumRound(std::span<const common::SparseSelection* const> pushes,
              common::SparseSelection* sum, AverageBound bound,
              int threads = 1);

// The first entry of `sums` beyond `bound`, or sums.size() if none is.
size_t FirstBeyondBound(std::span<const float> sums, AverageBound bound);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_AGGREGATE_H_
