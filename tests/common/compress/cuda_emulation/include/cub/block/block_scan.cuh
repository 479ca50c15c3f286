// Stub of cub::BlockScan for the CPU emulator (../../../emu.h): the
// block-wide InclusiveSum over kItems items per thread (thread t's items
// follow thread t-1's), as our kernels use it. NOT emulated: CUB's
// algorithms and its other scans.
#ifndef CDDP_TESTS_CUDA_EMULATION_CUB_BLOCK_SCAN_CUH_
#define CDDP_TESTS_CUDA_EMULATION_CUB_BLOCK_SCAN_CUH_

#include <cuda_runtime.h>

namespace cub {

template <typename T, int kBlockThreads>
class BlockScan {
 public:
  struct TempStorage {
    T thread_sum[kBlockThreads];
  };
  explicit BlockScan(TempStorage& storage) : storage_(storage) {}

  // Every thread of the block must call it (it synchronises the block). As
  // in CUB, the storage may be reused only after a __syncthreads: a caller
  // that forgets it gets wrong sums here too.
  template <int kItems>
  void InclusiveSum(const T (&in)[kItems], T (&out)[kItems]) {
    T mine = 0;
    for (int i = 0; i < kItems; ++i) mine += in[i];
    storage_.thread_sum[threadIdx.x] = mine;
    __syncthreads();
    T running = 0;
    for (unsigned t = 0; t < threadIdx.x; ++t) {
      running += storage_.thread_sum[t];
    }
    for (int i = 0; i < kItems; ++i) out[i] = running += in[i];
  }

 private:
  TempStorage& storage_;
};

}  // namespace cub

#endif  // CDDP_TESTS_CUDA_EMULATION_CUB_BLOCK_SCAN_CUH_
