// compressed-ddp's public C++ API: train any LibTorch module on a cluster of
// compressed-ddp parameter servers. Link the CMake target cddp::cddp
// (find_package(cddp) after `cmake --install`).
//
//   cddp::SyncOptions o = cddp::SyncOptionsFromEnvironment().value();
//   auto sync = cddp::ParameterSync::Create(*model, o).value();
//   while (!done) {
//     model->zero_grad();
//     loss_fn(model->forward(x), y).backward();
//     sync->Step().value();          // instead of optimizer.step()
//   }
//
// Create joins the servers: worker 0's values initialise them and every
// worker starts from the servers' values. Step() takes each parameter's
// .grad, adds this worker's error-feedback residual (after DGC's momentum
// correction and clipping when asked for), sends only the Top-K pairs to the
// shards that own them, keeps the rest as the new residual, and writes the
// shards' reply into the parameters. The servers run the optimizer (their
// --lr, --momentum, --optimizer): do not step a local optimizer too.
//
// Which parameters: every float32 parameter with requires_grad, in the
// module's parameters() order; frozen ones (requires_grad false) are left
// alone and never sent. A parameter whose .grad is undefined in a step
// counts as a zero gradient. All of them must be on the CPU, or all on one
// CUDA device (compression then runs there; DGC is CPU-only).
// On the CPU the parameters are rebased onto one flat buffer (their values
// and autograd identity are kept), which the servers' replies are written
// into directly: do not replace a parameter's data afterwards (Step refuses
// with FAILED_PRECONDITION naming it).
//
// Every worker of a job must register the same shapes in the same order.
// Not thread-safe: one thread drives a ParameterSync.
#ifndef CDDP_API_CDDP_H_
#define CDDP_API_CDDP_H_

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cddp/options.h"

namespace torch::nn {
class Module;
}

namespace cddp {

// A named parameter, as Module::named_parameters() gives them.
struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

namespace internal {
struct SyncState;
class SyncAccess;
}  // namespace internal

class ParameterSync {
 public:
  // Synchronises `module`'s trainable parameters (see the file comment).
  // Validates `options` (INVALID_ARGUMENT naming the field), resumes the
  // residuals from options.checkpoint_dir when a checkpoint is there, and
  // joins every shard, retrying unreachable ones for
  // options.reconnect_timeout. Errors: INVALID_ARGUMENT naming a parameter
  // that is not float32, or mixed devices; FAILED_PRECONDITION for CUDA
  // parameters on a build without CUDA kernels, DGC on CUDA, or a layout
  // that differs from the job's; UNAVAILABLE / DEADLINE_EXCEEDED naming the
  // shard's address; INTERNAL for a LibTorch exception.
  static absl::StatusOr<std::unique_ptr<ParameterSync>> Create(
      const torch::nn::Module& module, SyncOptions options);
  // The same for a list of parameters (names for messages and metrics).
  static absl::StatusOr<std::unique_ptr<ParameterSync>> Create(
      std::vector<NamedTensor> parameters, SyncOptions options);
  ~ParameterSync();

  uint64_t step() const;          // the job's step: the next one to push
  size_t num_parameters() const;  // elements synchronised
  const std::vector<std::string>& names() const;  // the tensors synchronised
  bool on_cuda() const;
  // The step of the checkpoint the residuals were resumed from, if any.
  std::optional<uint64_t> resumed_from() const;

  // One step after backward(): compress, push, pull, write the reply into
  // the parameters. A failed push is not an error: see
  // StepStats::push_status. Errors: INVALID_ARGUMENT naming the tensor for
  // a NaN/inf gradient (the residual keeps its last finite value; nothing
  // is sent); FAILED_PRECONDITION naming a parameter replaced or reshaped
  // since Create; the join's errors when rejoining after a failed push
  // fails; INTERNAL for a LibTorch or CUDA exception.
  // With SyncOptions::overlap_backward the compression and the pushes start
  // during backward() and Step() finishes the round: a NaN/inf gradient is
  // then reported after the round, the tensors above it sent, those from it
  // down sent as nothing (their residuals unchanged); a second backward()
  // before Step() is FAILED_PRECONDITION, reported the same way.
  absl::StatusOr<StepStats> Step();

  // Joins the servers again and takes their values and step (Step does
  // this itself after a failed push). Errors as Create's join.
  absl::Status Resync();

  // Writes this worker's checkpoint (residuals, DGC velocity, step) to
  // options.checkpoint_dir, atomically; OK without one. `epoch` and `batch`
  // record where the caller's data is, for the caller (a resumed job
  // follows the servers' step). Errors: the file system's, naming the path.
  absl::Status SaveCheckpoint(int64_t epoch = 0, int64_t batch = 0);

  // Pulls the servers' values and compares them with the parameters' bits.
  // Writes the parameters' CRC-32 to *crc32 when given. Errors: the
  // client's, INTERNAL for LibTorch.
  absl::StatusOr<bool> MatchesServers(uint32_t* crc32 = nullptr);
  // Whether the last MatchesServers (or Finish) found every shard at the
  // same step; false while a shard that resumed from an older checkpoint
  // is still catching up (Step pushes only the shards behind until then).
  bool shards_at_one_step() const;

  // Ends this worker's part of the job: MatchesServers, and, when
  // options.result_file is set (cddp-launch sets CDDP_RESULT_FILE), writes
  // there what the launcher's summary reports: steps, bytes both ways, the
  // parameters' CRC-32 and whether they equal the servers', and the
  // caller's `test_accuracy` (in [0, 1]; -1: not evaluated) and
  // `final_loss`. Returns whether the parameters equal the servers'.
  // Errors as MatchesServers; the file system's, naming the path.
  absl::StatusOr<bool> Finish(double test_accuracy = -1, double final_loss = 0);

  // Sets `*stop` from another thread to cut a join's retries short (not
  // owned; null: none).
  void set_stop_flag(const std::atomic<bool>* stop);

 private:
  explicit ParameterSync(std::unique_ptr<internal::SyncState> state);
  friend class internal::SyncAccess;

  std::unique_ptr<internal::SyncState> s_;
};

}  // namespace cddp

#endif  // CDDP_API_CDDP_H_
