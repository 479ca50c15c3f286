// Implementation of device_choice.h.
#include "worker/device_choice.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#if CDDP_WITH_CUDA
#include "common/compress/cuda/device_error_feedback.h"
#endif

namespace cddp::worker {
namespace {

// Why CUDA cannot be used, one entry per missing piece; `hints` adds what to
// do about each (for the --device cuda error; --device auto just names them).
std::vector<std::string> MissingForCuda(const CudaSupport& s, bool hints) {
  std::vector<std::string> missing;
  if (!s.torch_has_cuda) {
    missing.push_back(
        hints ? "this LibTorch is CPU-only (Debian's libtorch is); build "
                "against a CUDA LibTorch, e.g. PyTorch's: "
                "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; "
                "print(torch.utils.cmake_prefix_path)')"
              : "this LibTorch is CPU-only");
  }
  if (!s.kernels_built) {
    missing.push_back(
        hints ? "built without -DCDDP_WITH_CUDA=ON (the CUDA compression "
                "kernels); reconfigure with it (CUDA toolkit needed)"
              : "built without -DCDDP_WITH_CUDA=ON");
  }
  if (missing.empty()) {
    if (!s.kernels_see_device) {
      missing.push_back(
          absl::StrCat("no CUDA device visible: ", s.kernels_why_not));
    } else if (!s.torch_sees_device) {
      missing.push_back(
          "no CUDA device visible: LibTorch's torch::cuda::is_available() is "
          "false (check the driver, CUDA_VISIBLE_DEVICES, and that LibTorch's "
          "CUDA version suits the driver)");
    }
  }
  return missing;
}

}  // namespace

absl::StatusOr<DeviceRequest> ParseDeviceRequest(std::string_view name) {
  if (name == "auto") return DeviceRequest::kAuto;
  if (name == "cpu") return DeviceRequest::kCpu;
  if (name == "cuda") return DeviceRequest::kCuda;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown device \"", std::string(name), "\" (cpu | cuda | auto)"));
}

std::string_view DeviceRequestName(DeviceRequest request) {
  switch (request) {
    case DeviceRequest::kAuto:
      return "auto";
    case DeviceRequest::kCpu:
      return "cpu";
    case DeviceRequest::kCuda:
      return "cuda";
  }
  return "?";
}

CudaSupport ProbeKernelCudaSupport() {
  CudaSupport s;
#if CDDP_WITH_CUDA
  s.kernels_built = true;
  s.kernels_see_device = cuda::CudaDeviceAvailable(&s.kernels_why_not);
#endif
  return s;
}

absl::StatusOr<DeviceChoice> ChooseDevice(DeviceRequest request,
                                          const CudaSupport& support) {
  if (request == DeviceRequest::kCpu)
    return DeviceChoice{false, "--device cpu"};
  const bool is_auto = request == DeviceRequest::kAuto;
  const std::vector<std::string> missing = MissingForCuda(support, !is_auto);
  if (missing.empty()) {
    return DeviceChoice{
        true, is_auto ? "--device auto: CUDA kernels built, LibTorch has "
                        "CUDA, a device is visible"
                      : "--device cuda"};
  }
  if (is_auto) {
    return DeviceChoice{
        false, absl::StrCat("--device auto: ", absl::StrJoin(missing, ", "))};
  }
  return absl::FailedPreconditionError(
      absl::StrCat("--device cuda: ", absl::StrJoin(missing, "; and ")));
}

}  // namespace cddp::worker
