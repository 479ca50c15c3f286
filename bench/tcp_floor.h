// A same-run baseline for cddp_ps_bench: how long plain TCP on loopback
// takes to move what a round's dense replies move.
#ifndef CDDP_BENCH_TCP_FLOOR_H_
#define CDDP_BENCH_TCP_FLOOR_H_

#include <cstddef>
#include <cstdint>

namespace cddp::bench {

// Opens `streams` loopback connections and moves `bytes_per_stream` over
// each at once (a writer and a reader thread per connection, plain
// write()/read()) twice, and returns the seconds of the second pass, from
// its first write to its last read: warm buffers and connections, as a
// running job has. CHECK-fails if a socket call fails (a benchmark, not a
// library).
double RawTcpSeconds(uint32_t streams, size_t bytes_per_stream);

}  // namespace cddp::bench

#endif  // CDDP_BENCH_TCP_FLOOR_H_
