// Launch(kernel, grid, block, stream, args...): how the .cu files of
// common/cuda/ launch their kernels. Under nvcc it is exactly
// kernel<<<grid, block, 0, stream>>>(args...). Compiled as plain C++ for the
// CPU emulator (CDDP_CUDA_EMULATION; tests/cuda_emulation/, whose stub
// cuda_runtime.h provides ::emu::Launch) the kernel runs there instead,
// synchronously, so CI executes the same kernel code without a GPU.
// Internal to common/cuda/.
#ifndef CDDP_COMMON_COMPRESS_CUDA_DETAIL_LAUNCH_H_
#define CDDP_COMMON_COMPRESS_CUDA_DETAIL_LAUNCH_H_

#include <cuda_runtime.h>

#include <utility>

namespace cddp::cuda::detail {

// One-dimensional grid and block, no dynamic shared memory: all our kernels.
// Launch errors are read afterwards with cudaGetLastError, as for <<<>>>.
template <typename... Params, typename... Args>
void Launch(void (*kernel)(Params...), unsigned grid, unsigned block,
            cudaStream_t stream, Args&&... args) {
#if defined(CDDP_CUDA_EMULATION)
  (void)stream;  // the emulator runs every launch to completion at once
  ::emu::Launch(grid, block, kernel, std::forward<Args>(args)...);
#else
  // (clang-format takes a .h for C++ and would split the ">>>")
  // clang-format off
  kernel<<<grid, block, 0, stream>>>(std::forward<Args>(args)...);
  // clang-format on
#endif
}

}  // namespace cddp::cuda::detail

#endif  // CDDP_COMMON_COMPRESS_CUDA_DETAIL_LAUNCH_H_
