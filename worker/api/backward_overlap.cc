// Implementation of backward_overlap.h. A LibTorch unit (autograd hooks).
#include "worker/api/backward_overlap.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/seconds.h"
#include "common/status_macros.h"
#include "worker/torch/torch_error.h"

namespace cddp::worker {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

BackwardOverlap::BackwardOverlap(Parts parts, size_t num_tensors)
    : parts_(parts), ready_(num_tensors, 0), frontier_(num_tensors) {}

absl::StatusOr<std::unique_ptr<BackwardOverlap>> BackwardOverlap::Create(
    const std::vector<at::Tensor>& parameters, Parts parts) {
  CDDP_RETURN_IF_ERROR(parts.pipeline->CompressesByRange());
  std::unique_ptr<BackwardOverlap> o(
      new BackwardOverlap(parts, parameters.size()));
  try {
    for (size_t t = 0; t < parameters.size(); ++t) {
      // Kept alive here, so every backward pass uses this node.
      std::shared_ptr<torch::autograd::Node> acc =
          torch::autograd::impl::grad_accumulator(parameters[t]);
      if (acc == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("--overlap_backward: parameter #", t,
                         " is not a leaf that requires a gradient"));
      }
      BackwardOverlap* self = o.get();
      o->hook_keys_.push_back(acc->add_post_hook(
          std::make_unique<torch::autograd::utils::LambdaPostHook>(
              [self, t](const torch::autograd::variable_list& outputs,
                        const torch::autograd::variable_list&) {
                self->OnGradientReady(t);
                return outputs;
              })));
      o->accumulators_.push_back(std::move(acc));
    }
  } catch (const c10::Error& e) {
    return TorchError("hooking the gradient accumulators", e);
  }
  return o;
}

BackwardOverlap::~BackwardOverlap() {
  for (size_t t = 0; t < accumulators_.size(); ++t) {
    accumulators_[t]->del_post_hook(hook_keys_[t]);
  }
}

bool BackwardOverlap::EnsureOpen() {
  if (open_) return true;
  absl::Status st = parts_.client->BeginPushPull(parts_.flat->values());
  if (!st.ok()) {
    if (error_.ok()) error_ = st;
    return false;
  }
  open_ = true;
  return true;
}

void BackwardOverlap::OnGradientReady(size_t t) {
  if (!error_.ok()) return;
  if (ready_[t]) {
    error_ = absl::FailedPreconditionError(absl::StrCat(
        "--overlap_backward: a second backward pass reached ",
        parts_.layout->name(t),
        " before Step() (one backward pass per step; accumulating gradients "
        "over several needs overlap off)"));
    return;
  }
  ready_[t] = 1;
  if (!EnsureOpen()) return;
  size_t first = frontier_;
  while (first > 0 && ready_[first - 1]) --first;
  if (first < frontier_) HandOver(first);
}

void BackwardOverlap::HandOver(size_t first) {
  const auto t0 = Clock::now();
  absl::StatusOr<std::span<const float* const>> grads =
      parts_.flat->Gradients(first, frontier_);
  absl::Status st = grads.status();
  if (st.ok()) {
    st = parts_.pipeline->CompressRange(first, frontier_, *grads, *parts_.step,
                                        &part_);
  }
  compress_seconds_ += common::Seconds(Clock::now() - t0);
  if (st.ok())
    st = parts_.client->PushPullPart(parts_.layout->offset(first), part_);
  if (!st.ok()) {
    if (error_.ok()) error_ = st;
    return;
  }
  frontier_ = first;
}

absl::StatusOr<PushPullResult> BackwardOverlap::Finish(
    common::SparseSelection* undelivered, absl::Status* compress_error,
    double* compress_seconds) {
  // The parameters no hook reached: zero gradients, unless a step's error
  // stopped the compression (the rest then goes as no pairs).
  if (EnsureOpen() && error_.ok() && frontier_ > 0) HandOver(0);
  absl::StatusOr<PushPullResult> result =
      open_ ? parts_.client->FinishPushPull(undelivered)
            : absl::StatusOr<PushPullResult>(error_);
  *compress_error = std::exchange(error_, absl::OkStatus());
  *compress_seconds = std::exchange(compress_seconds_, 0.0);
  std::fill(ready_.begin(), ready_.end(), 0);
  frontier_ = ready_.size();
  open_ = false;
  return result;
}

}  // namespace cddp::worker
