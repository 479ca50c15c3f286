// TwinResidual: one residual kept both on the device and on the host; each
// step runs the kernels on one and the CPU oracle (reference_step.h) on the
// other, and checks pairs, report and residual agree bit for bit.
#ifndef CDDP_TESTS_COMMON_COMPRESS_CUDA_TWIN_RESIDUAL_H_
#define CDDP_TESTS_COMMON_COMPRESS_CUDA_TWIN_RESIDUAL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/compress/cuda/compression_kernels.h"
#include "tests/common/compress/cuda/reference_step.h"
#include "tests/common/compress/cuda/test_util.h"

namespace cddp::cuda::testing {

// Expects equal vectors; on a mismatch says where the first one is and how
// many there are, instead of printing a million elements.
inline void ExpectSame(const std::vector<uint32_t>& got,
                       const std::vector<uint32_t>& want,
                       const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t first = got.size();
  size_t count = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      if (count++ == 0) first = i;
    }
  }
  EXPECT_EQ(count, 0u) << what << ": " << count << " differ, the first at "
                       << first << " (got 0x" << std::hex
                       << (count ? got[first] : 0) << ", want 0x"
                       << (count ? want[first] : 0) << ")";
}

// What the device sent in one step.
struct DeviceStep {
  StepReport report;
  std::vector<uint32_t> indices;
  std::vector<float> values;
};

class TwinResidual {
 public:
  explicit TwinResidual(std::vector<float> initial)
      : host_(initial), device_(initial) {}

  // One step with gradient g (an empty vector: a null device pointer, all
  // zeros on the host) on both sides. Returns what the device sent.
  DeviceStep Step(const std::vector<float>& g, size_t k,
                  common::Selector selector, common::ValueType value_type,
                  Workspace& ws, uint32_t base = 0) {
    const size_t n = host_.size();
    const std::vector<float> host_g = g.empty() ? std::vector<float>(n) : g;
    DeviceArray<float> device_g(g);
    DeviceArray<uint32_t> index(k);
    DeviceArray<float> value(k);
    DeviceArray<StepReport> report(1);
    StepArgs a;
    a.residual = device_.get();
    a.gradient = g.empty() ? nullptr : device_g.get();
    a.n = n;
    a.k = k;
    a.selector = selector;
    a.value_type = value_type;
    a.index_base = base;
    a.out_index = index.get();
    a.out_value = value.get();
    a.report = report.get();
    const KernelStatus status = EnqueueErrorFeedbackStep(a, ws, nullptr);
    EXPECT_TRUE(status.ok()) << status.message();
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);

    const ReferenceResult want =
        ReferenceStep(host_, host_g, k, value_type, base);
    DeviceStep sent{report.Download()[0], {}, {}};
    const StepReport& got = sent.report;
    EXPECT_EQ(got.first_bad, want.first_bad);
    if (want.first_bad == kNoBadElement) {
      sent.indices = index.Download();
      sent.values = value.Download();
      ExpectSame(sent.indices, want.indices, "indices");
      ExpectSame(Bits(sent.values), Bits(want.values), "values");
    } else {
      EXPECT_EQ(common::FloatBits(got.residual_at_bad),
                common::FloatBits(want.residual_at_bad));
      EXPECT_EQ(common::FloatBits(got.gradient_at_bad),
                common::FloatBits(want.gradient_at_bad));
    }
    ExpectSame(Bits(device_.Download()), Bits(host_), "residual");
    return sent;
  }

  const std::vector<float>& host() const { return host_; }
  DeviceArray<float>& device() { return device_; }

 private:
  std::vector<float> host_;
  DeviceArray<float> device_;
};

}  // namespace cddp::cuda::testing

#endif  // CDDP_TESTS_COMMON_COMPRESS_CUDA_TWIN_RESIDUAL_H_
