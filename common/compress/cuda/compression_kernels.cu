// The entry points of compression_kernels.h: argument checks, the host-side
// plan (sizes and the CPU's sampling rule), and the launches in order.
#include <cuda_runtime.h>

#include <string>

#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/cuda/detail/cuda_check.h"
#include "common/compress/cuda/detail/launchers.h"
#include "common/compress/topk_sample.h"

namespace cddp::cuda {
namespace {

using detail::Plan;

KernelStatus Invalid(std::string message) {
  return KernelStatus::Error(KernelStatus::Code::kInvalidArgument,
                             std::move(message));
}

KernelStatus CheckSizes(size_t n, size_t k, const Workspace& ws) {
  if (n > ws.max_n()) {
    return Invalid("n = " + std::to_string(n) + " exceeds the workspace's " +
                   std::to_string(ws.max_n()));
  }
  if (k > n) {
    return Invalid("k = " + std::to_string(k) +
                   " exceeds n = " + std::to_string(n));
  }
  return KernelStatus::Ok();
}

// Sizes, grid and the fast selector's sample, decided as the CPU decides
// (topk_sample.h): no sample when it won't pay, which is the exact path.
Plan MakePlan(size_t n, size_t k, common::Selector selector,
              const detail::WorkspaceBuffers& b) {
  Plan p;
  p.n = static_cast<uint32_t>(n);
  p.k = static_cast<uint32_t>(k);
  p.tiles = detail::TilesFor(n);
  p.grid = detail::GridFor(b, p.tiles);
  if (selector == common::Selector::kFast) {
    const size_t m = common::SampleSize(n, k);
    if (m > 0) {
      const size_t rank = common::SampleThresholdRank(m, n, k);
      if (rank < m) {
        p.sample_size = static_cast<uint32_t>(m);
        p.sample_rank = static_cast<uint32_t>(rank);
      }
    }
  }
  return p;
}

// Everything after the streaming pass: the fast selector's gather, the
// histogram passes the pass did not do, and the ordered write.
KernelStatus EnqueueSelect(const Plan& p, bool pass_did_histogram,
                           common::ValueType value_type, uint32_t index_base,
                           uint32_t* out_index, float* out_value,
                           const detail::WorkspaceBuffers& b,
                           cudaStream_t stream) {
  if (p.sample_size > 0)
    CDDP_KERNEL_RETURN_IF_ERROR(detail::LaunchGather(p, b, stream));
  for (int pass = pass_did_histogram ? 1 : 0; pass < detail::kPasses; ++pass) {
    CDDP_KERNEL_RETURN_IF_ERROR(detail::LaunchHistogram(pass, p, b, stream));
  }
  return detail::LaunchOrderedWrite(p, value_type, index_base, out_index,
                                    out_value, b, stream);
}

}  // namespace

KernelStatus EnqueueErrorFeedbackStep(const StepArgs& a, Workspace& ws,
                                      CUstream_st* stream) {
  CDDP_KERNEL_RETURN_IF_ERROR(CheckSizes(a.n, a.k, ws));
  if (a.report == nullptr) return Invalid("step without a report");
  if (a.n > 0 && a.residual == nullptr) return Invalid("null residual");
  if (a.k > 0 && (a.out_index == nullptr || a.out_value == nullptr)) {
    return Invalid("null output arrays");
  }
  if (uint64_t{a.index_base} + a.n > (uint64_t{1} << 32)) {
    return Invalid("index_base + n exceeds 2^32");
  }
  const detail::WorkspaceBuffers& b = ws.buffers();
  Plan p = MakePlan(a.n, a.k, a.selector, b);
  p.x = a.residual;
  p.residual = a.residual;
  p.gradient = a.gradient;
  p.new_batch = !a.continues_batch;
  p.report = a.report;
  CDDP_KERNEL_RETURN_IF_ERROR(detail::LaunchPrepare(p, b, stream));
  if (a.n == 0) return KernelStatus::Ok();
  CDDP_KERNEL_RETURN_IF_ERROR(detail::LaunchPass(p, b, stream));
  CDDP_KERNEL_RETURN_IF_ERROR(detail::LaunchRestore(p, b, stream));
  if (a.k == 0) return KernelStatus::Ok();
  // Without a sample, the pass already did the first histogram.
  return EnqueueSelect(p, /*pass_did_histogram=*/p.sample_size == 0,
                       a.value_type, a.index_base, a.out_index, a.out_value, b,
                       stream);
}

KernelStatus EnqueueTopK(const float* x, size_t n, size_t k,
                         common::Selector selector, uint32_t* out_index,
                         float* out_value, Workspace& ws, CUstream_st* stream) {
  CDDP_KERNEL_RETURN_IF_ERROR(CheckSizes(n, k, ws));
  if (k == 0) return KernelStatus::Ok();
  if (x == nullptr || out_index == nullptr) return Invalid("null array");
  const detail::WorkspaceBuffers& b = ws.buffers();
  Plan p = MakePlan(n, k, selector, b);
  p.x = x;
  CDDP_KERNEL_RETURN_IF_ERROR(detail::LaunchPrepare(p, b, stream));
  CDDP_KERNEL_RETURN_IF_ERROR(detail::LaunchPass(p, b, stream));
  return EnqueueSelect(p, /*pass_did_histogram=*/false,
                       common::ValueType::kFp32, 0, out_index, out_value, b,
                       stream);
}

}  // namespace cddp::cuda
