// Reader for the IDX format of MNIST and Fashion-MNIST (gzipped or not).
//
// IDX: a 4-byte magic 00 00 <type> <ndims> (type 08 = unsigned byte), then
// ndims big-endian uint32 dimensions, then the data. Images are
// 00000803 (count, rows, cols), labels 00000801 (count). Everything is
// validated before it is trusted: a wrong magic, a size that does not match
// the header, images and labels that disagree, or a label out of range is an
// error naming the file, never a crash or a silently short dataset.
//
// Free functions; thread-compatible. No LibTorch.
#ifndef CDDP_WORKER_DATA_IDX_READER_H_
#define CDDP_WORKER_DATA_IDX_READER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/image_set.h"

namespace cddp::worker {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;

struct IdxImages {
  int64_t count = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major
};

// Parses an (already inflated) IDX image file. `name` appears in errors.
// Errors: INVALID_ARGUMENT for a wrong magic, a zero dimension or trailing
// bytes; DATA_LOSS if the data is shorter than the header says.
absl::StatusOr<IdxImages> ParseIdxImages(std::string_view bytes,
                                         const std::string& name);

// Parses an (already inflated) IDX label file; every label must be
// < num_classes. Errors as ParseIdxImages, plus INVALID_ARGUMENT naming the
// first label out of range.
absl::StatusOr<std::vector<uint8_t>> ParseIdxLabels(std::string_view bytes,
                                                    const std::string& name,
                                                    int num_classes);

// Reads an image file and its label file (each gzipped or not) into one set
// with channels == 1. Errors: those of ReadMaybeGzippedFile and the parsers,
// and INVALID_ARGUMENT naming both files if their counts differ.
absl::StatusOr<RawImageSet> ReadIdxPair(const std::string& images_path,
                                        const std::string& labels_path,
                                        int num_classes);

// Reads the standard split files from `dir`: train-images-idx3-ubyte /
// train-labels-idx1-ubyte (train) or t10k-* (test), each with or without a
// ".gz" suffix. NOT_FOUND naming the missing file, or the errors above.
absl::StatusOr<RawImageSet> ReadIdxSplit(const std::string& dir, bool train,
                                         int num_classes);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_DATA_IDX_READER_H_
