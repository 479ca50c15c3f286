// Stub of the CUDA runtime API for the CPU emulator (../emu.h): shadows the
// toolkit's header for cddp_cuda_emulated_test only.
//
// Emulated: the calls common/cuda/ and tests/cuda/ make. There is always
// one device, compute capability 9.0 with kEmulatedSms multiprocessors (so
// the grid-stride kernels get 3 * 2 = 6 blocks and loop over tiles).
// "Device" memory is host memory from malloc, filled with 0xCD so that a
// kernel reading what nobody wrote sees garbage, as on a GPU.
// NOT emulated: errors (every call succeeds; allocation failure aborts),
// streams and asynchrony (everything completes before the call returns),
// any call or field not listed here.
#ifndef CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_INCLUDE_CUDA_RUNTIME_API_H_
#define CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_INCLUDE_CUDA_RUNTIME_API_H_

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

struct CUstream_st;
typedef CUstream_st* cudaStream_t;

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorMemoryAllocation = 2,
  cudaErrorNoDevice = 100,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToDevice,
  cudaMemcpyDeviceToHost,
  cudaMemcpyDeviceToDevice,
};
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount };
struct cudaDeviceProp {
  char name[256];
  int major;
  int minor;
  int multiProcessorCount;
};

namespace emu {
inline constexpr int kEmulatedSms = 2;
}  // namespace emu

inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = std::malloc(bytes);
  if (*p == nullptr) {
    std::fprintf(stderr, "emu: cudaMalloc of %zu bytes failed\n", bytes);
    std::abort();
  }
  std::memset(*p, 0xCD, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes,
                              cudaMemcpyKind) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "cudaErrorEmu"; }
inline const char* cudaGetErrorString(cudaError_t) {
  return "an error in the CUDA emulator";
}
inline cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int) {
  std::strcpy(prop->name, "CPU emulator");
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = emu::kEmulatedSms;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
  *value = emu::kEmulatedSms;
  return cudaSuccess;
}

#endif  // CDDP_TESTS_COMMON_COMPRESS_CUDA_EMULATION_INCLUDE_CUDA_RUNTIME_API_H_
