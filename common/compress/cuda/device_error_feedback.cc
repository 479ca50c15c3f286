// DeviceErrorFeedback: the residual lives on the device, a whole-model step
// is one enqueue per tensor (compression_kernels.h), one asynchronous copy
// of all the pairs and reports into pinned memory, and one stream sync.
#include "common/compress/cuda/device_error_feedback.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/compress/cuda/compression_kernels.h"
#include "common/status_macros.h"

namespace cddp::cuda {
namespace {

absl::Status FromKernel(const KernelStatus& s) {
  switch (s.code()) {
    case KernelStatus::Code::kOk:
      return absl::OkStatus();
    case KernelStatus::Code::kUnavailable:
      return absl::FailedPreconditionError(s.message());
    case KernelStatus::Code::kOutOfMemory:
      return absl::ResourceExhaustedError(s.message());
    case KernelStatus::Code::kInvalidArgument:  // we checked: our bug
    case KernelStatus::Code::kInternal:
      break;
  }
  return absl::InternalError(s.message());
}

absl::Status FromCuda(cudaError_t err, absl::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", cudaGetErrorName(err),
                                           " (", cudaGetErrorString(err), ")");
  return err == cudaErrorMemoryAllocation
             ? absl::ResourceExhaustedError(message)
             : absl::InternalError(message);
}

struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
struct PinnedFree {
  void operator()(void* p) const { cudaFreeHost(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;
using PinnedPtr = std::unique_ptr<void, PinnedFree>;

absl::StatusOr<DevicePtr> AllocateDevice(size_t bytes, absl::string_view what) {
  void* p = nullptr;
  CDDP_RETURN_IF_ERROR(
      FromCuda(cudaMalloc(&p, std::max<size_t>(bytes, 1)),
               absl::StrCat("cudaMalloc of ", bytes, " bytes for ", what)));
  return DevicePtr(p);
}

absl::StatusOr<PinnedPtr> AllocatePinned(size_t bytes, absl::string_view what) {
  void* p = nullptr;
  CDDP_RETURN_IF_ERROR(
      FromCuda(cudaMallocHost(&p, std::max<size_t>(bytes, 1)),
               absl::StrCat("cudaMallocHost of ", bytes, " bytes for ", what)));
  return PinnedPtr(p);
}

}  // namespace

struct DeviceErrorFeedback::Impl {
  std::vector<size_t> sizes;
  std::vector<size_t> offsets;
  size_t total = 0;
  cudaStream_t stream = nullptr;
  std::unique_ptr<Workspace> workspace;  // for the largest tensor
  DevicePtr residual;                    // total floats
  DevicePtr norm;                        // one double
  // A step's results, [reports | indices | values], on the device and in
  // pinned host memory; grown when a step needs more (not on every step).
  DevicePtr step_out;
  PinnedPtr host_out;
  size_t out_capacity = 0;
  DevicePtr unsent_pairs;  // ReturnUnsent's indices then values
  size_t restore_capacity = 0;
  common::CompressionStats stats;

  float* r() const { return static_cast<float*>(residual.get()); }
  absl::Status Sync(absl::string_view what) const {
    return FromCuda(cudaStreamSynchronize(stream), what);
  }
  absl::Status EnsureOutCapacity(size_t bytes) {
    if (bytes <= out_capacity) return absl::OkStatus();
    step_out.reset();
    host_out.reset();
    out_capacity = 0;
    CDDP_ASSIGN_OR_RETURN(step_out, AllocateDevice(bytes, "a step's pairs"));
    CDDP_ASSIGN_OR_RETURN(host_out, AllocatePinned(bytes, "a step's pairs"));
    out_capacity = bytes;
    return absl::OkStatus();
  }
};

DeviceErrorFeedback::DeviceErrorFeedback(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
DeviceErrorFeedback::~DeviceErrorFeedback() = default;

absl::StatusOr<std::unique_ptr<DeviceErrorFeedback>>
DeviceErrorFeedback::Create(std::vector<size_t> tensor_sizes,
                            CUstream_st* stream) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) {
    return absl::FailedPreconditionError(
        absl::StrCat("no usable CUDA device: ", why));
  }
  auto m = std::make_unique<Impl>();
  m->stream = stream;
  size_t largest = 1;
  for (size_t s : tensor_sizes) {
    m->offsets.push_back(m->total);
    m->total += s;
    largest = std::max(largest, s);
    if (m->total > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(
          "tensor sizes add up to 2^32 elements or more");
    }
  }
  m->sizes = std::move(tensor_sizes);
  CDDP_RETURN_IF_ERROR(FromKernel(Workspace::Create(largest, &m->workspace)));
  CDDP_ASSIGN_OR_RETURN(
      m->residual, AllocateDevice(m->total * sizeof(float), "the residual"));
  CDDP_ASSIGN_OR_RETURN(m->norm, AllocateDevice(sizeof(double), "the norm"));
  CDDP_RETURN_IF_ERROR(
      FromCuda(cudaMemsetAsync(m->r(), 0, m->total * sizeof(float), m->stream),
               "zeroing the residual"));
  CDDP_RETURN_IF_ERROR(m->Sync("zeroing the residual"));
  return std::unique_ptr<DeviceErrorFeedback>(
      new DeviceErrorFeedback(std::move(m)));
}

size_t DeviceErrorFeedback::num_tensors() const { return impl_->sizes.size(); }
size_t DeviceErrorFeedback::tensor_size(size_t t) const {
  return impl_->sizes[t];
}
size_t DeviceErrorFeedback::tensor_offset(size_t t) const {
  return impl_->offsets[t];
}
size_t DeviceErrorFeedback::total_size() const { return impl_->total; }
const common::CompressionStats& DeviceErrorFeedback::stats() const {
  return impl_->stats;
}

absl::Status DeviceErrorFeedback::Compress(
    std::span<const float* const> gradients, std::span<const size_t> k,
    const common::CompressOptions& options, common::SparseSelection* out) {
  Impl& m = *impl_;
  const size_t num = m.sizes.size();
  if (gradients.size() != num || k.size() != num) {
    return absl::InvalidArgumentError(
        absl::StrCat("step: ", gradients.size(), " gradients and ", k.size(),
                     " budgets for ", num, " tensors"));
  }
  size_t total_k = 0;
  for (size_t t = 0; t < num; ++t) {
    if (k[t] > m.sizes[t]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "k = ", k[t], " exceeds tensor ", t, "'s size ", m.sizes[t]));
    }
    total_k += k[t];
  }
  const size_t report_bytes = num * sizeof(StepReport);
  const size_t bytes =
      report_bytes + total_k * (sizeof(uint32_t) + sizeof(float));
  CDDP_RETURN_IF_ERROR(m.EnsureOutCapacity(bytes));
  char* device = static_cast<char*>(m.step_out.get());
  auto* reports = reinterpret_cast<StepReport*>(device);
  auto* indices = reinterpret_cast<uint32_t*>(device + report_bytes);
  float* values = reinterpret_cast<float*>(indices + total_k);
  size_t done = 0;
  for (size_t t = 0; t < num; ++t) {
    StepArgs a;
    a.residual = m.r() + m.offsets[t];
    a.gradient = gradients[t];
    a.n = m.sizes[t];
    a.k = k[t];
    a.selector = options.selector;
    a.value_type = options.value_type;
    a.index_base = static_cast<uint32_t>(m.offsets[t]);
    a.out_index = indices + done;
    a.out_value = values + done;
    a.report = reports + t;
    a.continues_batch = t > 0;
    CDDP_RETURN_IF_ERROR(
        FromKernel(EnqueueErrorFeedbackStep(a, *m.workspace, m.stream)));
    done += k[t];
  }
  if (bytes > 0) {
    CDDP_RETURN_IF_ERROR(
        FromCuda(cudaMemcpyAsync(m.host_out.get(), device, bytes,
                                 cudaMemcpyDeviceToHost, m.stream),
                 "copying a step's pairs to the host"));
  }
  CDDP_RETURN_IF_ERROR(m.Sync("error-feedback step"));

  const char* host = static_cast<const char*>(m.host_out.get());
  const auto* host_reports = reinterpret_cast<const StepReport*>(host);
  for (size_t t = 0; t < num; ++t) {
    const StepReport& r = host_reports[t];
    if (r.first_bad == kNoBadElement) continue;
    // As the CPU class: the tensors before it took their step (the later
    // ones were left alone by the kernels).
    for (size_t u = 0; u < t; ++u) m.stats.RecordSelection(m.sizes[u], k[u]);
    out->clear();
    const float bad_value = r.residual_at_bad + r.gradient_at_bad;
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", t, " element ", r.first_bad,
                     ": residual + gradient is ", bad_value, " (gradient ",
                     r.gradient_at_bad, "); step refused, residual restored"));
  }
  const auto* host_indices =
      reinterpret_cast<const uint32_t*>(host + report_bytes);
  const auto* host_values =
      reinterpret_cast<const float*>(host_indices + total_k);
  out->indices.assign(host_indices, host_indices + total_k);
  out->values.assign(host_values, host_values + total_k);
  for (size_t t = 0; t < num; ++t) m.stats.RecordSelection(m.sizes[t], k[t]);
  return absl::OkStatus();
}

absl::Status DeviceErrorFeedback::ReturnUnsent(
    const common::SparseSelection& unsent) {
  Impl& m = *impl_;
  if (unsent.indices.size() != unsent.values.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("restore: ", unsent.indices.size(), " indices but ",
                     unsent.values.size(), " values"));
  }
  for (uint32_t i : unsent.indices) {
    if (i >= m.total) {
      return absl::InvalidArgumentError(
          absl::StrCat("restore: index ", i, " is outside the residual (size ",
                       m.total, ")"));
    }
  }
  const size_t count = unsent.size();
  if (count == 0) return absl::OkStatus();
  const size_t bytes = count * (sizeof(uint32_t) + sizeof(float));
  if (bytes > m.restore_capacity) {
    m.unsent_pairs.reset();
    m.restore_capacity = 0;
    CDDP_ASSIGN_OR_RETURN(m.unsent_pairs,
                          AllocateDevice(bytes, "pairs to restore"));
    m.restore_capacity = bytes;
  }
  auto* index = static_cast<uint32_t*>(m.unsent_pairs.get());
  float* value = reinterpret_cast<float*>(index + count);
  CDDP_RETURN_IF_ERROR(FromCuda(
      cudaMemcpyAsync(index, unsent.indices.data(), count * sizeof(uint32_t),
                      cudaMemcpyHostToDevice, m.stream),
      "copying pairs to restore"));
  CDDP_RETURN_IF_ERROR(FromCuda(
      cudaMemcpyAsync(value, unsent.values.data(), count * sizeof(float),
                      cudaMemcpyHostToDevice, m.stream),
      "copying pairs to restore"));
  CDDP_RETURN_IF_ERROR(
      FromKernel(EnqueueScatterAdd(m.r(), index, value, count, m.stream)));
  return m.Sync("restore");
}

absl::StatusOr<std::vector<float>> DeviceErrorFeedback::ResidualToHost() const {
  const Impl& m = *impl_;
  std::vector<float> host(m.total);
  if (m.total > 0) {
    CDDP_RETURN_IF_ERROR(
        FromCuda(cudaMemcpyAsync(host.data(), m.r(), m.total * sizeof(float),
                                 cudaMemcpyDeviceToHost, m.stream),
                 "copying the residual to the host"));
  }
  CDDP_RETURN_IF_ERROR(m.Sync("copying the residual to the host"));
  return host;
}

absl::StatusOr<double> DeviceErrorFeedback::ResidualNorm() const {
  const Impl& m = *impl_;
  auto* norm = static_cast<double*>(m.norm.get());
  CDDP_RETURN_IF_ERROR(FromKernel(
      EnqueueSumOfSquares(m.r(), m.total, norm, *m.workspace, m.stream)));
  double sum = 0.0;
  CDDP_RETURN_IF_ERROR(
      FromCuda(cudaMemcpyAsync(&sum, norm, sizeof(double),
                               cudaMemcpyDeviceToHost, m.stream),
               "copying the norm"));
  CDDP_RETURN_IF_ERROR(m.Sync("residual norm"));
  return std::sqrt(sum);
}

absl::StatusOr<common::ErrorFeedback> DeviceErrorFeedback::ToHost() const {
  CDDP_ASSIGN_OR_RETURN(std::vector<float> residual, ResidualToHost());
  return common::ErrorFeedback::FromResidual(impl_->sizes, std::move(residual));
}

absl::Status DeviceErrorFeedback::LoadFrom(const common::ErrorFeedback& host) {
  Impl& m = *impl_;
  bool same = host.num_tensors() == m.sizes.size();
  for (size_t t = 0; same && t < m.sizes.size(); ++t) {
    same = host.tensor_size(t) == m.sizes[t];
  }
  if (!same) {
    return absl::FailedPreconditionError(absl::StrCat(
        "residual checkpoint has ", host.num_tensors(), " tensors (",
        host.total_size(), " elements); this model has ", m.sizes.size(), " (",
        m.total, ") or different sizes"));
  }
  if (m.total > 0) {
    CDDP_RETURN_IF_ERROR(FromCuda(
        cudaMemcpyAsync(m.r(), host.residual().data(), m.total * sizeof(float),
                        cudaMemcpyHostToDevice, m.stream),
        "copying the residual to the device"));
  }
  return m.Sync("loading the residual");
}

bool CudaDeviceAvailable(std::string* why_not) {
  return DeviceAvailable(why_not);
}

}  // namespace cddp::cuda
