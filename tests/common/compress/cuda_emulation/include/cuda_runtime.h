// Stub of <cuda_runtime.h> for the CPU emulator: the runtime API stub plus
// the device-side language (__global__, threadIdx, __syncthreads, warp
// intrinsics, atomics, ::emu::Launch), all described in ../emu.h. Shadows
// the toolkit's header for cddp_cuda_emulated_test only.
#ifndef CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_INCLUDE_CUDA_RUNTIME_H_
#define CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_INCLUDE_CUDA_RUNTIME_H_

#include <cuda_runtime_api.h>

#include "tests/common/compress/cuda_emulation/emu.h"

#endif  // CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_INCLUDE_CUDA_RUNTIME_H_
