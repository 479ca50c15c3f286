// BackwardOverlap: --overlap_backward. Communication hidden behind the
// backward pass, as DDP hides its all_reduce behind it with buckets.
//
// A post-hook on every parameter's gradient accumulator (autograd's
// AccumulateGrad node) marks the tensor ready once its gradient is in
// `.grad`. Parameters are laid out back to back (FlatLayout) and a backward
// pass reaches the last layers first, so the hook keeps a frontier: every
// tensor from the frontier to the end of the flat vector is ready. Each time
// the frontier moves down, the newly covered tensors are compressed
// (GradientPipeline::CompressRange) and handed to the client as one part
// (ParameterClient::PushPullPart), which starts the push of every shard
// whose whole range is now covered. Finish compresses what no hook reached
// (parameters the pass did not use: zero gradients) and closes the round.
//
// Every tensor is compressed exactly once per step, with the step's budget,
// so residuals, velocity and pairs are those of GradientPipeline::Compress
// bit for bit, and so is the round (ParameterClient's contract).
//
// Why a reply may be written into the parameters while the pass still
// runs: a shard's push starts only once the accumulators of all its
// tensors have fired, and an accumulator runs only after every node that
// used its parameter with gradients (and may have saved its value) has.
//
// Needs a pipeline that compresses by range
// (GradientPipeline::CompressesByRange, which refuses CUDA and clipping). One
// backward pass per step: a second one before Finish is an error that Finish
// reports.
//
// Not thread-safe: the hooks run on the thread running the backward pass
// (on the CPU, the caller of backward()), Finish on the training thread,
// one after the other.
#ifndef CDDP_WORKER_API_BACKWARD_OVERLAP_H_
#define CDDP_WORKER_API_BACKWARD_OVERLAP_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/compress/sparse.h"
#include "worker/client/parameter_client.h"
#include "worker/gradient_pipeline.h"
#include "worker/torch/flat_layout.h"

namespace torch::autograd {
struct Node;
}  // namespace torch::autograd

namespace cddp::worker {

class BackwardOverlap {
 public:
  // What a step works on; everything outlives the BackwardOverlap.
  struct Parts {
    const FlatLayout* layout = nullptr;
    FlatParameters* flat = nullptr;
    GradientPipeline* pipeline = nullptr;
    ParameterClient* client = nullptr;
    const uint64_t* step = nullptr;  // the job step being pushed
  };

  // Hooks `parameters` (the layout's, CPU, in its order). Errors as
  // GradientPipeline::CompressesByRange; INTERNAL if LibTorch throws.
  static absl::StatusOr<std::unique_ptr<BackwardOverlap>> Create(
      const std::vector<at::Tensor>& parameters, Parts parts);
  // Removes the hooks. A round left open is the client's to cancel.
  ~BackwardOverlap();
  BackwardOverlap(const BackwardOverlap&) = delete;
  BackwardOverlap& operator=(const BackwardOverlap&) = delete;

  // The step's PushPull: compresses the tensors no hook compressed, hands
  // them over and returns ParameterClient::FinishPushPull's result (opening
  // the round first if no hook did). `*compress_error` gets the first
  // compression error of the step (a NaN/inf gradient naming its tensor, or
  // a second backward pass): the tensors from it down were not compressed
  // and go as no pairs, their residuals unchanged. `*compress_seconds` gets
  // the step's time in compression, hooks included. Ready for the next step
  // afterwards.
  absl::StatusOr<PushPullResult> Finish(common::SparseSelection* undelivered,
                                        absl::Status* compress_error,
                                        double* compress_seconds);

 private:
  BackwardOverlap(Parts parts, size_t num_tensors);
  // The hook of tensor t.
  void OnGradientReady(size_t t);
  // Opens the round if not open yet; records an error in error_.
  bool EnsureOpen();
  // Compresses tensors [first, frontier_) and hands them over from
  // offset(first); frontier_ = first. Records an error in error_.
  void HandOver(size_t first);

  Parts parts_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hook_keys_;
  std::vector<char> ready_;  // per tensor, this step
  size_t frontier_;          // tensors [frontier_, n) are handed over
  bool open_ = false;        // this step's round is open
  absl::Status error_;       // the step's first error
  double compress_seconds_ = 0;
  common::SparseSelection part_;  // scratch
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_API_BACKWARD_OVERLAP_H_
