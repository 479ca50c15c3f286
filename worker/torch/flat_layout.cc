// Implementation of flat_layout.h.
#include "worker/torch/flat_layout.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/torch/torch_error.h"

namespace cddp::worker {
namespace {

constexpr uint64_t kMaxTotal = uint64_t{1} << 32;

// Copies all n elements of float32 tensor `t` to `dst`.
void CopyOut(const at::Tensor& t, float* dst, size_t n) {
  if (t.is_cpu() && t.is_contiguous()) {
    std::memcpy(dst, t.data_ptr<float>(), n * sizeof(float));
    return;
  }
  const at::Tensor c = t.detach().to(at::kCPU).contiguous();
  std::memcpy(dst, c.data_ptr<float>(), n * sizeof(float));
}

// Writes n floats from `src` into float32 tensor `p` starting at its element
// `at` (in row-major order).
void CopyIn(const float* src, size_t at, size_t n, const at::Tensor& p) {
  if (p.is_cpu() && p.is_contiguous()) {
    std::memcpy(p.data_ptr<float>() + at, src, n * sizeof(float));
    return;
  }
  if (p.is_cuda() && p.is_contiguous()) {
    // Asynchronous from pinned memory (see ScatterRange); `src` is only read.
    const at::Tensor host = at::from_blob(
        const_cast<float*>(src), {static_cast<int64_t>(n)}, at::kFloat);
    p.detach()
        .view({-1})
        .narrow(0, static_cast<int64_t>(at), static_cast<int64_t>(n))
        .copy_(host, /*non_blocking=*/true);
    return;
  }
  at::Tensor c = p.detach().to(at::kCPU).contiguous();
  std::memcpy(c.data_ptr<float>() + at, src, n * sizeof(float));
  at::Tensor target = p.detach();
  target.copy_(c);
}

}  // namespace

FlatLayout::FlatLayout(std::vector<size_t> sizes,
                       std::vector<std::string> names)
    : sizes_(std::move(sizes)), names_(std::move(names)) {
  offsets_.reserve(sizes_.size());
  for (size_t s : sizes_) {
    offsets_.push_back(total_size_);
    total_size_ += s;
  }
}

absl::StatusOr<FlatLayout> FlatLayout::FromSizes(std::vector<size_t> sizes) {
  if (sizes.empty()) {
    return absl::InvalidArgumentError("a flat layout needs >= 1 tensor");
  }
  uint64_t total = 0;
  for (size_t s : sizes) total += s;
  if (total >= kMaxTotal) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flat layout of ", total, " elements exceeds the 2^32 index limit"));
  }
  return FlatLayout(std::move(sizes), {});
}

absl::StatusOr<FlatLayout> FlatLayout::Create(
    const std::vector<at::Tensor>& parameters, std::vector<std::string> names) {
  if (!names.empty() && names.size() != parameters.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        names.size(), " names for ", parameters.size(), " parameters"));
  }
  std::vector<size_t> sizes;
  sizes.reserve(parameters.size());
  for (size_t t = 0; t < parameters.size(); ++t) {
    const at::Tensor& p = parameters[t];
    const std::string label = names.empty() ? absl::StrCat("#", t) : names[t];
    if (!p.defined() || p.scalar_type() != at::kFloat) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", label, " is ",
                       p.defined() ? "not float32" : "undefined"));
    }
    sizes.push_back(static_cast<size_t>(p.numel()));
  }
  CDDP_ASSIGN_OR_RETURN(FlatLayout layout, FromSizes(std::move(sizes)));
  layout.names_ = std::move(names);
  return layout;
}

std::string FlatLayout::name(size_t t) const {
  return names_.empty() ? absl::StrCat("#", t) : names_[t];
}

absl::Status FlatLayout::Matches(
    const std::vector<at::Tensor>& parameters) const {
  if (parameters.size() != sizes_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layout has ", sizes_.size(), " tensors, got ",
                     parameters.size(), " parameters"));
  }
  for (size_t t = 0; t < sizes_.size(); ++t) {
    const at::Tensor& p = parameters[t];
    if (!p.defined() || p.scalar_type() != at::kFloat ||
        static_cast<size_t>(p.numel()) != sizes_[t]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter ", name(t), " does not match the layout (expected ",
          sizes_[t], " float32 elements, got ",
          p.defined()
              ? absl::StrCat(p.numel(), " of ",
                             std::string(c10::toString(p.scalar_type())))
              : std::string("an undefined tensor"),
          ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status FlatLayout::GatherGradients(
    const std::vector<at::Tensor>& parameters, std::span<float> flat) const {
  CDDP_RETURN_IF_ERROR(Matches(parameters));
  if (flat.size() != total_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("flat gradient buffer has ", flat.size(),
                     " floats, layout needs ", total_size_));
  }
  try {
    std::vector<at::Tensor> grads(parameters.size());
    for (size_t t = 0; t < parameters.size(); ++t) {
      grads[t] = parameters[t].grad();
      if (grads[t].defined() &&
          (grads[t].scalar_type() != at::kFloat ||
           static_cast<size_t>(grads[t].numel()) != sizes_[t])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gradient of ", name(t), " does not match its parameter"));
      }
    }
    for (size_t t = 0; t < parameters.size(); ++t) {
      float* dst = flat.data() + offsets_[t];
      if (grads[t].defined()) {
        CopyOut(grads[t], dst, sizes_[t]);
      } else {
        std::fill(dst, dst + sizes_[t], 0.0f);
      }
    }
  } catch (const c10::Error& e) {
    return TorchError("GatherGradients", e);
  }
  return absl::OkStatus();
}

absl::Status FlatLayout::GradientPointers(
    const std::vector<at::Tensor>& parameters,
    std::vector<const float*>* pointers) const {
  CDDP_RETURN_IF_ERROR(Matches(parameters));
  try {
    std::vector<const float*> out(parameters.size(), nullptr);
    for (size_t t = 0; t < parameters.size(); ++t) {
      const at::Tensor g = parameters[t].grad();
      if (!g.defined()) continue;
      if (g.scalar_type() != at::kFloat ||
          static_cast<size_t>(g.numel()) != sizes_[t] || !g.is_contiguous() ||
          g.device() != parameters[t].device()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gradient of ", name(t), " is not a contiguous float32 tensor of ",
            sizes_[t], " elements on its parameter's device (got ",
            std::string(c10::toString(g.scalar_type())), ", ", g.numel(),
            " elements, ", g.is_contiguous() ? "contiguous" : "strided",
            ", on ", g.device().str(), ")"));
      }
      out[t] = g.data_ptr<float>();
    }
    *pointers = std::move(out);
  } catch (const c10::Error& e) {
    return TorchError("GradientPointers", e);
  }
  return absl::OkStatus();
}

absl::Status FlatLayout::GatherParameters(
    const std::vector<at::Tensor>& parameters, std::span<float> flat) const {
  CDDP_RETURN_IF_ERROR(Matches(parameters));
  if (flat.size() != total_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("flat parameter buffer has ", flat.size(),
                     " floats, layout needs ", total_size_));
  }
  try {
    for (size_t t = 0; t < parameters.size(); ++t) {
      CopyOut(parameters[t], flat.data() + offsets_[t], sizes_[t]);
    }
  } catch (const c10::Error& e) {
    return TorchError("GatherParameters", e);
  }
  return absl::OkStatus();
}

absl::Status FlatLayout::ScatterParameters(
    std::span<const float> flat,
    const std::vector<at::Tensor>& parameters) const {
  if (flat.size() != total_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("flat parameter buffer has ", flat.size(),
                     " floats, layout needs ", total_size_));
  }
  return ScatterRange(0, flat, parameters);
}

absl::Status FlatLayout::ScatterRange(
    uint64_t begin, std::span<const float> values,
    const std::vector<at::Tensor>& parameters) const {
  CDDP_RETURN_IF_ERROR(Matches(parameters));
  if (begin > total_size_ || values.size() > total_size_ - begin) {
    return absl::InvalidArgumentError(
        absl::StrCat("range [", begin, ", ", begin + values.size(),
                     ") exceeds the flat layout's ", total_size_, " elements"));
  }
  if (values.empty()) return absl::OkStatus();
  const uint64_t end = begin + values.size();
  try {
    at::NoGradGuard no_grad;
    // First tensor whose range contains `begin` (skipping empty tensors).
    size_t t = static_cast<size_t>(
        std::upper_bound(offsets_.begin(), offsets_.end(), begin) -
        offsets_.begin() - 1);
    for (uint64_t pos = begin; pos < end; ++t) {
      const uint64_t tensor_end = offsets_[t] + sizes_[t];
      if (tensor_end <= pos) continue;
      const uint64_t stop = std::min<uint64_t>(end, tensor_end);
      CopyIn(values.data() + (pos - begin), pos - offsets_[t], stop - pos,
             parameters[t]);
      pos = stop;
    }
  } catch (const c10::Error& e) {
    return TorchError("ScatterRange", e);
  }
  return absl::OkStatus();
}

FlatParameters::FlatParameters(const FlatLayout& layout,
                               const std::vector<at::Tensor>& parameters,
                               bool cuda)
    : layout_(&layout),
      parameters_(parameters),
      cuda_(cuda),
      grad_ptrs_(layout.num_tensors()) {}

FlatParameters::~FlatParameters() {
  if (!cuda_ || !flat_.defined()) return;  // CPU, or moved from
  try {
    torch::cuda::synchronize();
  } catch (const c10::Error&) {
    // Nothing to report to: the device is failing anyway.
  }
}

absl::StatusOr<FlatParameters> FlatParameters::Create(
    const FlatLayout& layout, const std::vector<at::Tensor>& parameters,
    bool cuda) {
  CDDP_RETURN_IF_ERROR(layout.Matches(parameters));
  for (size_t t = 0; t < parameters.size(); ++t) {
    if (parameters[t].is_cuda() != cuda) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter ", layout.name(t), " is on ", parameters[t].device().str(),
          ", expected ", cuda ? "a CUDA device" : "the CPU"));
    }
  }
  FlatParameters f(layout, parameters, cuda);
  const int64_t n = static_cast<int64_t>(layout.total_size());
  try {
    f.flat_ = at::empty(
        {n}, at::TensorOptions().dtype(at::kFloat).pinned_memory(cuda));
  } catch (const c10::Error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("flat parameter buffer of ", n,
                     " floats: ", e.what_without_backtrace()));
  }
  f.values_ = std::span<float>(f.flat_.data_ptr<float>(), layout.total_size());
  CDDP_RETURN_IF_ERROR(layout.GatherParameters(parameters, f.values_));
  if (cuda) return f;
  try {
    // The parameters become views of the flat tensor (same autograd
    // identity, new storage), so the client's writes land in the model.
    at::NoGradGuard no_grad;
    for (size_t t = 0; t < parameters.size(); ++t) {
      at::Tensor p = parameters[t];
      p.set_data(f.flat_
                     .narrow(0, static_cast<int64_t>(layout.offset(t)),
                             static_cast<int64_t>(layout.size(t)))
                     .view(p.sizes()));
    }
  } catch (const c10::Error& e) {
    return TorchError("FlatParameters::Create", e);
  }
  return f;
}

absl::Status FlatParameters::Publish() const {
  if (!cuda_) return absl::OkStatus();
  return layout_->ScatterParameters(values_, parameters_);
}

absl::Status FlatParameters::WaitForDevice() const {
  if (!cuda_) return absl::OkStatus();
  try {
    torch::cuda::synchronize();
  } catch (const c10::Error& e) {
    return TorchError("CUDA synchronize", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::span<const float* const>> FlatParameters::Gradients() {
  if (!cuda_) return Gradients(0, parameters_.size());
  CDDP_RETURN_IF_ERROR(layout_->GradientPointers(parameters_, &grad_ptrs_));
  return std::span<const float* const>(grad_ptrs_);
}

absl::StatusOr<std::span<const float* const>> FlatParameters::Gradients(
    size_t first, size_t end) {
  if (cuda_) {
    return absl::InvalidArgumentError(
        "gradients of a part of the parameters are for CPU parameters");
  }
  if (first > end || end > parameters_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters [", first, ", ", end, ") of ", parameters_.size()));
  }
  CDDP_RETURN_IF_ERROR(HostGradientPointers(first, end));
  return std::span<const float* const>(grad_ptrs_);
}

absl::Status FlatParameters::CheckIntact() const {
  for (size_t t = 0; t < parameters_.size(); ++t) {
    const at::Tensor& p = parameters_[t];
    const bool same_shape = p.scalar_type() == at::kFloat &&
                            static_cast<size_t>(p.numel()) == layout_->size(t);
    const bool same_memory =
        cuda_ ? p.is_cuda()
              : p.is_cpu() && p.is_contiguous() &&
                    p.data_ptr() == values_.data() + layout_->offset(t);
    if (!same_shape || !same_memory) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parameter ", layout_->name(t),
          same_shape ? " no longer uses the memory it was given at joining"
                     : " changed its size or dtype since joining",
          " (now ", p.numel(), " ", std::string(c10::toString(p.scalar_type())),
          " elements on ", p.device().str(), "; was ", layout_->size(t),
          " float32): do not replace a synchronised parameter's data"));
    }
  }
  return absl::OkStatus();
}

absl::Status FlatParameters::HostGradientPointers(size_t first, size_t end) {
  try {
    for (size_t t = first; t < end; ++t) {
      const at::Tensor g = parameters_[t].grad();
      grad_ptrs_[t] = nullptr;
      if (!g.defined()) continue;
      if (g.scalar_type() != at::kFloat ||
          static_cast<size_t>(g.numel()) != layout_->size(t)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gradient of ", layout_->name(t), " does not match its parameter"));
      }
      if (g.is_cpu() && g.is_contiguous()) {
        grad_ptrs_[t] = g.data_ptr<float>();
        continue;
      }
      strided_grads_.resize(layout_->total_size());
      float* copy = strided_grads_.data() + layout_->offset(t);
      CopyOut(g, copy, layout_->size(t));
      grad_ptrs_[t] = copy;
    }
  } catch (const c10::Error& e) {
    return TorchError("Gradients", e);
  }
  return absl::OkStatus();
}

}  // namespace cddp::worker
