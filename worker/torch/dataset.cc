// Implementation of dataset.h.
#include "worker/torch/dataset.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <sys/stat.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/cifar_reader.h"
#include "worker/data/idx_reader.h"
#include "worker/torch/torch_error.h"

namespace cddp::worker {
namespace {

constexpr int kMnistClasses = 10;

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool HasIdxFile(const std::string& dir, const std::string& base) {
  struct stat st;
  const std::string path = absl::StrCat(dir, "/", base);
  return ::stat(path.c_str(), &st) == 0 ||
         ::stat((path + ".gz").c_str(), &st) == 0;
}

// MNIST-like sets live in data_dir itself or in data_dir/<name>; prefer the
// one that holds the split's image file, and name both when neither does.
absl::StatusOr<RawImageSet> LoadIdx(const std::string& name,
                                    const std::string& data_dir, bool train,
                                    std::string* from) {
  const std::string base =
      absl::StrCat(train ? "train" : "t10k", "-images-idx3-ubyte");
  const std::string dir = data_dir.empty() ? std::string(".") : data_dir;
  const std::string sub = absl::StrCat(dir, "/", name);
  std::string chosen;
  if (HasIdxFile(dir, base)) {
    chosen = dir;
  } else if (HasIdxFile(sub, base) || IsDirectory(sub)) {
    chosen = sub;
  } else {
    return absl::NotFoundError(
        absl::StrCat(name, ": no ", base, "[.gz] in ", dir, " or ", sub,
                     " (scripts/setup.sh downloads it)"));
  }
  *from = chosen;
  return ReadIdxSplit(chosen, train, kMnistClasses);
}

}  // namespace

absl::StatusOr<Normalization> Dataset::NormalizationFor(
    const std::string& name) {
  if (name == "mnist") return Normalization{{0.1307f}, {0.3081f}};
  if (name == "fashion-mnist") return Normalization{{0.2860f}, {0.3530f}};
  if (name == "cifar10") {
    return Normalization{{0.4914f, 0.4822f, 0.4465f},
                         {0.2470f, 0.2435f, 0.2616f}};
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dataset '", name, "' (want mnist, fashion-mnist or cifar10)"));
}

absl::StatusOr<Dataset> Dataset::Load(const std::string& name,
                                      const std::string& data_dir, Split split,
                                      const DatasetOptions& options) {
  CDDP_ASSIGN_OR_RETURN(Normalization norm, NormalizationFor(name));
  if (options.limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset limit must be >= 0, got ", options.limit));
  }
  const bool train = split == Split::kTrain;
  const char* split_name = train ? "train" : "test";
  RawImageSet raw;
  std::string description;
  bool synthetic = false;
  if (name == "cifar10") {
    CifarLoadOptions cifar;
    cifar.allow_synthetic = options.allow_synthetic;
    cifar.seed = options.seed;
    cifar.synthetic_train_count = options.synthetic_train_count;
    cifar.synthetic_test_count = options.synthetic_test_count;
    CDDP_ASSIGN_OR_RETURN(CifarLoadResult loaded,
                          LoadCifar10(data_dir, train, cifar));
    raw = std::move(loaded.set);
    description = std::move(loaded.description);
    synthetic = loaded.synthetic;
  } else {
    std::string from;
    CDDP_ASSIGN_OR_RETURN(raw, LoadIdx(name, data_dir, train, &from));
    description = absl::StrCat(name, " ", split_name, " split from ", from,
                               ": ", raw.count, " images");
  }
  if (options.limit > 0 && options.limit < raw.count) {
    raw.count = options.limit;
    raw.pixels.resize(static_cast<size_t>(raw.count * raw.image_bytes()));
    raw.labels.resize(static_cast<size_t>(raw.count));
    raw.pixels.shrink_to_fit();
    raw.labels.shrink_to_fit();
    absl::StrAppend(&description, ", first ", raw.count, " used");
  }
  CDDP_ASSIGN_OR_RETURN(Dataset data,
                        FromRaw(std::move(raw), norm, std::move(description)));
  data.synthetic_ = synthetic;
  return data;
}

absl::StatusOr<Dataset> Dataset::FromRaw(RawImageSet raw,
                                         const Normalization& norm,
                                         std::string description) {
  if (raw.count < 0 || raw.channels < 1 || raw.channels > 3 || raw.rows < 1 ||
      raw.cols < 1 || raw.num_classes < 1 ||
      raw.pixels.size() != static_cast<size_t>(raw.count * raw.image_bytes()) ||
      raw.labels.size() != static_cast<size_t>(raw.count)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inconsistent image set: ", raw.count, " images of ", raw.channels, "x",
        raw.rows, "x", raw.cols, ", ", raw.pixels.size(), " pixel bytes, ",
        raw.labels.size(), " labels"));
  }
  for (size_t i = 0; i < raw.labels.size(); ++i) {
    if (raw.labels[i] >= raw.num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", static_cast<int>(raw.labels[i]), " at index ",
                       i, " is >= ", raw.num_classes));
    }
  }
  Dataset data;
  for (int64_t c = 0; c < raw.channels; ++c) {
    if (!(norm.std[c] > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("normalisation std of channel ", c, " is not > 0"));
    }
    for (int v = 0; v < 256; ++v) {
      data.lut_[c][v] =
          (static_cast<float>(v) / 255.0f - norm.mean[c]) / norm.std[c];
    }
  }
  data.raw_ = std::make_shared<const RawImageSet>(std::move(raw));
  data.description_ = std::move(description);
  return data;
}

template <typename IndexAt>
absl::StatusOr<Batch> Dataset::Build(int64_t n, IndexAt index_at) const {
  const RawImageSet& raw = *raw_;
  const int64_t plane = raw.rows * raw.cols;
  try {
    Batch batch;
    batch.images = at::empty({n, raw.channels, raw.rows, raw.cols}, at::kFloat);
    batch.labels = at::empty({n}, at::kLong);
    float* out = batch.images.data_ptr<float>();
    int64_t* labels = batch.labels.data_ptr<int64_t>();
    for (int64_t b = 0; b < n; ++b) {
      const int64_t i = index_at(b);
      const uint8_t* src = raw.image(i);
      for (int64_t c = 0; c < raw.channels; ++c) {
        const float* lut = lut_[c].data();
        for (int64_t p = 0; p < plane; ++p) *out++ = lut[*src++];
      }
      labels[b] = raw.labels[static_cast<size_t>(i)];
    }
    return batch;
  } catch (const c10::Error& e) {
    return TorchError("Dataset batch", e);
  }
}

absl::StatusOr<Batch> Dataset::Gather(std::span<const int64_t> indices) const {
  if (indices.empty()) {
    return absl::InvalidArgumentError("empty batch");
  }
  for (int64_t i : indices) {
    if (i < 0 || i >= size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "example index ", i, " is out of range [0, ", size(), ")"));
    }
  }
  return Build(static_cast<int64_t>(indices.size()),
               [&](int64_t b) { return indices[static_cast<size_t>(b)]; });
}

absl::StatusOr<Batch> Dataset::Slice(int64_t begin, int64_t end) const {
  if (begin < 0 || begin >= end || end > size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slice [", begin, ", ", end, ") is not within [0, ", size(), ")"));
  }
  return Build(end - begin, [&](int64_t b) { return begin + b; });
}

absl::StatusOr<BatchIterator> BatchIterator::Create(
    const Dataset& data, WorkerSamplerOptions options) {
  options.dataset_size = data.size();
  CDDP_ASSIGN_OR_RETURN(WorkerSampler sampler, WorkerSampler::Create(options));
  return BatchIterator(data, std::move(sampler));
}

absl::StatusOr<Batch> BatchIterator::Next(DataPosition* at) {
  return data_.Gather(sampler_.NextBatch(at));
}

}  // namespace cddp::worker
