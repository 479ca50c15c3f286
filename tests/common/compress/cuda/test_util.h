// Helpers of the CUDA tests: skipping without a device, device arrays that
// free themselves, and test inputs.
#ifndef CDDP_TESTS_COMMON_COMPRESS_CUDA_TEST_UTIL_H_
#define CDDP_TESTS_COMMON_COMPRESS_CUDA_TEST_UTIL_H_

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/float_formats.h"

// In a test body or SetUp: skips, saying why, when no CUDA device is usable.
#define CDDP_SKIP_WITHOUT_CUDA_DEVICE()                \
  do {                                                 \
    std::string cddp_why_;                             \
    if (!::cddp::cuda::DeviceAvailable(&cddp_why_)) {  \
      GTEST_SKIP() << "no CUDA device: " << cddp_why_; \
    }                                                  \
  } while (0)

namespace cddp::cuda::testing {

// A device array of n T's (uninitialised unless built from a vector).
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p_),
                         std::max<size_t>(n, 1) * sizeof(T)),
              cudaSuccess);
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    Upload(host);
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return p_; }
  size_t size() const { return n_; }
  void Upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), n_);
    if (n_ > 0) {
      ASSERT_EQ(
          cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice),
          cudaSuccess);
    }
  }
  std::vector<T> Download(size_t count) const {
    std::vector<T> host(count);
    if (count > 0) {
      EXPECT_EQ(cudaMemcpy(host.data(), p_, count * sizeof(T),
                           cudaMemcpyDeviceToHost),
                cudaSuccess);
    }
    return host;
  }
  std::vector<T> Download() const { return Download(n_); }

 private:
  T* p_ = nullptr;
  size_t n_;
};

inline std::vector<float> RandomNormal(size_t n, uint64_t seed,
                                       float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Bit patterns, so that -0.0 vs 0.0 and NaN payloads count as differences.
inline std::vector<uint32_t> Bits(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) bits[i] = common::FloatBits(v[i]);
  return bits;
}

}  // namespace cddp::cuda::testing

#endif  // CDDP_TESTS_COMMON_COMPRESS_CUDA_TEST_UTIL_H_
