// CDDP_HOST_DEVICE marks the small inline helpers that the CPU compression
// core and the CUDA kernels (common/cuda/) share, so both sides run the same
// code: compiled by nvcc they are __host__ __device__, compiled by g++ they
// are plain inline functions.
#ifndef CDDP_COMMON_COMPRESS_HOST_DEVICE_H_
#define CDDP_COMMON_COMPRESS_HOST_DEVICE_H_

#if defined(__CUDACC__)
#define CDDP_HOST_DEVICE __host__ __device__
#else
#define CDDP_HOST_DEVICE
#endif

#endif  // CDDP_COMMON_COMPRESS_HOST_DEVICE_H_
