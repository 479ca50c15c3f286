// A worker's checkpoint: its error-feedback residuals, its DGC velocity
// (dgc.h; only with momentum correction) and where it is (step and data
// position), written atomically to <dir>/worker-<id>.ckpt as one
// record (common/record_file.h, kind "WRKR"). A corrupt, truncated or
// foreign file is refused as a whole: nothing is half-loaded.
//
// No LibTorch. Not thread-safe (a plain value type).
#ifndef CDDP_WORKER_WORKER_CHECKPOINT_H_
#define CDDP_WORKER_WORKER_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/compress/error_feedback.h"
#include "worker/data/worker_sampler.h"

namespace cddp::worker {

struct WorkerCheckpoint {
  uint32_t worker_id = 0;
  uint64_t step = 0;      // the next step to push
  DataPosition position;  // the next batch to read
  common::ErrorFeedback residuals{std::vector<size_t>{}};
  std::vector<float> velocity;  // empty: none (no momentum correction)
};

// <dir>/worker-<id>.ckpt
std::string WorkerCheckpointPath(const std::string& dir, uint32_t worker_id);

// Writes a checkpoint atomically (temporary file, fsync, rename), creating
// `dir` if needed. Format version 2; version 1 (no velocity) is still read.
absl::Status SaveWorkerCheckpoint(const std::string& dir, uint32_t worker_id,
                                  uint64_t step, DataPosition position,
                                  const common::ErrorFeedback& residuals,
                                  std::span<const float> velocity = {});

// The record bytes SaveWorkerCheckpoint writes.
std::string EncodeWorkerCheckpoint(uint32_t worker_id, uint64_t step,
                                   DataPosition position,
                                   const common::ErrorFeedback& residuals,
                                   std::span<const float> velocity = {});

// Parses record bytes of version 2 or 1 that must belong to `worker_id`.
// DATA_LOSS (truncated, checksum, sizes that do not add up),
// INVALID_ARGUMENT (foreign data, another kind, another worker),
// FAILED_PRECONDITION (another format version). Any bytes are a valid
// argument (tests/fuzz/worker_checkpoint_fuzz.cc).
absl::StatusOr<WorkerCheckpoint> DecodeWorkerCheckpoint(std::string_view data,
                                                        uint32_t worker_id);

// std::nullopt if there is no checkpoint for `worker_id` in `dir`; an error
// (DATA_LOSS / INVALID_ARGUMENT / FAILED_PRECONDITION, with the path) if the
// file exists but cannot be trusted or belongs to another worker.
absl::StatusOr<std::optional<WorkerCheckpoint>> LoadWorkerCheckpoint(
    const std::string& dir, uint32_t worker_id);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_WORKER_CHECKPOINT_H_
