// Device helper of the tile kernels: ranks flagged elements of a tile in
// index order, with warp ballots and one short warp scan (no CUB needed).
#ifndef CDDP_COMMON_CUDA_DETAIL_TILE_RANK_CUH_
#define CDDP_COMMON_CUDA_DETAIL_TILE_RANK_CUH_

#include <cstddef>
#include <cstdint>

#include "common/compress/cuda/detail/workspace_buffers.h"

namespace cddp::cuda::detail {

// Index within the array of this thread's item j in the tile at `base`
// (the striped layout of workspace_buffers.h).
__device__ __forceinline__ size_t TileElement(size_t base, int j) {
  return base + static_cast<size_t>(j) * kThreads + threadIdx.x;
}

struct TileRankStorage {
  // One count per (item, warp) segment of 32 consecutive elements, in index
  // order (segment j * kWarps + warp), then the tile's total.
  uint32_t segment[kItems * kWarps + 1];
};

// For flags in the striped layout, sets rank[j] to the number of flagged
// elements of the tile before item j's element (in index order) and returns
// the number flagged in the tile. Every thread of the block must call it
// (it synchronises the block); `storage` is free again when it returns.
__device__ __forceinline__ uint32_t
TileExclusiveRank(const bool (&flag)[kItems], uint32_t (&rank)[kItems],
                  TileRankStorage& storage) {
  static_assert(kItems * kWarps == 4 * 32,
                "the scan below gives each lane of warp 0 four segments");
  const unsigned lane = threadIdx.x & 31u;
  const unsigned warp = threadIdx.x >> 5;
  const unsigned lanes_below = (1u << lane) - 1u;
  // Element j * kThreads + warp * 32 + lane: segment (j, warp), rank by lane.
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const unsigned mask = __ballot_sync(0xffffffffu, flag[j]);
    rank[j] = static_cast<uint32_t>(__popc(mask & lanes_below));
    if (lane == 0) {
      storage.segment[j * kWarps + warp] = static_cast<uint32_t>(__popc(mask));
    }
  }
  __syncthreads();
  if (warp == 0) {  // exclusive scan of the 128 segment counts
    uint32_t count[4];
    uint32_t sum = 0;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      count[q] = storage.segment[lane * 4 + q];
      sum += count[q];
    }
    uint32_t inclusive = sum;
#pragma unroll
    for (unsigned d = 1; d < 32; d <<= 1) {
      const uint32_t up = __shfl_up_sync(0xffffffffu, inclusive, d);
      if (lane >= d) inclusive += up;
    }
    uint32_t running = inclusive - sum;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      storage.segment[lane * 4 + q] = running;
      running += count[q];
    }
    if (lane == 31) storage.segment[kItems * kWarps] = inclusive;
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kItems; ++j)
    rank[j] += storage.segment[j * kWarps + warp];
  const uint32_t total = storage.segment[kItems * kWarps];
  __syncthreads();
  return total;
}

}  // namespace cddp::cuda::detail

#endif  // CDDP_COMMON_CUDA_DETAIL_TILE_RANK_CUH_
