// TrainingSession: one worker's training of a built-in model, one operation
// at a time. It owns the data and the model, and synchronises the model
// through the public API (cddp::ParameterSync: the flat parameters, the
// gradient pipeline, the connection to the servers), so the built-in trainer
// and user code share one code path. It offers the operations a training
// loop is made of: resynchronise with the servers, run one step, evaluate,
// checkpoint, check the result against the servers. It prints nothing: each
// operation returns what happened, and the caller (Trainer's loop, a test)
// decides what to report.
//
// Steps: the job's step is the largest of the shards' steps (what the
// client's Join, Pull and PushPull return). It decides the data position
// (every worker reads the batch of the round it pushes) and when training
// stops (at total_steps()).
//
// Device: on CUDA the model, the batches and the residuals live on the
// device; the gradients are compressed there and only the selected pairs
// come to the host; the servers' reply lands in pinned host memory and goes
// back with asynchronous copies. On the CPU the parameters are views of the
// flat vector the client writes, and the gradients are compressed where
// backward left them (FlatParameters). Checkpoints are the same on both.
//
// This header needs no LibTorch; training_session.cc is a LibTorch unit.
// Not thread-safe: one thread drives a session.
#ifndef CDDP_WORKER_TRAINING_SESSION_H_
#define CDDP_WORKER_TRAINING_SESSION_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/api/parameter_client_factory.h"
#include "worker/trainer_options.h"
#include "worker/worker_metrics.h"

namespace cddp::worker {

// Resolves --device against this build and machine (device_choice.h),
// probing LibTorch's and the kernels' CUDA support only when CUDA may be
// wanted. FAILED_PRECONDITION for kCuda where CUDA cannot be used, saying
// why.
absl::StatusOr<DeviceChoice> ChooseTrainingDevice(DeviceRequest request);

// What a session is about to do, for the start-up report.
struct SessionInfo {
  bool cuda = false;
  std::string device_reason;
  int threads = 1;                // LibTorch intra-op threads
  std::string train_description;  // the training set, in words
  size_t num_parameters = 0;      // flat size
  size_t num_tensors = 0;
  int64_t batches_per_epoch = 0;
  uint64_t first_step = 0;  // where training starts (after the first join)
  uint64_t total_steps = 0;
  std::optional<uint64_t> resumed_from;  // the residuals' checkpoint step
};

// What one step did.
struct StepReport {
  // OK, or why the push failed: then the undelivered pairs are back in the
  // residual and the session has joined the servers again.
  absl::Status push_status;
  uint64_t pushed_step = 0;  // the step the gradient was computed for
  uint64_t step = 0;         // the job's step now
  int64_t epoch = 0;         // of the batch
  double loss = 0;           // of the batch
  int64_t samples = 0;       // in the batch
  uint64_t bytes_sent = 0;   // uplink bytes on the wire
  uint64_t dense_bytes = 0;  // the same gradient sent dense
  uint64_t bytes_received = 0;
  double density = 0;  // the fraction of the gradient selected
  std::array<double, kNumPhases> phase_seconds{};
};

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
};

// The end-of-job check: the servers hold the authority.
struct ServerCheck {
  bool params_match_servers = false;  // a pull gave the model's bits
  uint32_t params_crc32 = 0;          // CRC-32 of the model's parameters
  bool shards_at_one_step = true;     // every shard at the same step
};

class TrainingSession {
 public:
  // Validates `options` (INVALID_ARGUMENT naming the bad one), loads the
  // data and the model onto `device` (see ChooseTrainingDevice), resumes the
  // residuals from the worker's checkpoint when there is one, connects
  // through `factory` (null: ShardClientFactory(options)) and joins the
  // servers (Resync). `stop` (optional, set from other threads) cuts the
  // join's retries short. Errors: data or model errors as Dataset/MakeModel
  // report them; the client's errors; INTERNAL for a LibTorch exception.
  static absl::StatusOr<std::unique_ptr<TrainingSession>> Create(
      const TrainerOptions& options, const DeviceChoice& device,
      ParameterClientFactory factory = nullptr,
      const std::atomic<bool>* stop = nullptr);
  ~TrainingSession();

  const SessionInfo& info() const;
  uint64_t step() const;         // the job's step: the next one to push
  uint64_t total_steps() const;  // training ends when step() reaches it
  bool done() const { return step() >= total_steps(); }

  // Joins the servers again (retrying unreachable ones until the options'
  // reconnect_timeout or `stop`), takes their values, and moves the data to
  // their step. Errors: the client's last error.
  absl::Status Resync();

  // One step: the next batch forward and backward, then ParameterSync::Step
  // (error-feedback Top-K, push-pull, the reply into the model). A failed
  // push is not an error (see StepReport::push_status). Errors: a
  // non-finite gradient (INVALID_ARGUMENT naming the tensor), a failed
  // rejoin after a failed push, INTERNAL for LibTorch.
  absl::StatusOr<StepReport> RunStep();

  // Loss and accuracy on the test set; FAILED_PRECONDITION on a worker
  // without one (only worker 0 loads it). INTERNAL for LibTorch.
  absl::StatusOr<Evaluation> Evaluate();
  bool has_test_set() const;

  // Writes the worker's checkpoint (residuals, step, data position) when the
  // options name a checkpoint directory; OK without one. Errors as
  // SaveWorkerCheckpoint.
  absl::Status SaveCheckpoint();

  // Pulls the servers' values and compares them with the model's
  // parameters (read back from the device on CUDA). Errors: the client's,
  // INTERNAL for LibTorch.
  absl::StatusOr<ServerCheck> CheckAgainstServers();

 private:
  struct State;
  explicit TrainingSession(std::unique_ptr<State> state);
  absl::Status Initialise(ParameterClientFactory factory);
  absl::Status LoadData();
  absl::Status BuildModel();
  absl::Status SeekData();
  absl::Status TrainOnBatch(StepReport* report);
  void RecordMetrics(const StepReport& report);

  std::unique_ptr<State> s_;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TRAINING_SESSION_H_
