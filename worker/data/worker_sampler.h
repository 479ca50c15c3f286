// Which training examples a worker visits, in which order: worker i of W
// gets its own 1/W of the training set each epoch, reshuffled every epoch
// from the seed, in the manner of PyTorch's DistributedSampler.
//
// Epoch e: a permutation P_e of [0, N) is drawn from (seed, e) — the same on
// every worker — and worker i takes P_e[i*S, (i+1)*S) with S = floor(N / W).
// So within an epoch the workers' shares are disjoint and together cover all
// but N mod W examples (a different few each epoch), and every worker has
// exactly S examples and therefore the same number of batches: synchronous
// rounds need that, or one worker would wait for a push that never comes.
//
// The position (epoch, batch) is a plain struct the checkpoint code saves;
// seeking to it reproduces the exact same batches.
//
// Not thread-safe; one sampler per worker. No LibTorch.
#ifndef CDDP_WORKER_DATA_WORKER_SAMPLER_H_
#define CDDP_WORKER_DATA_WORKER_SAMPLER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cddp::worker {

// Where a worker is in its data: the next batch to produce is batch `batch`
// (0-based) of epoch `epoch` (0-based).
struct DataPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
  bool operator==(const DataPosition&) const = default;
};

struct WorkerSamplerOptions {
  int64_t dataset_size = 0;  // N
  uint32_t worker_id = 0;
  uint32_t num_workers = 1;  // W
  int64_t batch_size = 1;
  uint64_t seed = 0;
  // Drop the last, smaller batch of each epoch (if S % batch_size != 0).
  bool drop_last = false;
};

class WorkerSampler {
 public:
  // INVALID_ARGUMENT unless num_workers >= 1, worker_id < num_workers,
  // batch_size >= 1 and the worker gets at least one batch per epoch
  // (N / W >= 1, and >= batch_size with drop_last).
  static absl::StatusOr<WorkerSampler> Create(
      const WorkerSamplerOptions& options);

  const WorkerSamplerOptions& options() const { return options_; }
  // S = floor(N / W): examples per worker per epoch.
  int64_t samples_per_epoch() const { return samples_per_epoch_; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }

  // This worker's indices for `epoch`, in visiting order (S of them).
  std::vector<int64_t> EpochIndices(int64_t epoch) const;

  DataPosition position() const { return position_; }
  // Moves to `position`. A batch equal to batches_per_epoch() means "the
  // end of that epoch" and is normalised to (epoch + 1, 0).
  // INVALID_ARGUMENT (position unchanged) if epoch < 0 or batch is outside
  // [0, batches_per_epoch()].
  absl::Status Seek(DataPosition position);

  // The dataset indices of the batch at position(), then advances (into the
  // next epoch after its last batch). The span is valid until the next call
  // to NextBatch or Seek. `at`, if given, receives the position of the batch.
  std::span<const int64_t> NextBatch(DataPosition* at = nullptr);

 private:
  explicit WorkerSampler(const WorkerSamplerOptions& options);
  void LoadEpoch(int64_t epoch);

  WorkerSamplerOptions options_;
  int64_t samples_per_epoch_ = 0;
  int64_t batches_per_epoch_ = 0;
  DataPosition position_;
  int64_t cached_epoch_ = -1;  // epoch whose indices are in epoch_indices_
  std::vector<int64_t> epoch_indices_;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_DATA_WORKER_SAMPLER_H_
