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
#include "absl/time/time.h"
#include "common/compress/sparse.h"
#include "prometheus/registry.h"
#include "worker/device_choice.h"
#include "worker/dgc.h"

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
  // Compression.
  bool compress = true;
  double ratio = 0.01;
  int64_t min_compress_numel = 1000;  // smaller tensors are sent whole
  common::ValueType value_type = common::ValueType::kFp32;
  common::IndexEncoding index_encoding = common::IndexEncoding::kDeltaVarint;
  // Deep Gradient Compression (dgc.h): momentum correction, factor masking
  // and clipping on this worker (CPU only), and the density warm-up (the
  // schedule's target is `ratio`).
  DgcOptions dgc;
  int64_t density_warmup_steps = 0;  // 0: the density is `ratio` throughout
  double density_warmup_start = 0.25;
  // Cluster.
  std::vector<std::string> servers;  // one address per shard, in order
  uint32_t worker_id = 0;
  uint32_t num_workers = 1;
  absl::Duration reconnect_timeout = absl::Seconds(120);
  // Reporting and checkpoints.
  int64_t eval_every = 0;          // evaluate every N steps (worker 0; 0: end)
  int64_t eval_limit = 0;          // evaluate on the first N test examples
  std::string checkpoint_dir;      // empty: no checkpoints
  int64_t checkpoint_every = 100;  // steps between worker checkpoints
  int64_t progress_every = 20;     // steps between progress lines (no tty)
  prometheus::Registry* registry = nullptr;  // optional
};

// OK, or INVALID_ARGUMENT naming the first option out of range (as the flag
// that sets it, e.g. "--ratio must be in (0, 1]").
absl::Status ValidateTrainerOptions(const TrainerOptions& options);

// The density schedule `options` ask for (ratio, warm-up).
DensitySchedule DensityScheduleOf(const TrainerOptions& options);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TRAINER_OPTIONS_H_
