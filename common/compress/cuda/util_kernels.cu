// The small kernels around a step: adding undelivered pairs back into the
// residual, and the residual's sum of squares.
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/block/block_reduce.cuh>

#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/cuda/detail/cuda_check.h"
#include "common/compress/cuda/detail/launch.h"
#include "common/compress/cuda/detail/workspace_buffers.h"

namespace cddp::cuda {
namespace {

using detail::kThreads;

__global__ void __launch_bounds__(kThreads, detail::kBlocksPerSm)
    ScatterAddKernel(float* r, const uint32_t* index, const float* value,
                     size_t count) {
  const size_t stride = size_t{gridDim.x} * kThreads;
  for (size_t e = size_t{blockIdx.x} * kThreads + threadIdx.x; e < count;
       e += stride) {
    atomicAdd(&r[index[e]], value[e]);
  }
}

// Each block sums its share in double; the last block to finish adds the
// blocks' partials in block order, so the result is the same every run.
__global__ void __launch_bounds__(kThreads, detail::kBlocksPerSm)
    SumOfSquaresKernel(const float* x, size_t n, double* partials,
                       uint32_t* done, double* result) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage reduce;
  __shared__ bool is_last;
  double sum = 0.0;
  const size_t stride = size_t{gridDim.x} * kThreads;
  for (size_t i = size_t{blockIdx.x} * kThreads + threadIdx.x; i < n;
       i += stride) {
    const double v = x[i];
    sum += v * v;
  }
  const double block_sum = Reduce(reduce).Sum(sum);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = block_sum;
    __threadfence();
    is_last = atomicAdd(done, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (is_last && threadIdx.x == 0) {
    __threadfence();
    double total = 0.0;
    for (unsigned b = 0; b < gridDim.x; ++b) total += __ldcg(&partials[b]);
    *result = total;
    *done = 0;
  }
}

}  // namespace

KernelStatus EnqueueScatterAdd(float* r, const uint32_t* index,
                               const float* value, size_t count,
                               CUstream_st* stream) {
  if (count == 0) return KernelStatus::Ok();
  if (r == nullptr || index == nullptr || value == nullptr) {
    return KernelStatus::Error(KernelStatus::Code::kInvalidArgument,
                               "null array");
  }
  const size_t blocks =
      std::min<size_t>((count + kThreads - 1) / kThreads, 4096);
  detail::Launch(ScatterAddKernel, static_cast<unsigned>(blocks), kThreads,
                 stream, r, index, value, count);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("ScatterAddKernel");
  return KernelStatus::Ok();
}

KernelStatus EnqueueSumOfSquares(const float* x, size_t n, double* result,
                                 Workspace& ws, CUstream_st* stream) {
  if (result == nullptr || (n > 0 && x == nullptr)) {
    return KernelStatus::Error(KernelStatus::Code::kInvalidArgument,
                               "null array");
  }
  const detail::WorkspaceBuffers& b = ws.buffers();
  detail::Launch(SumOfSquaresKernel, b.grid, kThreads, stream, x, n, b.partials,
                 b.partials_done, result);
  CDDP_CUDA_RETURN_IF_LAUNCH_FAILED("SumOfSquaresKernel");
  return KernelStatus::Ok();
}

}  // namespace cddp::cuda
