// The training loop of one worker: read a batch of its data shard, forward,
// backward, gather the gradients into the flat layout, compress them with
// error-feedback Top-K per parameter tensor, push the pairs to the shards,
// and take the shards' new values as the parameters. Worker 0 also
// evaluates on the test set. See DESIGN.md for the picture.
//
// Steps: the job's step is the largest of the shards' steps (what the
// shard client's Join, Pull and PushPull return). It decides the data
// position (every worker reads the batch of the round it pushes) and when
// training stops (at the total step count). Shards normally share it; one
// restarted from an older checkpoint lags behind by a fixed number of
// rounds and is pushed at its own step, so its rounds keep closing.
//
// Device: on CUDA the model, the batches and the residuals live on the
// device; the gradients are compressed there and only the selected pairs
// come to the host; the servers' reply lands in pinned host memory and goes
// back with asynchronous copies. The CPU path is common::ErrorFeedback on a
// host copy of the gradients. Checkpoints are the same on both.
//
// A Trainer is driven by one thread (Run); RequestStop may be called from
// any thread (e.g. a signal handler's helper) and makes Run finish the
// current step, checkpoint, and return.
#ifndef CDDP_WORKER_TRAINER_H_
#define CDDP_WORKER_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/compress/sparse.h"
#include "prometheus/registry.h"
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
  int threads = 0;          // LibTorch intra-op threads (0: cores / workers)
  // Where the model trains and the gradients are compressed (device_choice.h;
  // CUDA means the current device).
  DeviceRequest device = DeviceRequest::kAuto;
  // Compression.
  bool compress = true;
  double ratio = 0.01;
  int64_t min_compress_numel = 1000;  // smaller tensors are sent whole
  common::ValueType value_type = common::ValueType::kFp32;
  common::IndexEncoding index_encoding = common::IndexEncoding::kDeltaVarint;
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

struct TrainResult {
  uint64_t steps = 0;            // the step reached
  double final_loss = 0;         // last training batch
  double test_accuracy = -1;     // worker 0 only (else -1)
  double test_loss = -1;
  uint64_t uplink_wire_bytes = 0;
  uint64_t uplink_dense_bytes = 0;
  uint64_t downlink_bytes = 0;
  double seconds = 0;
  bool params_match_servers = false;  // a final pull found the same bits
  uint32_t params_crc32 = 0;          // of the final flat parameters
  bool stopped_early = false;         // RequestStop was called
};

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
