// Trainer: cddp-worker's training loop. It drives a TrainingSession (the
// operations: resync, step, evaluate, checkpoint, check) and hands every
// event to a ProgressReporter (the printing): train to the last step,
// resynchronising after a failed push; worker 0 evaluates every eval_every
// steps and at the end; checkpoint every checkpoint_every steps and at the
// end; then check the parameters against the servers'.
//
// A Trainer is driven by one thread (Run); RequestStop may be called from
// any thread (e.g. a signal handler's helper) and makes Run finish the
// current step, checkpoint, and return.
#ifndef CDDP_WORKER_TRAINER_H_
#define CDDP_WORKER_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "worker/device_choice.h"
#include "worker/trainer_options.h"
#include "worker/worker_result.h"

namespace cddp::worker {

class Trainer {
 public:
  // Validates the options (INVALID_ARGUMENT naming the bad one) and picks
  // the device (FAILED_PRECONDITION for --device cuda where CUDA cannot be
  // used, saying why); loads nothing yet.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      TrainerOptions options);
  ~Trainer();

  // Loads data and model, joins the servers (resuming from the checkpoint
  // and the servers' step when there is one), trains, and returns what it
  // did. Errors: data or model errors as Dataset/MakeModel report them;
  // server errors naming the shard; INTERNAL for a LibTorch exception.
  absl::StatusOr<TrainResult> Run();

  void RequestStop() { stop_.store(true); }

 private:
  Trainer(TrainerOptions options, DeviceChoice device);

  TrainerOptions options_;
  DeviceChoice device_;
  std::atomic<bool> stop_{false};
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TRAINER_H_
