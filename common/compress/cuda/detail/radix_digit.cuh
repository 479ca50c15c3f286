// Device helpers of the radix select on the 31-bit magnitude key: the three
// digits (bits [30:20], [19:10], [9:0]), finding the digit of the k-th
// largest key from a histogram, and ending a histogram pass across the grid
// (the last block to finish picks the digit, so a pass is one launch).
#ifndef CDDP_COMMON_CUDA_DETAIL_RADIX_DIGIT_CUH_
#define CDDP_COMMON_CUDA_DETAIL_RADIX_DIGIT_CUH_

#include <cstdint>
#include <cub/block/block_scan.cuh>

#include "common/compress/cuda/detail/workspace_buffers.h"

namespace cddp::cuda::detail {

__host__ __device__ constexpr int DigitShift(int pass) {
  return pass == 0 ? 20 : (pass == 1 ? 10 : 0);
}
__host__ __device__ constexpr int DigitBits(int pass) {
  return pass == 0 ? 11 : 10;
}
static_assert(DigitShift(0) + DigitBits(0) == 31 &&
                  DigitShift(1) + DigitBits(1) == DigitShift(0) &&
                  DigitShift(2) + DigitBits(2) == DigitShift(1) &&
                  DigitShift(2) == 0 && (1 << DigitBits(0)) == kDigitBins,
              "the digits tile the 31-bit key");

__device__ __forceinline__ uint32_t Digit(uint32_t key, int pass) {
  return (key >> DigitShift(pass)) & ((1u << DigitBits(pass)) - 1u);
}

// Whether `key` still competes in `pass`: its bits above the pass's digit
// are those decided so far (pass 0: every key, both sides shift to 0).
__device__ __forceinline__ bool InPass(uint32_t key, uint32_t prefix,
                                       int pass) {
  const int above = DigitShift(pass) + DigitBits(pass);
  return (key >> above) == (prefix >> above);
}

template <int kBlockThreads>
struct DigitFinder {
  static_assert(kDigitBins % kBlockThreads == 0, "whole bins per thread");
  static constexpr int kPerThread = kDigitBins / kBlockThreads;
  using Scan = cub::BlockScan<uint32_t, kBlockThreads>;
  struct Storage {
    typename Scan::TempStorage scan;
    uint32_t digit;
    uint32_t above;
  };

  // `hist` (kDigitBins counts, readable by the whole block) holds at least
  // k_left >= 1 elements. Finds the bin b of the k_left-th largest: fewer
  // than k_left elements lie in the bins above b, at least k_left in b and
  // above. Leaves b in storage.digit and the count above it in
  // storage.above. Every thread of the block must call it.
  static __device__ void Find(const uint32_t* hist, uint32_t k_left,
                              Storage& storage) {
    // Thread t scans bins in descending order: kDigitBins - 1 - (t * kPer + i).
    uint32_t count[kPerThread];
    uint32_t inclusive[kPerThread];
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      count[i] = hist[kDigitBins - 1 - (threadIdx.x * kPerThread + i)];
    }
    Scan(storage.scan).InclusiveSum(count, inclusive);
    // Exactly one bin satisfies this (empty bins have above == inclusive).
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const uint32_t above = inclusive[i] - count[i];
      if (above < k_left && k_left <= inclusive[i]) {
        storage.digit = kDigitBins - 1 - (threadIdx.x * kPerThread + i);
        storage.above = above;
      }
    }
    __syncthreads();
  }
};

struct FinishStorage {
  typename DigitFinder<kThreads>::Storage find;
  bool is_last;
};

// Ends histogram pass `pass` of a kThreads-thread grid: adds this block's
// shared histogram `hist` into state->hist; the last block to get here then
// picks the digit (prefix |= digit, k_left -= elements above it) and clears
// state->hist and the counter for the next pass. Every thread of every
// block of the grid must call it; `hist` is overwritten.
__device__ __forceinline__ void FinishHistogramPass(uint32_t* hist,
                                                    SelectState* state,
                                                    int pass,
                                                    FinishStorage& storage) {
  for (int b = threadIdx.x; b < kDigitBins; b += kThreads) {
    if (hist[b] != 0) atomicAdd(&state->hist[b], hist[b]);
  }
  // The classic last-block pattern: every thread's adds are visible device
  // wide before its block counts itself done.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    storage.is_last = atomicAdd(&state->blocks_done, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!storage.is_last) return;
  __threadfence();
  for (int b = threadIdx.x; b < kDigitBins; b += kThreads) {
    hist[b] = __ldcg(&state->hist[b]);  // from L2, where the atomics landed
    state->hist[b] = 0;
  }
  __syncthreads();
  const uint32_t k_left = state->k_left;
  DigitFinder<kThreads>::Find(hist, k_left, storage.find);
  if (threadIdx.x == 0) {
    state->prefix |= storage.find.digit << DigitShift(pass);
    state->k_left = k_left - storage.find.above;
    state->blocks_done = 0;
  }
}

}  // namespace cddp::cuda::detail

#endif  // CDDP_COMMON_CUDA_DETAIL_RADIX_DIGIT_CUH_
