// Host-side helpers of the kernel files: turning a cudaError_t into a
// KernelStatus, and the launch grid of the grid-stride kernels.
#ifndef CDDP_COMMON_COMPRESS_CUDA_DETAIL_CUDA_CHECK_H_
#define CDDP_COMMON_COMPRESS_CUDA_DETAIL_CUDA_CHECK_H_

#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "common/compress/cuda/detail/workspace_buffers.h"
#include "common/compress/cuda/kernel_status.h"

namespace cddp::cuda::detail {

inline KernelStatus FromCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return KernelStatus::Ok();
  const auto code = err == cudaErrorMemoryAllocation
                        ? KernelStatus::Code::kOutOfMemory
                        : KernelStatus::Code::kInternal;
  return KernelStatus::Error(code, std::string(what) + ": " +
                                       cudaGetErrorName(err) + " (" +
                                       cudaGetErrorString(err) + ")");
}

// Blocks for a grid-stride kernel over `tiles` tiles: enough to fill the
// device, never more than there is work for, at least one.
inline unsigned GridFor(const WorkspaceBuffers& b, uint32_t tiles) {
  return std::max(1u, std::min(static_cast<unsigned>(b.grid), tiles));
}

}  // namespace cddp::cuda::detail

// Returns from the enclosing function (returning KernelStatus) on a CUDA
// error; `expr` is a cudaError_t expression.
#define CDDP_CUDA_RETURN_IF_ERROR(expr)                \
  do {                                                 \
    const ::cddp::cuda::KernelStatus cddp_status_ =    \
        ::cddp::cuda::detail::FromCuda((expr), #expr); \
    if (!cddp_status_.ok()) return cddp_status_;       \
  } while (0)

// After a kernel launch: the launch's own error, if any. `kernel` is the
// kernel's name, a string literal.
#define CDDP_CUDA_RETURN_IF_LAUNCH_FAILED(kernel)            \
  do {                                                       \
    const ::cddp::cuda::KernelStatus cddp_status_ =          \
        ::cddp::cuda::detail::FromCuda(cudaGetLastError(),   \
                                       "launch of " kernel); \
    if (!cddp_status_.ok()) return cddp_status_;             \
  } while (0)

// Returns from the enclosing function on a KernelStatus that is not ok.
#define CDDP_KERNEL_RETURN_IF_ERROR(expr)             \
  do {                                                \
    ::cddp::cuda::KernelStatus cddp_status_ = (expr); \
    if (!cddp_status_.ok()) return cddp_status_;      \
  } while (0)

#endif  // CDDP_COMMON_COMPRESS_CUDA_DETAIL_CUDA_CHECK_H_
