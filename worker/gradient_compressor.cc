// Implementation of gradient_compressor.h: the CPU compressor around
// common::ErrorFeedback and, in builds with -DCDDP_WITH_CUDA=ON, the CUDA one
// around cddp::cuda::DeviceErrorFeedback.
#include "worker/gradient_compressor.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/worker_checkpoint.h"

#if CDDP_WITH_CUDA
#include "common/compress/cuda/device_error_feedback.h"
#endif

namespace cddp::worker {
namespace {

// FAILED_PRECONDITION unless `host` has exactly `sizes`.
absl::Status CheckSameSizes(const common::ErrorFeedback& host,
                            const std::vector<size_t>& sizes) {
  bool same = host.num_tensors() == sizes.size();
  for (size_t t = 0; same && t < sizes.size(); ++t) {
    same = host.tensor_size(t) == sizes[t];
  }
  if (same) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "residuals of ", host.num_tensors(), " tensors (", host.total_size(),
      " floats) do not match the model's ", sizes.size(), " tensors"));
}

// INVALID_ARGUMENT unless there is one gradient and one budget per tensor
// and [first, end) is a range of the tensors.
absl::Status CheckRange(size_t first, size_t end,
                        std::span<const float* const> gradients,
                        std::span<const size_t> k, size_t num_tensors) {
  if (gradients.size() != num_tensors || k.size() != num_tensors) {
    return absl::InvalidArgumentError(
        absl::StrCat(gradients.size(), " gradients and ", k.size(),
                     " budgets for ", num_tensors, " tensors"));
  }
  if (first > end || end > num_tensors) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensors [", first, ", ", end, ") of ", num_tensors));
  }
  return absl::OkStatus();
}

class CpuCompressor final : public GradientCompressor {
 public:
  CpuCompressor(std::vector<size_t> sizes, std::vector<std::string> names)
      : sizes_(sizes), names_(std::move(names)), ef_(std::move(sizes)) {}

  bool on_device() const override { return false; }

  absl::Status CompressRange(size_t first, size_t end,
                             std::span<const float* const> gradients,
                             std::span<const size_t> k,
                             const common::CompressOptions& options,
                             common::SparseSelection* out) override {
    CDDP_RETURN_IF_ERROR(CheckRange(first, end, gradients, k, sizes_.size()));
    out->clear();
    for (size_t t = first; t < end; ++t) {
      const float* g = gradients[t];
      if (g == nullptr) {
        zeros_.resize(std::max(zeros_.size(), sizes_[t]), 0.0f);
        g = zeros_.data();
      }
      absl::Status s = ef_.Compress(t, std::span<const float>(g, sizes_[t]),
                                    k[t], options, out);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat(Name(t), ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReturnUnsent(const common::SparseSelection& unsent) override {
    return ef_.ReturnUnsent(unsent);
  }

  absl::StatusOr<double> ResidualNorm() override { return ef_.ResidualNorm(); }

  absl::StatusOr<const common::ErrorFeedback*> HostResiduals() override {
    return &ef_;
  }

  absl::Status LoadResiduals(common::ErrorFeedback host) override {
    CDDP_RETURN_IF_ERROR(CheckSameSizes(host, sizes_));
    ef_ = std::move(host);
    return absl::OkStatus();
  }

 private:
  std::string Name(size_t t) const {
    return t < names_.size() ? names_[t] : absl::StrCat("#", t);
  }

  std::vector<size_t> sizes_;
  std::vector<std::string> names_;
  common::ErrorFeedback ef_;
  std::vector<float> zeros_;  // the gradient of a parameter without one
};

#if CDDP_WITH_CUDA
class CudaCompressor final : public GradientCompressor {
 public:
  CudaCompressor(std::vector<size_t> sizes,
                 std::unique_ptr<cuda::DeviceErrorFeedback> ef)
      : sizes_(std::move(sizes)), ef_(std::move(ef)) {}

  bool on_device() const override { return true; }

  absl::Status CompressRange(size_t first, size_t end,
                             std::span<const float* const> gradients,
                             std::span<const size_t> k,
                             const common::CompressOptions& options,
                             common::SparseSelection* out) override {
    CDDP_RETURN_IF_ERROR(CheckRange(first, end, gradients, k, sizes_.size()));
    if (first != 0 || end != sizes_.size()) {
      return absl::UnimplementedError(
          "compressing a part of the tensors on a CUDA device");
    }
    host_.reset();  // a checkpoint's copy is stale from here on
    return ef_->Compress(gradients, k, options, out);
  }

  absl::Status ReturnUnsent(const common::SparseSelection& unsent) override {
    host_.reset();
    return ef_->ReturnUnsent(unsent);
  }

  absl::StatusOr<double> ResidualNorm() override { return ef_->ResidualNorm(); }

  absl::StatusOr<const common::ErrorFeedback*> HostResiduals() override {
    CDDP_ASSIGN_OR_RETURN(common::ErrorFeedback host, ef_->ToHost());
    host_.emplace(std::move(host));
    return &*host_;
  }

  absl::Status LoadResiduals(common::ErrorFeedback host) override {
    CDDP_RETURN_IF_ERROR(CheckSameSizes(host, sizes_));
    host_.reset();
    return ef_->LoadFrom(host);
  }

 private:
  std::vector<size_t> sizes_;
  std::unique_ptr<cuda::DeviceErrorFeedback> ef_;
  // The last HostResiduals() copy; dropped at the next change so that it
  // does not hold a second residual in host memory for long.
  std::optional<common::ErrorFeedback> host_;
};
#endif

}  // namespace

absl::StatusOr<std::unique_ptr<GradientCompressor>> MakeGradientCompressor(
    bool on_cuda, std::vector<size_t> sizes, std::vector<std::string> names) {
  if (!on_cuda) {
    return std::make_unique<CpuCompressor>(std::move(sizes), std::move(names));
  }
#if CDDP_WITH_CUDA
  CDDP_ASSIGN_OR_RETURN(std::unique_ptr<cuda::DeviceErrorFeedback> ef,
                        cuda::DeviceErrorFeedback::Create(sizes));
  return std::make_unique<CudaCompressor>(std::move(sizes), std::move(ef));
#else
  return absl::FailedPreconditionError(
      "this build has no CUDA compression kernels (built without "
      "-DCDDP_WITH_CUDA=ON)");
#endif
}

absl::Status SaveResiduals(const std::string& dir, uint32_t worker_id,
                           uint64_t step, DataPosition position,
                           GradientCompressor& compressor,
                           std::span<const float> velocity) {
  CDDP_ASSIGN_OR_RETURN(const common::ErrorFeedback* residuals,
                        compressor.HostResiduals());
  return SaveWorkerCheckpoint(dir, worker_id, step, position, *residuals,
                              velocity);
}

absl::StatusOr<std::optional<uint64_t>> ResumeResiduals(
    const std::string& dir, uint32_t worker_id, GradientCompressor& compressor,
    std::vector<float>* velocity) {
  CDDP_ASSIGN_OR_RETURN(std::optional<WorkerCheckpoint> ckpt,
                        LoadWorkerCheckpoint(dir, worker_id));
  if (!ckpt.has_value()) return std::optional<uint64_t>();
  if (absl::Status s = compressor.LoadResiduals(std::move(ckpt->residuals));
      !s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat(WorkerCheckpointPath(dir, worker_id), ": ", s.message()));
  }
  if (velocity != nullptr) *velocity = std::move(ckpt->velocity);
  return std::optional<uint64_t>(ckpt->step);
}

}  // namespace cddp::worker
