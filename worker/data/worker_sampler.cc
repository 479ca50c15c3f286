// Implementation of worker_sampler.h.
#include "worker/data/worker_sampler.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "worker/data/rng.h"

namespace cddp::worker {

absl::StatusOr<WorkerSampler> WorkerSampler::Create(
    const WorkerSamplerOptions& options) {
  if (options.num_workers < 1 || options.worker_id >= options.num_workers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker_id ", options.worker_id,
        " is not in [0, num_workers = ", options.num_workers, ")"));
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  const int64_t per_worker = options.dataset_size / options.num_workers;
  const int64_t needed = options.drop_last ? options.batch_size : 1;
  if (options.dataset_size < 0 || per_worker < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a training set of ", options.dataset_size, " examples split over ",
        options.num_workers, " workers leaves ", per_worker,
        " per worker: not one batch of ", options.batch_size));
  }
  return WorkerSampler(options);
}

WorkerSampler::WorkerSampler(const WorkerSamplerOptions& options)
    : options_(options),
      samples_per_epoch_(options.dataset_size / options.num_workers) {
  batches_per_epoch_ =
      options.drop_last
          ? samples_per_epoch_ / options.batch_size
          : (samples_per_epoch_ + options.batch_size - 1) / options.batch_size;
}

std::vector<int64_t> WorkerSampler::EpochIndices(int64_t epoch) const {
  const int64_t n = options_.dataset_size;
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  // Fisher-Yates with our own generator (std::shuffle's algorithm is
  // implementation-defined; every worker must draw the same permutation).
  SplitMix64 rng(MixSeed(options_.seed, static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j =
        static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i + 1)));
    std::swap(perm[i], perm[j]);
  }
  const int64_t begin = options_.worker_id * samples_per_epoch_;
  return std::vector<int64_t>(perm.begin() + begin,
                              perm.begin() + begin + samples_per_epoch_);
}

absl::Status WorkerSampler::Seek(DataPosition position) {
  if (position.epoch < 0 || position.batch < 0 ||
      position.batch > batches_per_epoch_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data position (epoch ", position.epoch, ", batch ", position.batch,
        ") is invalid: an epoch has ", batches_per_epoch_, " batches"));
  }
  if (position.batch == batches_per_epoch_) {
    position = DataPosition{position.epoch + 1, 0};
  }
  position_ = position;
  return absl::OkStatus();
}

void WorkerSampler::LoadEpoch(int64_t epoch) {
  if (cached_epoch_ == epoch) return;
  epoch_indices_ = EpochIndices(epoch);
  cached_epoch_ = epoch;
}

std::span<const int64_t> WorkerSampler::NextBatch(DataPosition* at) {
  LoadEpoch(position_.epoch);
  if (at != nullptr) *at = position_;
  const int64_t begin = position_.batch * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, samples_per_epoch_);
  if (++position_.batch == batches_per_epoch_) {
    position_ = DataPosition{position_.epoch + 1, 0};
  }
  return std::span<const int64_t>(epoch_indices_)
      .subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
}

}  // namespace cddp::worker
