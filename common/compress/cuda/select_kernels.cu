// The exact selection over the step's source (the packed candidates, or the
// whole array): radix histogram passes, then the ordered write, which takes
// every key > T and the lowest-indexed ties at T, in index order, and does
// the CPU's Emit on the way.
#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>
#include <cub/device/device_scan.cuh>

#include "common/compress/compression_types.h"
#include "common/compress/cuda/detail/cuda_check.h"
#include "common/compress/cuda/detail/launch.h"
#include "common/compress/cuda/detail/launchers.h"
#include "common/compress/cuda/detail/radix_digit.cuh"
#include "common/compress/cuda/detail/tile_rank.cuh"
#include "common/compress/float_formats.h"

namespace cddp::cuda::detail {
namespace {

using common::MagnitudeKey;

__device__ __forceinline__ uint32_t SourceTiles(uint32_t count) {
  return static_cast<uint32_t>((size_t{count} + kTile - 1) / kTile);
}

// Loads this thread's items of the source tile at `base`; valid[j] says
// whether item j is inside the source.
__device__ __forceinline__ void LoadTile(const float* source, uint32_t count,
                                         size_t base, float (&x)[kItems],
                                         bool (&valid)[kItems]) {
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const size_t e = TileElement(base, j);
    valid[j] = e < count;
    x[j] = valid[j] ? source[e] : 0.0f;
  }
}

// Radix pass `pass` over the source's keys that match the prefix so far.
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    HistogramKernel(SelectState* st, const uint32_t* batch_failed, int pass) {
  __shared__ uint32_t hist[kDigitBins];
  __shared__ FinishStorage finish;
  if (*batch_failed != 0) return;
  for (int b = threadIdx.x; b < kDigitBins; b += kThreads) hist[b] = 0;
  __syncthreads();
  const float* source = st->source_value;
  const uint32_t count = st->source_count;
  const uint32_t prefix = st->prefix;
  const uint32_t tiles = SourceTiles(count);
  for (uint32_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    float x[kItems];
    bool valid[kItems];
    LoadTile(source, count, size_t{tile} * kTile, x, valid);
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const uint32_t key = MagnitudeKey(x[j]);
      if (valid[j] && InPass(key, prefix, pass)) {
        atomicAdd(&hist[Digit(key, pass)], 1u);
      }
    }
  }
  __syncthreads();
  FinishHistogramPass(hist, st, pass, finish);
}

// Per tile of the source: (# keys > T) << 32 | (# keys == T). Tiles past
// the source (up to `tiles`, the array's) get 0, so one scan over `tiles`
// entries serves both sources.
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    CountKernel(const SelectState* st, const uint32_t* batch_failed,
                uint32_t tiles, unsigned long long* tile_pair) {
  using Reduce = cub::BlockReduce<unsigned long long, kThreads>;
  __shared__ typename Reduce::TempStorage reduce;
  if (*batch_failed != 0) return;
  const float* source = st->source_value;
  const uint32_t count = st->source_count;
  const uint32_t t = st->prefix;
  for (uint32_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const size_t base = size_t{tile} * kTile;
    if (base >= count) {  // uniform in the block
      if (threadIdx.x == 0) tile_pair[tile] = 0;
      continue;
    }
    float x[kItems];
    bool valid[kItems];
    LoadTile(source, count, base, x, valid);
    unsigned long long mine = 0;  // per thread at most kItems of each
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const uint32_t key = MagnitudeKey(x[j]);
      if (valid[j] && key > t) mine += 1ull << 32;
      if (valid[j] && key == t) mine += 1ull;
    }
    const unsigned long long sum = Reduce(reduce).Sum(mine);
    if (threadIdx.x == 0) tile_pair[tile] = sum;
    __syncthreads();  // `reduce` is reused by the next tile
  }
}

struct WriteArgs {
  const SelectState* state;
  const uint32_t* batch_failed;
  uint32_t tiles;
  const unsigned long long* tile_pair_offset;  // exclusive scan of the pairs
  float* residual;  // step: gets v - sent at each selected index
  common::ValueType value_type;
  uint32_t index_base;
  uint32_t* out_index;
  float* out_value;  // may be null (top-k)
};

// Element e of the source is taken iff key > T, or key == T and fewer than
// k_left ties precede it (ties go to the lowest indices, as on the CPU).
// Its output position: the taken elements before its tile (all the greater
// ones, and min(ties before, k_left) ties) plus those before it in the tile.
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    WriteKernel(WriteArgs a) {
  __shared__ TileRankStorage rank_storage;
  if (*a.batch_failed != 0) return;
  const float* source = a.state->source_value;
  const uint32_t* index = a.state->source_index;
  const uint32_t count = a.state->source_count;
  const uint32_t t = a.state->prefix;
  const uint32_t ties_needed = a.state->k_left;
  for (uint32_t tile = blockIdx.x; tile < a.tiles; tile += gridDim.x) {
    const size_t base = size_t{tile} * kTile;
    if (base >= count) continue;  // uniform in the block
    const unsigned long long before = a.tile_pair_offset[tile];
    const uint32_t greater_before = static_cast<uint32_t>(before >> 32);
    const uint32_t ties_before = static_cast<uint32_t>(before);
    float x[kItems];
    bool valid[kItems];
    LoadTile(source, count, base, x, valid);
    bool greater[kItems];
    bool tie[kItems];
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const uint32_t key = MagnitudeKey(x[j]);
      greater[j] = valid[j] && key > t;
      tie[j] = valid[j] && key == t;
    }
    uint32_t tie_rank[kItems];
    TileExclusiveRank(tie, tie_rank, rank_storage);
    bool take[kItems];
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      take[j] = greater[j] ||
                (tie[j] && uint64_t{ties_before} + tie_rank[j] < ties_needed);
    }
    uint32_t take_rank[kItems];
    TileExclusiveRank(take, take_rank, rank_storage);
    const uint32_t start = greater_before + min(ties_before, ties_needed);
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      if (!take[j]) continue;
      const size_t e = TileElement(base, j);
      const uint32_t i = index != nullptr ? index[e] : static_cast<uint32_t>(e);
      const uint32_t pos = start + take_rank[j];
      float value = x[j];
      if (a.residual != nullptr) {  // ErrorFeedback::Emit
        const float sent = common::RoundToValueType(x[j], a.value_type);
        a.residual[i] = x[j] - sent;
        value = sent;
      }
      a.out_index[pos] = a.index_base + i;
      if (a.out_value != nullptr) a.out_value[pos] = value;
    }
  }
}

}  // namespace

KernelStatus LaunchHistogram(int pass, const Plan& p, const WorkspaceBuffers& b,
                             cudaStream_t stream) {
  Launch(HistogramKernel, p.grid, kThreads, stream, b.state, b.batch_failed,
         pass);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("HistogramKernel");
  return KernelStatus::Ok();
}

KernelStatus LaunchOrderedWrite(const Plan& p, common::ValueType value_type,
                                uint32_t index_base, uint32_t* out_index,
                                float* out_value, const WorkspaceBuffers& b,
                                cudaStream_t stream) {
  Launch(CountKernel, p.grid, kThreads, stream, b.state, b.batch_failed,
         p.tiles, b.tile_pair);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("CountKernel");
  size_t temp_bytes = b.scan_temp_bytes;
  CDDP_CUDA_RETURN_IF_ERROR(cub::DeviceScan::ExclusiveSum(
      b.scan_temp, temp_bytes, b.tile_pair, b.tile_pair_offset,
      static_cast<int>(p.tiles), stream));
  const WriteArgs a{b.state,    b.batch_failed, p.tiles,    b.tile_pair_offset,
                    p.residual, value_type,     index_base, out_index,
                    out_value};
  Launch(WriteKernel, p.grid, kThreads, stream, a);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("WriteKernel");
  return KernelStatus::Ok();
}

}  // namespace cddp::cuda::detail
