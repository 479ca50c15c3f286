// Where a worker trains: `--device cpu|cuda|auto` resolved against what this
// build and this machine offer. Training on CUDA needs three things: this
// build's CUDA compression kernels (-DCDDP_WITH_CUDA=ON, library
// cddp_cuda_ef), a LibTorch built with CUDA (Debian's is CPU-only), and a
// device that both can see. `auto` takes CUDA when all three are there and
// says why not otherwise; `cuda` without them is an error naming each
// missing piece and how to get it.
//
// No LibTorch: the caller (a LibTorch translation unit) fills in LibTorch's
// side of CudaSupport. Plain functions and value types; thread-compatible.
#ifndef CDDP_WORKER_DEVICE_CHOICE_H_
#define CDDP_WORKER_DEVICE_CHOICE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cddp::worker {

enum class DeviceRequest { kAuto, kCpu, kCuda };

// "auto" | "cpu" | "cuda"; INVALID_ARGUMENT naming the choices otherwise.
absl::StatusOr<DeviceRequest> ParseDeviceRequest(std::string_view name);
std::string_view DeviceRequestName(DeviceRequest request);

// What this build and machine offer for training on CUDA.
struct CudaSupport {
  bool kernels_built = false;       // this build has cddp_cuda_ef
  bool kernels_see_device = false;  // cddp::cuda::CudaDeviceAvailable
  std::string kernels_why_not;      // its reason when they do not
  bool torch_has_cuda = false;      // LibTorch was built with CUDA
  bool torch_sees_device = false;   // torch::cuda::is_available()
};

// The kernels' side of CudaSupport: whether this build has them and, if so,
// whether they see a usable device (this initialises the CUDA runtime, so
// call it only when CUDA is wanted). LibTorch's fields are left false.
CudaSupport ProbeKernelCudaSupport();

struct DeviceChoice {
  bool cuda = false;
  std::string reason;  // for the worker's start-up line
};

// kCpu: the CPU. kAuto: CUDA when `support` has everything, else the CPU
// with the reasons in `reason`. kCuda: CUDA, or FAILED_PRECONDITION listing
// every missing piece (a CPU-only LibTorch, a build without
// -DCDDP_WITH_CUDA=ON, no visible device) and what to do about it.
absl::StatusOr<DeviceChoice> ChooseDevice(DeviceRequest request,
                                          const CudaSupport& support);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_DEVICE_CHOICE_H_
