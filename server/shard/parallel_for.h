// Splitting a shard's per-entry work (summing whole-range pushes, the
// update rules' passes) over a few threads for a large shard: the range is
// cut into contiguous parts, each run on its own thread (the caller runs
// the first), and the call returns when all are done. Each part writes
// only its own entries, so the result is the serial one, bit for bit.
//
// Threads are started per call: a part is at least kMinEntriesPerPart
// entries (milliseconds of work), against tens of microseconds to start a
// thread, and a small shard never leaves the caller's thread.
#ifndef CDDP_SERVER_SHARD_PARALLEL_FOR_H_
#define CDDP_SERVER_SHARD_PARALLEL_FOR_H_

#include <cstddef>

#include "absl/functional/function_ref.h"

namespace cddp::server {

// The smallest part worth a thread of its own.
inline constexpr size_t kMinEntriesPerPart = size_t{1} << 18;

// How many parts `n` entries make with at most `threads` threads (>= 1).
size_t PartsFor(size_t n, int threads);

// Calls fn(part, begin, end) for each of `parts` contiguous ranges
// covering [0, n) in order (part 0, 1, ...), part 0 on the calling thread
// and the others on new threads; returns once every call has. `fn` must be
// safe to run concurrently on disjoint ranges (a part may use scratch of
// its own by `part`). parts <= 1 (or fewer entries than parts) calls
// fn(0, 0, n) inline.
void ParallelFor(
    size_t n, size_t parts,
    absl::FunctionRef<void(size_t part, size_t begin, size_t end)> fn);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_PARALLEL_FOR_H_
