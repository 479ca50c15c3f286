// Workspace: the device scratch of the compression kernels, allocated once;
// and the device probe.
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/device/device_scan.cuh>
#include <string>

#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/cuda/detail/cuda_check.h"
#include "common/compress/cuda/detail/workspace_buffers.h"
#include "common/compress/topk_sample.h"

namespace cddp::cuda {
namespace detail {

WorkspaceBuffers::~WorkspaceBuffers() {
  // Errors are ignored: nothing useful can be done about them here.
  for (void* p :
       {static_cast<void*>(state), static_cast<void*>(batch_failed),
        static_cast<void*>(sample_keys), static_cast<void*>(slot_index),
        static_cast<void*>(slot_value), static_cast<void*>(tile_count),
        static_cast<void*>(tile_offset), static_cast<void*>(cand_index),
        static_cast<void*>(cand_value), static_cast<void*>(tile_pair),
        static_cast<void*>(tile_pair_offset), scan_temp,
        static_cast<void*>(partials), static_cast<void*>(partials_done)}) {
    if (p != nullptr) cudaFree(p);
  }
}

}  // namespace detail

namespace {

template <typename T>
KernelStatus Allocate(T** p, size_t count, const char* what) {
  const size_t bytes = std::max<size_t>(count, 1) * sizeof(T);
  const cudaError_t err = cudaMalloc(reinterpret_cast<void**>(p), bytes);
  if (err == cudaSuccess) return KernelStatus::Ok();
  const std::string context = std::string("cudaMalloc of ") +
                              std::to_string(bytes) + " bytes for " + what;
  return detail::FromCuda(err, context.c_str());
}

}  // namespace

Workspace::Workspace(std::unique_ptr<detail::WorkspaceBuffers> buffers)
    : buffers_(std::move(buffers)) {}
Workspace::~Workspace() = default;

size_t Workspace::max_n() const { return buffers_->max_n; }

KernelStatus Workspace::Create(size_t max_n, std::unique_ptr<Workspace>* out) {
  if (max_n >= (size_t{1} << 32)) {
    return KernelStatus::Error(
        KernelStatus::Code::kInvalidArgument,
        "workspace size " + std::to_string(max_n) + " is not below 2^32");
  }
  std::string why;
  if (!DeviceAvailable(&why)) {
    return KernelStatus::Error(KernelStatus::Code::kUnavailable, why);
  }
  auto b = std::make_unique<detail::WorkspaceBuffers>();
  b->max_n = max_n;
  b->max_tiles = std::max(1u, detail::TilesFor(max_n));
  int device = 0;
  int sms = 0;
  CDDP_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  CDDP_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  b->grid = detail::kBlocksPerSm * std::max(sms, 1);

  const size_t tiles = b->max_tiles;
  const size_t slots = tiles * detail::kSlotsPerTile;
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->state, 1, "the selection state"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->batch_failed, 1, "the batch flag"));
  CDDP_KERNEL_RETURN_IF_ERROR(
      Allocate(&b->sample_keys, common::kMaxSampleSize, "the sample"));
  CDDP_KERNEL_RETURN_IF_ERROR(
      Allocate(&b->slot_index, slots, "candidate slots"));
  CDDP_KERNEL_RETURN_IF_ERROR(
      Allocate(&b->slot_value, slots, "candidate slots"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->tile_count, tiles, "tile counts"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->tile_offset, tiles, "tile offsets"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->cand_index, slots, "candidates"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->cand_value, slots, "candidates"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->tile_pair, tiles, "tile counts"));
  CDDP_KERNEL_RETURN_IF_ERROR(
      Allocate(&b->tile_pair_offset, tiles, "tile offsets"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->partials, b->grid, "partial sums"));
  CDDP_KERNEL_RETURN_IF_ERROR(Allocate(&b->partials_done, 1, "a counter"));

  size_t count_scan = 0;
  size_t pair_scan = 0;
  CDDP_CUDA_RETURN_IF_ERROR(
      cub::DeviceScan::ExclusiveSum(nullptr, count_scan, b->tile_count,
                                    b->tile_offset, static_cast<int>(tiles)));
  CDDP_CUDA_RETURN_IF_ERROR(cub::DeviceScan::ExclusiveSum(
      nullptr, pair_scan, b->tile_pair, b->tile_pair_offset,
      static_cast<int>(tiles)));
  b->scan_temp_bytes = std::max(count_scan, pair_scan);
  unsigned char* scan_temp = nullptr;
  CDDP_KERNEL_RETURN_IF_ERROR(
      Allocate(&scan_temp, b->scan_temp_bytes, "scan scratch"));
  b->scan_temp = scan_temp;

  // The counters start at zero; the kernels leave them at zero.
  CDDP_CUDA_RETURN_IF_ERROR(
      cudaMemset(b->state, 0, sizeof(detail::SelectState)));
  CDDP_CUDA_RETURN_IF_ERROR(cudaMemset(b->batch_failed, 0, sizeof(uint32_t)));
  CDDP_CUDA_RETURN_IF_ERROR(cudaMemset(b->partials_done, 0, sizeof(uint32_t)));
  CDDP_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  out->reset(new Workspace(std::move(b)));
  return KernelStatus::Ok();
}

bool DeviceAvailable(std::string* why_not) {
  std::string why;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  int device = 0;
  cudaDeviceProp prop{};
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it
    why = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(err) + " (" +
          cudaGetErrorString(err) + ")";
  } else if (count == 0) {
    why = "no CUDA device found";
  } else if (cudaGetDevice(&device) != cudaSuccess ||
             cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();
    why = "cannot read the current CUDA device's properties";
  } else if (prop.major < 9) {
    why = "device " + std::to_string(device) + " (" + prop.name +
          ") has compute capability " + std::to_string(prop.major) + "." +
          std::to_string(prop.minor) +
          "; these kernels are built for 9.0 and newer (sm_90 code, "
          "compute_90 PTX; see CMAKE_CUDA_ARCHITECTURES)";
  }
  if (why.empty()) return true;
  if (why_not != nullptr) *why_not = why;
  return false;
}

}  // namespace cddp::cuda
