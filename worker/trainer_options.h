// TrainerOptions: everything a worker's training is told — what to train,
// how to compress, which cluster, how to report and checkpoint. A plain
// struct that cddp-worker's flags fill and TrainingSession::Create
// validates. No LibTorch.
#ifndef CDDP_WORKER_TRAINER_OPTIONS_H_
#define CDDP_WORKER_TRAINER_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cddp/options.h"
#include "worker/device_choice.h"

namespace cddp::worker {

struct TrainerOptions {
  // What to train.
  std::string model = "simple_cnn";
  std::string dataset = "mnist";
  std::string data_dir = "data";
  int epochs = 1;
  int64_t batch_size = 64;
  int64_t train_limit = 0;  // use only the first N training examples (0: all)
  int64_t max_steps = 0;    // stop after this many steps (0: epochs decide)
  uint64_t seed = 1;
  int threads = 0;  // LibTorch intra-op threads (0: cores / workers)
  // Where the model trains and the gradients are compressed (device_choice.h;
  // CUDA means the current device).
  DeviceRequest device = DeviceRequest::kAuto;
  // The cluster, compression, DGC, residual checkpoints and metrics: what
  // the public API's ParameterSync is told (cddp/options.h).
  cddp::SyncOptions sync;
  // Reporting and checkpoints.
  int64_t eval_every = 0;  // evaluate every N steps (worker 0; 0: end)
  int64_t eval_limit = 0;  // evaluate on the first N test examples
  int64_t checkpoint_every =
      100;  // steps between worker checkpoints (sync.checkpoint_dir)
  int64_t progress_every = 20;  // steps between progress lines (no tty)
};

// OK, or INVALID_ARGUMENT naming the first option out of range (as the flag
// that sets it, e.g. "--epochs must be >= 1"); the sync options are checked
// by ValidateSyncOptions.
absl::Status ValidateTrainerOptions(const TrainerOptions& options);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TRAINER_OPTIONS_H_
