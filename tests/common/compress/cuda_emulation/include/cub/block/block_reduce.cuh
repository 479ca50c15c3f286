// Stub of cub::BlockReduce for the CPU emulator (../../../emu.h): the
// block-wide Sum our kernels use, by the simplest algorithm. As in CUB, only
// thread 0 gets the sum; the others get a garbage value, so a kernel that
// relies on theirs fails here too. NOT emulated: CUB's algorithms (their
// summation order: double sums can round differently on a GPU), other
// reductions, partial blocks.
#ifndef CDDP_TESTS_CUDA_EMULATION_CUB_BLOCK_REDUCE_CUH_
#define CDDP_TESTS_CUDA_EMULATION_CUB_BLOCK_REDUCE_CUH_

#include <cuda_runtime.h>

namespace cub {

template <typename T, int kBlockThreads>
class BlockReduce {
 public:
  struct TempStorage {
    T value[kBlockThreads];
  };
  explicit BlockReduce(TempStorage& storage) : storage_(storage) {}

  // Every thread of the block must call it (it synchronises the block). As
  // in CUB, the storage may be reused only after a __syncthreads.
  T Sum(T mine) {
    storage_.value[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x != 0) return T(0xdead);
    T sum = storage_.value[0];
    for (int t = 1; t < kBlockThreads; ++t) sum += storage_.value[t];
    return sum;
  }

 private:
  TempStorage& storage_;
};

}  // namespace cub

#endif  // CDDP_TESTS_CUDA_EMULATION_CUB_BLOCK_REDUCE_CUH_
