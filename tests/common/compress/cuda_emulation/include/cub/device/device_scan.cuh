// Stub of cub::DeviceScan for the CPU emulator (../../../emu.h): the
// device-wide ExclusiveSum, done at once on the host. As in CUB, a null
// d_temp asks for the scratch size. NOT emulated: the scan's kernels (and
// so any race in them), streams.
#ifndef CDDP_TESTS_CUDA_EMULATION_CUB_DEVICE_SCAN_CUH_
#define CDDP_TESTS_CUDA_EMULATION_CUB_DEVICE_SCAN_CUH_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <type_traits>

namespace cub {

struct DeviceScan {
  template <typename In, typename Out>
  static cudaError_t ExclusiveSum(void* d_temp, size_t& temp_bytes, In in,
                                  Out out, int count, cudaStream_t = nullptr) {
    if (d_temp == nullptr) {
      temp_bytes = 16;
      return cudaSuccess;
    }
    std::remove_cvref_t<decltype(in[0])> running = 0;
    for (int i = 0; i < count; ++i) {
      const auto v = in[i];
      out[i] = running;
      running += v;
    }
    return cudaSuccess;
  }
};

}  // namespace cub

#endif  // CDDP_TESTS_CUDA_EMULATION_CUB_DEVICE_SCAN_CUH_
