// FlatLayout: the model's parameters seen as one flat float vector, tensors
// back to back in parameter order (tensor t occupies [offset(t),
// offset(t) + size(t))). This is the vector the shard map splits into server
// slices and the one the error-feedback residual mirrors
// (common/error_feedback.h lays its residuals out the same way, so
// `ErrorFeedback(layout.sizes())` lines up index for index).
//
// The copies between tensors and flat buffers are one memcpy per tensor when
// the tensor is a contiguous float32 CPU tensor (the normal case). Into a
// contiguous CUDA tensor they are one asynchronous host-to-device copy per
// tensor (see ScatterRange); anything else (a strided view, reading from a
// device) goes through a contiguous CPU copy.
// Every method checks the whole argument list against the layout before it
// writes anything, so a mismatch changes nothing.
//
// Immutable after Create; const methods may be called from several threads,
// provided they do not write the same parameters or buffers concurrently.
#ifndef CDDP_WORKER_TORCH_FLAT_LAYOUT_H_
#define CDDP_WORKER_TORCH_FLAT_LAYOUT_H_

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cddp::worker {

class FlatLayout {
 public:
  // The layout of `parameters` (in this order; Model::parameters() order).
  // `names`, if not empty, must have one entry per parameter and is used in
  // error messages. INVALID_ARGUMENT if there are no parameters, one is
  // undefined or not float32, names has the wrong length, or the total is
  // >= 2^32 (the wire format's index limit).
  static absl::StatusOr<FlatLayout> Create(
      const std::vector<at::Tensor>& parameters,
      std::vector<std::string> names = {});
  // A layout from tensor sizes alone (e.g. a peer's). Same limits.
  static absl::StatusOr<FlatLayout> FromSizes(std::vector<size_t> sizes);

  size_t num_tensors() const { return sizes_.size(); }
  size_t size(size_t t) const { return sizes_[t]; }
  size_t offset(size_t t) const { return offsets_[t]; }
  size_t total_size() const { return total_size_; }
  // Element counts in parameter order (for ErrorFeedback, the shard map...).
  const std::vector<size_t>& sizes() const { return sizes_; }
  // Parameter t's name, or "#t" if none were given.
  std::string name(size_t t) const;

  // OK if `parameters` has num_tensors() float32 tensors of sizes(); else
  // INVALID_ARGUMENT naming the first mismatch.
  absl::Status Matches(const std::vector<at::Tensor>& parameters) const;

  // Copies each parameter's gradient into `flat` (total_size() floats). A
  // parameter without a gradient (unused in the last backward) gives zeros.
  // INVALID_ARGUMENT if the parameters or flat.size() do not match, or a
  // gradient's size or dtype differs from its parameter's; INTERNAL if
  // LibTorch throws.
  absl::Status GatherGradients(const std::vector<at::Tensor>& parameters,
                               std::span<float> flat) const;

  // The device address of each parameter's gradient, for compressing on the
  // device where backward left them: (*pointers)[t] is tensor t's gradient
  // data (its size() floats), or nullptr when it has none (unused in the
  // last backward). INVALID_ARGUMENT if the parameters do not match, or a
  // gradient is not a contiguous float32 tensor of its parameter's size on
  // its parameter's device; INTERNAL if LibTorch throws.
  absl::Status GradientPointers(const std::vector<at::Tensor>& parameters,
                                std::vector<const float*>* pointers) const;

  // Copies the parameter values into `flat`. Errors as GatherGradients.
  absl::Status GatherParameters(const std::vector<at::Tensor>& parameters,
                                std::span<float> flat) const;

  // Copies `flat` (total_size() floats) into the parameters, outside
  // autograd. Call it when no autograd graph that saved these parameters is
  // still to be run backward (the fast path writes the memory directly).
  // INVALID_ARGUMENT if sizes do not match; INTERNAL if LibTorch throws.
  absl::Status ScatterParameters(
      std::span<const float> flat,
      const std::vector<at::Tensor>& parameters) const;

  // Copies `values` into flat positions [begin, begin + values.size()) of
  // the parameters; the range may start and end inside tensors. This is how
  // a shard's dense reply is applied without assembling the whole vector.
  // Into parameters on a CUDA device the copies are asynchronous on the
  // current stream: from pageable memory `values` may be reused as soon as
  // this returns (CUDA stages it), but from pinned memory the copies may
  // still be reading it, so keep it unchanged until the stream has passed
  // them (e.g. torch::cuda::synchronize()). Work queued later on the stream
  // (the next forward) sees the new values.
  // INVALID_ARGUMENT if the range exceeds total_size() or the parameters do
  // not match; INTERNAL if LibTorch throws.
  absl::Status ScatterRange(uint64_t begin, std::span<const float> values,
                            const std::vector<at::Tensor>& parameters) const;

 private:
  FlatLayout(std::vector<size_t> sizes, std::vector<std::string> names);

  std::vector<size_t> sizes_;
  std::vector<size_t> offsets_;
  size_t total_size_ = 0;
  std::vector<std::string> names_;
};

// The model's parameters as the one flat float vector that the parameter
// client reads and writes, and the gradients handed to the compressor.
//
// On the CPU the flat vector *is* the parameters: Create moves every
// parameter's storage into one flat tensor and makes the parameter a view of
// its range, so a reply written into values() is already in the model, and
// Gradients() hands over the gradients where backward left them. No step
// copies the model (a strided gradient, which backward does not normally
// produce, is copied into a host buffer).
// On CUDA the parameters stay on the device: values() is a pinned host
// mirror that Publish() copies to the device asynchronously, and Gradients()
// gives device pointers.
//
// `layout` must outlive it; the parameters must not be replaced or moved to
// another device afterwards. Not thread-safe: used by the training thread.
class FlatParameters {
 public:
  // Takes `parameters` (which `layout` describes) over as above, their
  // current values kept. INVALID_ARGUMENT if they do not match the layout or
  // are not on the CPU (cuda false) / a CUDA device (cuda true);
  // RESOURCE_EXHAUSTED when the pinned buffer cannot be had; INTERNAL if
  // LibTorch throws.
  static absl::StatusOr<FlatParameters> Create(
      const FlatLayout& layout, const std::vector<at::Tensor>& parameters,
      bool cuda);
  // On CUDA, waits for copies still reading values() before freeing it.
  ~FlatParameters();
  FlatParameters(FlatParameters&&) = default;
  FlatParameters& operator=(FlatParameters&&) = delete;

  // The flat parameters in host memory (layout.total_size() floats). Call
  // WaitForDevice before writing them after a Publish.
  std::span<float> values() const { return values_; }

  // Makes the model use values(): nothing to do on the CPU; on CUDA queues
  // the copies to the device (FlatLayout::ScatterParameters). Errors as
  // ScatterParameters.
  absl::Status Publish() const;

  // On CUDA, blocks until the device has done what was queued (the copies
  // out of values()); nothing on the CPU. INTERNAL on a CUDA error.
  absl::Status WaitForDevice() const;

  // OK while every parameter is still the tensor it was at Create, of its
  // size and dtype, and (on the CPU) still a view of its range of values();
  // FAILED_PRECONDITION naming the first that was replaced, reshaped or
  // re-pointed (e.g. `p.data = ...`), which would silently stop receiving
  // the servers' values.
  absl::Status CheckIntact() const;

  // Each parameter's gradient for GradientCompressor::Compress, in host memory
  // on the CPU and device memory on CUDA; nullptr for a parameter without a
  // gradient (a zero gradient). Valid until the next backward or call.
  // INVALID_ARGUMENT if a gradient's dtype or size differs from its
  // parameter's (or, on CUDA, it is strided or elsewhere); INTERNAL if
  // LibTorch throws.
  absl::StatusOr<std::span<const float* const>> Gradients();
  // The same for parameters [first, end) only (CPU): the span still has one
  // entry per parameter, those outside the range as the last call left
  // them. INVALID_ARGUMENT also for a bad range.
  absl::StatusOr<std::span<const float* const>> Gradients(size_t first,
                                                          size_t end);

 private:
  FlatParameters(const FlatLayout& layout,
                 const std::vector<at::Tensor>& parameters, bool cuda);
  absl::Status HostGradientPointers(size_t first, size_t end);

  const FlatLayout* layout_;
  std::vector<at::Tensor> parameters_;
  bool cuda_;
  at::Tensor flat_;  // CPU: the parameters' storage; CUDA: a pinned mirror
  std::span<float> values_;
  std::vector<float> strided_grads_;  // CPU: copies of strided gradients
  std::vector<const float*> grad_ptrs_;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TORCH_FLAT_LAYOUT_H_
