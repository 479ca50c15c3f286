// The launches one step or top-k call is made of, as host functions (each
// .cu file launches its own kernels; compression_kernels.cu strings them
// together). Internal to common/cuda/.
#ifndef CDDP_COMMON_COMPRESS_CUDA_DETAIL_LAUNCHERS_H_
#define CDDP_COMMON_COMPRESS_CUDA_DETAIL_LAUNCHERS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/compress/compression_types.h"
#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/cuda/detail/workspace_buffers.h"
#include "common/compress/cuda/kernel_status.h"

namespace cddp::cuda::detail {

// What one call does, fixed on the host before any launch.
struct Plan {
  const float* x = nullptr;   // the array selected from (r after the pass)
  float* residual = nullptr;  // == x for a step; nullptr for top-k
  const float* gradient = nullptr;  // step only; nullptr: zeros
  uint32_t n = 0;                   // >= 1
  uint32_t k = 0;
  uint32_t tiles = 0;        // TilesFor(n)
  unsigned grid = 0;         // GridFor(buffers, tiles)
  uint32_t sample_size = 0;  // > 0: the fast selector's sample
  uint32_t sample_rank = 0;  // the threshold's rank in the sample (< size)
  bool new_batch = true;
  StepReport* report = nullptr;  // step only
};

// accumulate_kernels.cu
// Resets the state (source: the whole of x) and the report; with a sample,
// sets the candidate threshold. One block.
KernelStatus LaunchPrepare(const Plan& plan, const WorkspaceBuffers& b,
                           cudaStream_t stream);
// The streaming pass. A step accumulates (residual != nullptr); with a
// sample it collects per-tile candidates, without one (and k > 0) it does
// the first histogram pass. Top-k with a sample: collects only.
KernelStatus LaunchPass(const Plan& plan, const WorkspaceBuffers& b,
                        cudaStream_t stream);
// Step only: after a non-finite sum, undoes the finite ones.
KernelStatus LaunchRestore(const Plan& plan, const WorkspaceBuffers& b,
                           cudaStream_t stream);
// Sample only: packs the per-tile candidates and picks the source.
KernelStatus LaunchGather(const Plan& plan, const WorkspaceBuffers& b,
                          cudaStream_t stream);

// select_kernels.cu
// Histogram pass `pass` over the source (the pass's digit is then known).
KernelStatus LaunchHistogram(int pass, const Plan& plan,
                             const WorkspaceBuffers& b, cudaStream_t stream);
// With T known: the per-tile counts, their scan and the ordered write of
// the k selected (index_base + index, value) to out_*; for a step, value is
// rounded to value_type and the residual keeps the rounding error.
KernelStatus LaunchOrderedWrite(const Plan& plan, common::ValueType value_type,
                                uint32_t index_base, uint32_t* out_index,
                                float* out_value, const WorkspaceBuffers& b,
                                cudaStream_t stream);

}  // namespace cddp::cuda::detail

#endif  // CDDP_COMMON_COMPRESS_CUDA_DETAIL_LAUNCHERS_H_
