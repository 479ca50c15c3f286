// A CPU emulation of the part of CUDA that the kernels of common/cuda/ use,
// so that CI, which has no GPU, runs them: cddp_cuda_emulated_test compiles
// the .cu files as plain C++ against the stub headers in include/ (which
// pull this file in) and runs the kernel tests of tests/cuda/ on them.
//
// Emulated:
//  - A launch (::emu::Launch, reached through common/cuda/detail/launch.h)
//    runs to completion before it returns: its blocks one after another,
//    each block's threads as fibers (own stacks, switched cooperatively on
//    the calling OS thread). A thread runs alone until it reaches a
//    barrier: __syncthreads (the whole block) or a warp intrinsic
//    (__ballot_sync, __shfl_up_sync: the 32 lanes of its warp).
//  - A barrier that some thread can never reach (a divergent
//    __syncthreads, a thread that returned before it) aborts with
//    "emu: deadlock" rather than hanging: the strict reading of CUDA's rule
//    (undefined behaviour on a device). So do partial warp masks and
//    launches that are not 1-D with a multiple of 32 threads.
//  - __shared__ is a function-local static: one copy that the running
//    block's threads share. Atomics are plain read-modify-writes, fences are
//    no-ops (nothing runs concurrently).
//
// NOT emulated, so not tested by the emulated run (the GPU run,
// scripts/gpu_check.sh, is the test for these):
//  - Concurrency between blocks: blocks never overlap and run in index
//    order (the "last block to finish" is always the last one), so races
//    between blocks, missing fences or atomics, and memory ordering are
//    not exercised.
//  - Concurrency inside a block between barriers: threads take turns in
//    index order, so a missing __syncthreads shows only if that order
//    exposes it.
//  - Timing, occupancy, __launch_bounds__, register and shared-memory
//    limits, streams (all work is synchronous).
//  - Memory spaces: "device" memory is host memory, so host code that
//    dereferences a device pointer works here and crashes on a GPU.
//    Shared memory is not cleared or poisoned between blocks or launches.
//  - Device arithmetic: float operations are g++'s on the host, not the
//    GPU's (our kernels build with -fmad=false so the two agree; only the
//    GPU run checks that they do).
#ifndef CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_EMU_H_
#define CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_EMU_H_

#include <cstdint>
#include <functional>
#include <type_traits>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

namespace emu {

// The thread running now, its block, and the launch's shape (only x is
// ever other than 1). Valid inside a kernel.
extern dim3 thread_idx, block_idx, block_dim, grid_dim;

// Runs `thread` once for every thread of a grid x block launch, as above.
// Aborts on a bad shape (grid 0, block not a multiple of 32 up to 1024) or
// a deadlock. Not reentrant: a kernel cannot launch another.
void Run(unsigned grid, unsigned block, const std::function<void()>& thread);

// Barriers: the calling thread's block, or its warp.
void SyncBlock();
void SyncWarp();
// The 32 exchange slots of the calling thread's warp for the current warp
// collective (two sets, alternating, so one SyncWarp per collective is
// enough: a set is rewritten only after every lane has passed the barrier
// of the collective after the one that read it).
uint64_t* WarpSlots();
// Aborts unless `mask` is the full warp (the only mask our kernels use).
void CheckFullMask(unsigned mask, const char* intrinsic);

template <typename Kernel, typename... Args>
void Launch(unsigned grid, unsigned block, Kernel kernel, Args&&... args) {
  // Each thread gets its own copy of the (by-value) kernel parameters.
  Run(grid, block, [&] { kernel(args...); });
}

// A warp collective: every lane puts its value in; once the warp's lanes
// have all arrived, the returned slots hold the 32 values by lane.
inline const uint64_t* WarpExchange(uint64_t mine) {
  uint64_t* slots = WarpSlots();
  slots[thread_idx.x % 32] = mine;
  SyncWarp();
  return slots;
}

}  // namespace emu

// ---- the device-side language, as the kernels see it ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)

inline void __syncthreads() { emu::SyncBlock(); }
inline void __threadfence() {}

inline unsigned __ballot_sync(unsigned mask, bool predicate) {
  emu::CheckFullMask(mask, "__ballot_sync");
  const uint64_t* all = emu::WarpExchange(predicate);
  unsigned ballot = 0;
  for (unsigned lane = 0; lane < 32; ++lane) {
    ballot |= static_cast<unsigned>(all[lane]) << lane;
  }
  return ballot;
}

template <typename T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta) {
  static_assert(std::is_integral_v<T>, "emulated for integers only");
  emu::CheckFullMask(mask, "__shfl_up_sync");
  const uint64_t* all = emu::WarpExchange(static_cast<uint64_t>(value));
  const unsigned lane = threadIdx.x % 32;
  return lane >= delta ? static_cast<T>(all[lane - delta]) : value;
}

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }

template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
inline unsigned atomicMin(unsigned* address, unsigned value) {
  const unsigned old = *address;
  if (value < old) *address = value;
  return old;
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
template <typename T>
T __ldcg(const T* p) {
  return *p;
}

#endif  // CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_EMU_H_
