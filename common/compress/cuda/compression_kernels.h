// The compression core on a CUDA device: error-feedback Top-K with the same
// contract as the CPU core (common/error_feedback.h, common/topk.h), on
// device pointers, enqueued on a caller's stream. Absl- and LibTorch-free,
// so it builds with the CUDA toolkit alone (scripts/gpu_check.sh); compiled
// host code may include this header without cuda_runtime.h.
//
// Exactness: both selectors pick exactly the elements the CPU's ExactTopK
// picks on r + g (larger MagnitudeKey first, ties to the lower index), emit
// them in ascending index order, and round with the CPU's own code
// (common/compression_types.h). Given the same residual and gradient, a
// step's pairs and the residual after it are bit-identical to the CPU's.
//
// How a step runs (kernels, in stream order; details in the .cu files):
//   prepare   one block: resets the step's state; kFast: the threshold
//             from the CPU's sample (topk_sample.h), by a radix select
//   pass      the one streaming pass: r += g (non-finite sums never stored,
//             the first bad index recorded), and either candidates >=
//             threshold compacted per tile (kFast) or the first radix
//             histogram (kExact)
//   restore   only after a non-finite sum: r -= g where g is finite, as the
//             CPU does; marks the batch failed
//   kFast:    scan of the per-tile candidate counts, gather into one
//             ascending list (or, if a tile overflowed or fewer than k
//             passed, select over the whole residual instead: decided on
//             the device, no host round trip)
//   select    radix select of the k-th key T (11+10+10-bit digits),
//             per-tile counts of keys > T and == T, their scan, and the
//             ordered write that also does the CPU's Emit.
// Nothing is allocated on the hot path: scratch lives in a Workspace.
#ifndef CDDP_COMMON_COMPRESS_CUDA_COMPRESSION_KERNELS_H_
#define CDDP_COMMON_COMPRESS_CUDA_COMPRESSION_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/compress/compression_types.h"
#include "common/compress/cuda/kernel_status.h"

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace cddp::cuda {

namespace detail {
struct WorkspaceBuffers;
}  // namespace detail

// Device scratch for steps on tensors of up to max_n elements, allocated
// once on the current device. Steps enqueued with one workspace must be on
// one stream (they share the scratch in stream order). Not thread-safe.
class Workspace {
 public:
  // kUnavailable (no device), kOutOfMemory, kInvalidArgument (max_n >=
  // 2^32).
  static KernelStatus Create(size_t max_n, std::unique_ptr<Workspace>* out);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  size_t max_n() const;
  const detail::WorkspaceBuffers& buffers() const { return *buffers_; }

 private:
  explicit Workspace(std::unique_ptr<detail::WorkspaceBuffers> buffers);
  std::unique_ptr<detail::WorkspaceBuffers> buffers_;
};

// What a step reports, in device memory (the caller copies it back with the
// pairs). first_bad is kNoBadElement unless r + g held NaN/inf; then it is
// the first such element, with the residual there before the step (the sum
// was never stored) and the gradient there, for the error message.
struct StepReport {
  uint32_t first_bad;
  float residual_at_bad;
  float gradient_at_bad;
};
inline constexpr uint32_t kNoBadElement = 0xffffffffu;

struct StepArgs {
  float* residual = nullptr;        // device, n floats, updated in place
  const float* gradient = nullptr;  // device, n floats; nullptr: all zero
  size_t n = 0;                     // <= workspace.max_n()
  size_t k = 0;                     // <= n; 0 only accumulates
  common::Selector selector = common::Selector::kFast;
  common::ValueType value_type = common::ValueType::kFp32;
  uint32_t index_base = 0;        // added to every emitted index
  uint32_t* out_index = nullptr;  // device, room for k
  float* out_value = nullptr;     // device, room for k
  StepReport* report = nullptr;   // device, required
  // Steps of one batch (e.g. the tensors of a model) share a failure flag
  // in the workspace: after a step meets a non-finite sum, the later steps
  // of its batch change nothing and write no pairs (as a CPU loop that
  // stops at the first error). false starts a new batch.
  bool continues_batch = false;
};

// Enqueues one error-feedback step (common/error_feedback.h):
//   r += g; if some r + g is NaN/inf: those sums are not stored, the first
//   is reported, r -= g wherever g is finite, and nothing is emitted;
//   otherwise the top k of r by magnitude are emitted in ascending index
//   order as (index_base + i, sent = RoundToValueType(r[i])) and r[i] -= sent.
// Asynchronous: out_*, the report and r are valid once the stream reaches
// this point. kInvalidArgument for bad sizes or pointers (nothing
// enqueued); kInternal for a CUDA launch error.
KernelStatus EnqueueErrorFeedbackStep(const StepArgs& args, Workspace& ws,
                                      CUstream_st* stream);

// Enqueues the top k of x[0..n) (common::ExactTopK's order and result; x
// is not modified, NaN ranks above inf): indices ascending to out_index
// (room for k), and, if out_value is not null, x at those indices. Starts
// a new batch (see StepArgs::continues_batch).
KernelStatus EnqueueTopK(const float* x, size_t n, size_t k,
                         common::Selector selector, uint32_t* out_index,
                         float* out_value, Workspace& ws, CUstream_st* stream);

// Enqueues r[index[i]] += value[i] for i < count (device arrays, every
// index inside r: not checked here). Atomic, so repeated indices add up.
KernelStatus EnqueueScatterAdd(float* r, const uint32_t* index,
                               const float* value, size_t count,
                               CUstream_st* stream);

// Enqueues *result = sum of x[i]^2 over i < n (any n below 2^32), in
// double, in an order fixed by the workspace (the same every run).
KernelStatus EnqueueSumOfSquares(const float* x, size_t n, double* result,
                                 Workspace& ws, CUstream_st* stream);

// Whether the current device can run these kernels (a driver, a device, a
// compute capability of at least 9.0, which this build targets); if not,
// why, in words, into *why_not.
bool DeviceAvailable(std::string* why_not);

}  // namespace cddp::cuda

#endif  // CDDP_COMMON_COMPRESS_CUDA_COMPRESSION_KERNELS_H_
