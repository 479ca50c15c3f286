// CIFAR-10 in its standard binary form, and a synthetic CIFAR-shaped
// stand-in for machines that do not have it.
//
// Binary batches (cifar-10-batches-bin): data_batch_1.bin .. data_batch_5.bin
// (train) and test_batch.bin (test); each is a sequence of 3073-byte records:
// one label byte (0..9) then 3 x 32 x 32 pixels, channel-major (R, G, B),
// rows top to bottom.
//
// The synthetic set is deterministic and learnable: every class has a fixed
// pattern (a colour plus an oriented grating, the same for every seed and
// split); each image is its class pattern, randomly shifted and scaled in
// contrast, plus pixel noise, all drawn from a generator keyed by (seed,
// split). A small CNN separates the classes well, so the training loop can
// be exercised end to end without the real data. It is no substitute for
// CIFAR-10 in reported numbers, so the loader says when it used it.
//
// Free functions; thread-compatible. No LibTorch.
#ifndef CDDP_WORKER_DATA_CIFAR_READER_H_
#define CDDP_WORKER_DATA_CIFAR_READER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/data/image_set.h"

namespace cddp::worker {

inline constexpr int64_t kCifarSide = 32;
inline constexpr int64_t kCifarChannels = 3;
inline constexpr int kCifarClasses = 10;
inline constexpr int64_t kCifarRecordBytes =
    1 + kCifarChannels * kCifarSide * kCifarSide;  // 3073

// Appends the records of one binary batch to `out` (which must be empty or
// CIFAR-shaped; it is made CIFAR-shaped). `name` appears in errors.
// Errors (out unchanged): DATA_LOSS if the size is zero or not a multiple of
// 3073 (a truncated file), INVALID_ARGUMENT naming the first label > 9.
absl::Status ParseCifarBatch(std::string_view bytes, const std::string& name,
                             RawImageSet* out);

// The file names of a split: data_batch_{1..5}.bin or test_batch.bin.
std::vector<std::string> CifarBatchNames(bool train);

// Reads every batch of a split from `dir`. Errors: NOT_FOUND naming the
// missing file, or those of ParseCifarBatch.
absl::StatusOr<RawImageSet> ReadCifarSplit(const std::string& dir, bool train);

// A synthetic CIFAR-shaped set of `count` images (see the file comment).
// Same (count, seed, train) -> the same bytes.
RawImageSet MakeSyntheticCifar(int64_t count, uint64_t seed, bool train);

struct CifarLoadOptions {
  bool allow_synthetic = true;
  uint64_t seed = 0;  // for the synthetic set only
  int64_t synthetic_train_count = 50000;
  int64_t synthetic_test_count = 10000;
};

struct CifarLoadResult {
  RawImageSet set;
  bool synthetic = false;
  // What was loaded from where, for the caller to print; for the synthetic
  // set it says that no CIFAR-10 batches were found and where it looked.
  std::string description;
};

// Looks for the batches in `data_dir`, `data_dir`/cifar-10-batches-bin and
// `data_dir`/cifar10, in that order; the first directory holding any of the
// six batch files is used and must hold every file of the split. If none
// does (or data_dir is empty) the synthetic set is returned, unless
// !allow_synthetic (then NOT_FOUND). Other errors: those of ReadCifarSplit.
absl::StatusOr<CifarLoadResult> LoadCifar10(const std::string& data_dir,
                                            bool train,
                                            const CifarLoadOptions& options);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_DATA_CIFAR_READER_H_
