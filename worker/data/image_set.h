// RawImageSet: a labelled image classification set as raw bytes, the common
// currency between the file readers (IDX, CIFAR-10, synthetic) and the
// LibTorch-side Dataset. Kept free of LibTorch so the readers compile fast and
// can be tested without it.
//
// A plain value type; no internal synchronisation.
#ifndef CDDP_WORKER_DATA_IMAGE_SET_H_
#define CDDP_WORKER_DATA_IMAGE_SET_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cddp::worker {

struct RawImageSet {
  int64_t count = 0;     // number of images (== labels.size())
  int64_t channels = 0;  // 1 for MNIST-like sets, 3 for CIFAR-like sets
  int64_t rows = 0;
  int64_t cols = 0;
  int num_classes = 0;  // every label is < num_classes
  // count * channels * rows * cols bytes, image-major, then channel-major
  // (NCHW), each pixel 0..255.
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;

  int64_t image_bytes() const { return channels * rows * cols; }
  const uint8_t* image(int64_t i) const {
    return pixels.data() + static_cast<size_t>(i * image_bytes());
  }
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_DATA_IMAGE_SET_H_
