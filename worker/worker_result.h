// What a worker achieved, and the result file it leaves for cddp-launch
// (--result_file for cddp-worker; CDDP_RESULT_FILE, which the public API's
// ParameterSync::Finish writes, for a user's worker command). The file is
// key=value lines (common/key_value_file.h); the launcher reads it with
// ReadWorkerReport. No LibTorch.
#ifndef CDDP_WORKER_WORKER_RESULT_H_
#define CDDP_WORKER_WORKER_RESULT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace cddp::worker {

struct TrainResult {
  uint64_t steps = 0;         // the step reached
  double final_loss = 0;      // last training batch
  double test_accuracy = -1;  // worker 0 only (else -1)
  double test_loss = -1;
  uint64_t uplink_wire_bytes = 0;
  uint64_t uplink_dense_bytes = 0;
  uint64_t downlink_bytes = 0;
  double seconds = 0;  // the whole run: start-up to final check
  // From the end of this run's first step to the end of its last: a mean
  // step time is steady_seconds / (steps taken - 1), free of start-up, the
  // first round's wait for the other workers, and the final evaluation.
  double steady_seconds = 0;
  bool params_match_servers = false;  // a final pull found the same bits
  uint32_t params_crc32 = 0;          // of the final flat parameters
  // The final pull found every shard at the same step (none still catching
  // up after a resume from an older checkpoint).
  bool shards_at_one_step = true;
  bool stopped_early = false;  // RequestStop was called
};

// Adds each step's bytes to a TrainResult and keeps its steady_seconds:
// the first step counted starts the steady clock at its end. One per run.
class StepTotals {
 public:
  void Count(uint64_t uplink_wire_bytes, uint64_t uplink_dense_bytes,
             uint64_t downlink_bytes, TrainResult* result);

 private:
  std::optional<std::chrono::steady_clock::time_point> first_step_end_;
};

// Writes `result` to `path` atomically. Errors: the file system's, naming
// the path.
absl::Status WriteWorkerResult(const std::string& path, uint32_t worker_id,
                               const TrainResult& result);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_WORKER_RESULT_H_
