// The kernels of a step that touch the whole residual: prepare (state reset
// and the sampled threshold), the one fused streaming pass (accumulate,
// and collect candidates or build the first radix histogram), restore after
// a non-finite sum, and the gather of the fast pass's candidates.
#include <cuda_runtime.h>

#include <cub/device/device_scan.cuh>

#include "common/compress/candidate_kernels.h"  // kCollectNothing
#include "common/compress/cuda/detail/cuda_check.h"
#include "common/compress/cuda/detail/launch.h"
#include "common/compress/cuda/detail/launchers.h"
#include "common/compress/cuda/detail/radix_digit.cuh"
#include "common/compress/cuda/detail/tile_rank.cuh"
#include "common/compress/float_formats.h"
#include "common/compress/topk_sample.h"

namespace cddp::cuda::detail {
namespace {

using common::kCollectNothing;
using common::kInfinityKey;
using common::MagnitudeKey;

constexpr int kPrepareThreads = 1024;
constexpr int kSamplePerThread = common::kMaxSampleSize / kPrepareThreads;
constexpr int kSampleBatch = 8;
static_assert(common::kMaxSampleSize % (kPrepareThreads * kSampleBatch) == 0);

struct PrepareArgs {
  const float* x;
  const float* g;
  uint32_t n;
  uint32_t k;
  uint32_t m;     // sample size; 0: no threshold
  uint32_t rank;  // threshold = the sample key of this descending rank
  bool accumulate;
  bool new_batch;
  StepReport* report;
  SelectState* state;
  uint32_t* batch_failed;
  uint32_t* sample_keys;
};

__global__ void __launch_bounds__(kPrepareThreads)
    PrepareKernel(PrepareArgs a) {
  __shared__ uint32_t hist[kDigitBins];
  __shared__ DigitFinder<kPrepareThreads>::Storage find;
  SelectState* st = a.state;
  const bool failed_before = !a.new_batch && *a.batch_failed != 0;
  if (threadIdx.x == 0) {
    if (a.new_batch) *a.batch_failed = 0;
    if (a.report != nullptr) *a.report = StepReport{kNoBadElement, 0.0f, 0.0f};
    st->threshold = kCollectNothing;
    st->overflow = 0;
    st->source_value = a.x;
    st->source_index = nullptr;
    st->source_count = a.n;
    st->prefix = 0;
    st->k_left = a.k;
    st->blocks_done = 0;
  }
  for (int b = threadIdx.x; b < kDigitBins; b += kPrepareThreads)
    st->hist[b] = 0;
  if (a.m == 0 || failed_before) return;

  // The sample's keys, computed as the CPU does (error_feedback.cc for a
  // step: key of r + g before the pass writes r; topk.cc: key of x), in
  // batches whose loads are all in flight at once (one block does this, so
  // memory latency, not bandwidth, is its cost). Each thread reads back only
  // the keys it wrote.
  for (int q0 = 0; q0 < kSamplePerThread; q0 += kSampleBatch) {
    float v[kSampleBatch];
#pragma unroll
    for (int q = 0; q < kSampleBatch; ++q) {
      const uint32_t j = (q0 + q) * kPrepareThreads + threadIdx.x;
      v[q] = 0.0f;
      if (j < a.m) {
        const size_t p = common::SamplePosition(j, a.m, a.n);
        v[q] =
            a.accumulate ? a.x[p] + (a.g != nullptr ? a.g[p] : 0.0f) : a.x[p];
      }
    }
#pragma unroll
    for (int q = 0; q < kSampleBatch; ++q) {
      const uint32_t j = (q0 + q) * kPrepareThreads + threadIdx.x;
      if (j < a.m) a.sample_keys[j] = MagnitudeKey(v[q]);
    }
  }
  // Radix select of the (rank + 1)-th largest sample key, as
  // ThresholdFromSample's nth_element at `rank`.
  uint32_t prefix = 0;
  uint32_t k_left = a.rank + 1;
  for (int pass = 0; pass < kPasses; ++pass) {
    for (int b = threadIdx.x; b < kDigitBins; b += kPrepareThreads) hist[b] = 0;
    __syncthreads();
    for (int q = 0; q < kSamplePerThread; ++q) {
      const uint32_t j = q * kPrepareThreads + threadIdx.x;
      if (j < a.m) {
        const uint32_t key = a.sample_keys[j];
        if (InPass(key, prefix, pass)) atomicAdd(&hist[Digit(key, pass)], 1u);
      }
    }
    __syncthreads();
    DigitFinder<kPrepareThreads>::Find(hist, k_left, find);
    prefix |= find.digit << DigitShift(pass);
    k_left -= find.above;
    __syncthreads();  // find and hist are rewritten by the next pass
  }
  // As the CPU: a zero threshold means sampling won't pay (all candidates).
  if (threadIdx.x == 0) st->threshold = prefix == 0 ? kCollectNothing : prefix;
}

struct PassArgs {
  float* r;        // step: accumulated into; top-k: nullptr
  const float* x;  // read (the residual for a step)
  const float* g;  // step only; nullptr: zeros
  uint32_t n;
  uint32_t tiles;
  SelectState* state;
  const uint32_t* batch_failed;
  StepReport* report;
  uint32_t* slot_index;
  float* slot_value;
  uint32_t* tile_count;
};

// kAccumulate: r[i] = x[i] + g[i] where the sum is finite, the first other
// i reported. kCollect: elements with key >= threshold go, in index order,
// to their tile's slots. kHistogram: radix pass 0 over the keys.
template <bool kAccumulate, bool kCollect, bool kHistogram>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    PassKernel(PassArgs a) {
  __shared__ TileRankStorage rank_storage;
  __shared__ uint32_t hist[kHistogram ? kDigitBins : 1];
  __shared__ FinishStorage finish;
  if (*a.batch_failed != 0) return;  // uniform: set by an earlier kernel
  const uint32_t threshold = kCollect ? a.state->threshold : kCollectNothing;
  if constexpr (kHistogram) {
    for (int b = threadIdx.x; b < kDigitBins; b += kThreads) hist[b] = 0;
    __syncthreads();
  }
  uint32_t bad = kNoBadElement;
  for (uint32_t tile = blockIdx.x; tile < a.tiles; tile += gridDim.x) {
    const size_t base = size_t{tile} * kTile;
    // All loads first: 2 * kItems in flight per thread.
    float v[kItems];
    float gv[kItems];
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const size_t i = TileElement(base, j);
      v[j] = 0.0f;
      gv[j] = 0.0f;  // a null gradient adds +0.0f, as zeros on the CPU do
      if (i < a.n) {
        v[j] = a.x[i];
        if (kAccumulate && a.g != nullptr) gv[j] = __ldg(a.g + i);
      }
    }
    bool hit[kItems];
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const size_t i = TileElement(base, j);
      hit[j] = false;
      if (i < a.n) {
        const float s = kAccumulate ? v[j] + gv[j] : v[j];
        const uint32_t key = MagnitudeKey(s);
        if constexpr (kAccumulate) {
          if (key < kInfinityKey) {
            a.r[i] = s;
          } else if (bad == kNoBadElement) {  // i only grows in this thread
            bad = static_cast<uint32_t>(i);
          }
        }
        hit[j] = kCollect && key >= threshold;
        if constexpr (kHistogram) atomicAdd(&hist[Digit(key, 0)], 1u);
        v[j] = s;
      }
    }
    if constexpr (kCollect) {
      uint32_t rank[kItems];
      const uint32_t total = TileExclusiveRank(hit, rank, rank_storage);
      const size_t slots = size_t{tile} * kSlotsPerTile;
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        if (hit[j] && rank[j] < kSlotsPerTile) {
          a.slot_index[slots + rank[j]] =
              static_cast<uint32_t>(TileElement(base, j));
          a.slot_value[slots + rank[j]] = v[j];
        }
      }
      if (threadIdx.x == 0) {
        a.tile_count[tile] = min(total, kSlotsPerTile);
        if (total > kSlotsPerTile) a.state->overflow = 1;
      }
    }
  }
  if (kAccumulate && bad != kNoBadElement) atomicMin(&a.report->first_bad, bad);
  if constexpr (kHistogram) {
    __syncthreads();
    FinishHistogramPass(hist, a.state, 0, finish);
  }
}

// After a non-finite sum (the report says where): r -= g wherever g is
// finite, exactly as ErrorFeedback::Compress does (the non-finite sums were
// never stored), and the batch is marked failed. Otherwise nothing.
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    RestoreKernel(float* r, const float* g, uint32_t n, StepReport* report,
                  uint32_t* batch_failed) {
  const uint32_t bad = report->first_bad;
  if (bad == kNoBadElement) return;
  if (blockIdx.x == 0 && threadIdx.x == 0) *batch_failed = 1;
  const size_t stride = size_t{gridDim.x} * kThreads;
  for (size_t i = size_t{blockIdx.x} * kThreads + threadIdx.x; i < n;
       i += stride) {
    const float gi = g != nullptr ? g[i] : 0.0f;
    if (i == bad) {  // before it changes: the message needs r[bad] + g[bad]
      report->residual_at_bad = r[i];
      report->gradient_at_bad = gi;
    }
    if (g != nullptr && MagnitudeKey(gi) < kInfinityKey) r[i] -= gi;
  }
}

struct GatherArgs {
  SelectState* state;
  const uint32_t* batch_failed;
  uint32_t k;
  uint32_t tiles;
  const uint32_t* tile_count;
  const uint32_t* tile_offset;  // exclusive scan of tile_count
  const uint32_t* slot_index;
  const float* slot_value;
  uint32_t* cand_index;
  float* cand_value;
};

// Packs the tiles' candidates densely (ascending index) and makes them the
// source, unless a tile overflowed or fewer than k passed the threshold:
// then the source stays the whole array (prepare's default), like the
// CPU's fallback to ExactTopK.
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    GatherKernel(GatherArgs a) {
  if (*a.batch_failed != 0) return;
  SelectState* st = a.state;
  const bool overflow = st->overflow != 0;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const uint32_t total =
        a.tile_offset[a.tiles - 1] + a.tile_count[a.tiles - 1];
    if (!overflow && total >= a.k) {
      st->source_value = a.cand_value;
      st->source_index = a.cand_index;
      st->source_count = total;
    }
  }
  if (overflow) return;
  for (uint32_t tile = blockIdx.x; tile < a.tiles; tile += gridDim.x) {
    const uint32_t count = a.tile_count[tile];
    const uint32_t offset = a.tile_offset[tile];
    const size_t slots = size_t{tile} * kSlotsPerTile;
    for (uint32_t e = threadIdx.x; e < count; e += kThreads) {
      a.cand_index[offset + e] = a.slot_index[slots + e];
      a.cand_value[offset + e] = a.slot_value[slots + e];
    }
  }
}

}  // namespace

KernelStatus LaunchPrepare(const Plan& p, const WorkspaceBuffers& b,
                           cudaStream_t stream) {
  const PrepareArgs a{p.x,
                      p.gradient,
                      p.n,
                      p.k,
                      p.sample_size,
                      p.sample_rank,
                      p.residual != nullptr,
                      p.new_batch,
                      p.report,
                      b.state,
                      b.batch_failed,
                      b.sample_keys};
  Launch(PrepareKernel, 1, kPrepareThreads, stream, a);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("PrepareKernel");
  return KernelStatus::Ok();
}

KernelStatus LaunchPass(const Plan& p, const WorkspaceBuffers& b,
                        cudaStream_t stream) {
  const PassArgs a{p.residual,   p.x,          p.gradient,     p.n,
                   p.tiles,      b.state,      b.batch_failed, p.report,
                   b.slot_index, b.slot_value, b.tile_count};
  const bool sample = p.sample_size > 0;
  if (p.residual == nullptr) {  // top-k: only the fast selector has a pass
    if (!sample) return KernelStatus::Ok();
    Launch(PassKernel<false, true, false>, p.grid, kThreads, stream, a);
  } else if (p.k == 0) {
    Launch(PassKernel<true, false, false>, p.grid, kThreads, stream, a);
  } else if (sample) {
    Launch(PassKernel<true, true, false>, p.grid, kThreads, stream, a);
  } else {
    Launch(PassKernel<true, false, true>, p.grid, kThreads, stream, a);
  }
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("PassKernel");
  return KernelStatus::Ok();
}

KernelStatus LaunchRestore(const Plan& p, const WorkspaceBuffers& b,
                           cudaStream_t stream) {
  Launch(RestoreKernel, p.grid, kThreads, stream, p.residual, p.gradient, p.n,
         p.report, b.batch_failed);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("RestoreKernel");
  return KernelStatus::Ok();
}

KernelStatus LaunchGather(const Plan& p, const WorkspaceBuffers& b,
                          cudaStream_t stream) {
  size_t temp_bytes = b.scan_temp_bytes;
  CDDP_CUDA_RETURN_IF_ERROR(cub::DeviceScan::ExclusiveSum(
      b.scan_temp, temp_bytes, b.tile_count, b.tile_offset,
      static_cast<int>(p.tiles), stream));
  const GatherArgs a{b.state,      b.batch_failed, p.k,          p.tiles,
                     b.tile_count, b.tile_offset,  b.slot_index, b.slot_value,
                     b.cand_index, b.cand_value};
  Launch(GatherKernel, p.grid, kThreads, stream, a);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("GatherKernel");
  return KernelStatus::Ok();
}

}  // namespace cddp::cuda::detail
