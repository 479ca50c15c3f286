// Tests of --device resolution: auto falls back to the CPU saying why,
// cuda refuses with every missing piece named, cpu is always the CPU.
#include "worker/device_choice.h"

#include <gtest/gtest.h>

namespace cddp::worker {
namespace {

CudaSupport Everything() {
  CudaSupport s;
  s.kernels_built = true;
  s.kernels_see_device = true;
  s.torch_has_cuda = true;
  s.torch_sees_device = true;
  return s;
}

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(DeviceChoiceTest, ParsesTheThreeNamesAndRefusesOthers) {
  EXPECT_EQ(*ParseDeviceRequest("auto"), DeviceRequest::kAuto);
  EXPECT_EQ(*ParseDeviceRequest("cpu"), DeviceRequest::kCpu);
  EXPECT_EQ(*ParseDeviceRequest("cuda"), DeviceRequest::kCuda);
  for (const char* bad : {"", "gpu", "CUDA", "cuda:0"}) {
    const auto r = ParseDeviceRequest(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(DeviceRequestName(DeviceRequest::kCuda), "cuda");
}

TEST(DeviceChoiceTest, CpuIsAlwaysTheCpu) {
  for (const CudaSupport& s : {CudaSupport{}, Everything()}) {
    const auto c = ChooseDevice(DeviceRequest::kCpu, s);
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE(c->cuda);
  }
}

TEST(DeviceChoiceTest, AutoAndCudaTakeCudaWhenEverythingIsThere) {
  for (DeviceRequest r : {DeviceRequest::kAuto, DeviceRequest::kCuda}) {
    const auto c = ChooseDevice(r, Everything());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(c->cuda);
  }
}

TEST(DeviceChoiceTest, CudaWithACpuOnlyLibTorchSaysSoAndHowToFixIt) {
  CudaSupport s = Everything();
  s.torch_has_cuda = false;
  s.torch_sees_device = false;
  const auto c = ChooseDevice(DeviceRequest::kCuda, s);
  ASSERT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string m(c.status().message());
  EXPECT_TRUE(Has(m, "this LibTorch is CPU-only (Debian's libtorch is)")) << m;
  EXPECT_TRUE(Has(m,
                  "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; "
                  "print(torch.utils.cmake_prefix_path)')"))
      << m;
  EXPECT_FALSE(Has(m, "CDDP_WITH_CUDA")) << m;
}

TEST(DeviceChoiceTest, CudaNamesEveryMissingPiece) {
  const auto c = ChooseDevice(DeviceRequest::kCuda, CudaSupport{});
  ASSERT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string m(c.status().message());
  EXPECT_TRUE(Has(m, "CPU-only")) << m;
  EXPECT_TRUE(Has(m, "built without -DCDDP_WITH_CUDA=ON")) << m;
}

TEST(DeviceChoiceTest, CudaWithoutADeviceGivesTheKernelsReason) {
  CudaSupport s = Everything();
  s.kernels_see_device = false;
  s.kernels_why_not = "cudaGetDeviceCount: no CUDA-capable device is detected";
  s.torch_sees_device = false;
  const auto c = ChooseDevice(DeviceRequest::kCuda, s);
  ASSERT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Has(std::string(c.status().message()),
                  "no CUDA device visible: cudaGetDeviceCount: no "
                  "CUDA-capable device"))
      << c.status();
  // LibTorch alone not seeing it is reported too.
  s = Everything();
  s.torch_sees_device = false;
  const auto t = ChooseDevice(DeviceRequest::kCuda, s);
  EXPECT_TRUE(Has(std::string(t.status().message()),
                  "no CUDA device visible: LibTorch"))
      << t.status();
}

TEST(DeviceChoiceTest, AutoFallsBackToTheCpuSayingWhy) {
  CudaSupport s = Everything();
  s.torch_has_cuda = false;
  const auto c = ChooseDevice(DeviceRequest::kAuto, s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->cuda);
  EXPECT_EQ(c->reason, "--device auto: this LibTorch is CPU-only");
  const auto none = ChooseDevice(DeviceRequest::kAuto, CudaSupport{});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->cuda);
  EXPECT_TRUE(Has(none->reason, "built without -DCDDP_WITH_CUDA=ON"))
      << none->reason;
}

TEST(DeviceChoiceTest, ProbeReportsWhetherThisBuildHasTheKernels) {
  const CudaSupport s = ProbeKernelCudaSupport();
#if CDDP_WITH_CUDA
  EXPECT_TRUE(s.kernels_built);
  if (!s.kernels_see_device) {
    EXPECT_FALSE(s.kernels_why_not.empty());
  }
#else
  EXPECT_FALSE(s.kernels_built);
  EXPECT_FALSE(s.kernels_see_device);
#endif
  EXPECT_FALSE(s.torch_has_cuda);  // LibTorch's side is the caller's
}

}  // namespace
}  // namespace cddp::worker
