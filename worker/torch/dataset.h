// Dataset: a labelled image set held in memory, handed out as normalised
// LibTorch batches; BatchIterator: one worker's sharded, per-epoch
// reshuffled stream of training batches over it (see worker_sampler.h).
//
// Images are kept as bytes (a quarter of the memory of floats: CIFAR-10's
// training set is 150 MB instead of 600 MB per worker) and normalised per
// batch, channel by channel, with the usual mean/std of the data set
// (MNIST 0.1307/0.3081, Fashion-MNIST 0.2860/0.3530, CIFAR-10
// (0.4914, 0.4822, 0.4465)/(0.2470, 0.2435, 0.2616)) through a 256-entry
// table, so a pixel value always maps to the same float.
//
// Dataset is immutable after Load: its const methods are thread-safe.
// BatchIterator is not thread-safe.
#ifndef CDDP_WORKER_TORCH_DATASET_H_
#define CDDP_WORKER_TORCH_DATASET_H_

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/data/image_set.h"
#include "worker/data/worker_sampler.h"

namespace cddp::worker {

enum class Split { kTrain, kTest };

struct DatasetOptions {
  // CIFAR-10 only: use the synthetic set when no batches are found (else
  // NOT_FOUND), and its seed and sizes.
  bool allow_synthetic = true;
  uint64_t seed = 0;
  int64_t synthetic_train_count = 50000;
  int64_t synthetic_test_count = 10000;
  // Keep only the first `limit` examples (0: all): quick runs and tests.
  int64_t limit = 0;
};

struct Batch {
  at::Tensor images;  // [B, C, H, W] float32, normalised
  at::Tensor labels;  // [B] int64
};

// Per-channel normalisation constants (only the first `channels` are used).
struct Normalization {
  std::array<float, 3> mean = {0, 0, 0};
  std::array<float, 3> std = {1, 1, 1};
};

class Dataset {
 public:
  // `name`: "mnist", "fashion-mnist" or "cifar10". MNIST-like sets are read
  // from IDX files in `data_dir` or `data_dir`/<name> (see idx_reader.h);
  // CIFAR-10 as cifar_reader.h's LoadCifar10 says.
  // Errors: INVALID_ARGUMENT for an unknown name or a bad limit; NOT_FOUND
  // naming the missing file(s); INVALID_ARGUMENT / DATA_LOSS naming a
  // corrupt file.
  static absl::StatusOr<Dataset> Load(const std::string& name,
                                      const std::string& data_dir, Split split,
                                      const DatasetOptions& options = {});

  // Wraps an already-read set. INVALID_ARGUMENT if it is inconsistent
  // (sizes, channels not in 1..3, a label >= num_classes, a std <= 0).
  static absl::StatusOr<Dataset> FromRaw(RawImageSet raw,
                                         const Normalization& norm,
                                         std::string description);

  // The constants Load uses for `name`; INVALID_ARGUMENT if unknown.
  static absl::StatusOr<Normalization> NormalizationFor(
      const std::string& name);

  int64_t size() const { return raw_->count; }
  int64_t channels() const { return raw_->channels; }
  int64_t rows() const { return raw_->rows; }
  int64_t cols() const { return raw_->cols; }
  int num_classes() const { return raw_->num_classes; }
  const RawImageSet& raw() const { return *raw_; }
  // True if this is the synthetic CIFAR stand-in.
  bool synthetic() const { return synthetic_; }
  // What was loaded from where (print it; it flags a synthetic set).
  const std::string& description() const { return description_; }

  // The examples at `indices`, in that order. INVALID_ARGUMENT if an index
  // is out of range or there are none; INTERNAL if LibTorch throws.
  absl::StatusOr<Batch> Gather(std::span<const int64_t> indices) const;
  // Examples [begin, end), e.g. for evaluation. INVALID_ARGUMENT unless
  // 0 <= begin < end <= size().
  absl::StatusOr<Batch> Slice(int64_t begin, int64_t end) const;

 private:
  Dataset() = default;
  template <typename IndexAt>
  absl::StatusOr<Batch> Build(int64_t n, IndexAt index_at) const;

  // Shared: copies of a Dataset (e.g. the one in a BatchIterator) share
  // the images.
  std::shared_ptr<const RawImageSet> raw_;
  std::array<std::array<float, 256>, 3> lut_{};  // pixel -> normalised
  bool synthetic_ = false;
  std::string description_;
};

// One worker's training batches: a Dataset (the iterator keeps a cheap
// copy sharing its images) sampled by a WorkerSampler.
class BatchIterator {
 public:
  // Errors: those of WorkerSampler::Create (with dataset_size = data.size()).
  static absl::StatusOr<BatchIterator> Create(const Dataset& data,
                                              WorkerSamplerOptions options);

  // The batch at position(), then advances. `at` receives its position.
  // INTERNAL if LibTorch throws.
  absl::StatusOr<Batch> Next(DataPosition* at = nullptr);
  DataPosition position() const { return sampler_.position(); }
  // See WorkerSampler::Seek.
  absl::Status Seek(DataPosition position) { return sampler_.Seek(position); }
  const WorkerSampler& sampler() const { return sampler_; }

 private:
  BatchIterator(Dataset data, WorkerSampler sampler)
      : data_(std::move(data)), sampler_(std::move(sampler)) {}
  Dataset data_;
  WorkerSampler sampler_;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TORCH_DATASET_H_
