// Tests for worker/dataset.h: loading by name, normalisation, batches,
// limits, and the sharded batch iterator.
#include "worker/torch/dataset.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/support/test_files.h"

namespace cddp::worker {
namespace {

using testing::MakeIdxImages;
using testing::MakeIdxLabels;
using testing::TempDir;
using testing::WriteFile;

RawImageSet Tiny(int64_t count) {
  RawImageSet raw;
  raw.count = count;
  raw.channels = 1;
  raw.rows = 2;
  raw.cols = 2;
  raw.num_classes = 10;
  for (int64_t i = 0; i < count; ++i) {
    for (int p = 0; p < 4; ++p) raw.pixels.push_back(static_cast<uint8_t>(i));
    raw.labels.push_back(static_cast<uint8_t>(i % 10));
  }
  return raw;
}

TEST(DatasetTest, UnknownNameAndMissingFiles) {
  TempDir tmp;
  EXPECT_EQ(
      Dataset::Load("imagenet", tmp.path(), Split::kTrain).status().code(),
      absl::StatusCode::kInvalidArgument);
  absl::Status s = Dataset::Load("mnist", tmp.path(), Split::kTest).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("t10k-images-idx3-ubyte"), std::string::npos) << s;
}

TEST(DatasetTest, LoadsIdxFromSubdirectoryWithLimit) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.File("fashion-mnist"));
  WriteFile(tmp.File("fashion-mnist/train-images-idx3-ubyte"),
            MakeIdxImages(6, 28, 28));
  WriteFile(tmp.File("fashion-mnist/train-labels-idx1-ubyte.gz"),
            testing::Gzip(MakeIdxLabels({0, 1, 2, 3, 4, 5})));
  DatasetOptions options;
  options.limit = 4;
  absl::StatusOr<Dataset> d =
      Dataset::Load("fashion-mnist", tmp.path(), Split::kTrain, options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 4);
  EXPECT_FALSE(d->synthetic());
  EXPECT_NE(d->description().find("fashion-mnist"), std::string::npos);
  absl::StatusOr<Batch> b = d->Slice(0, 4);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->images.sizes(), (std::vector<int64_t>{4, 1, 28, 28}));
  // Pixel (1, 0) is 7: normalised with Fashion-MNIST's constants.
  const float expected = (7 / 255.0f - 0.2860f) / 0.3530f;
  EXPECT_FLOAT_EQ(b->images[1][0][0][0].item<float>(), expected);
}

TEST(DatasetTest, NormalisesAndGathers) {
  Normalization norm{{0.5f}, {0.25f}};
  absl::StatusOr<Dataset> d = Dataset::FromRaw(Tiny(20), norm, "tiny");
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<int64_t> idx = {3, 17, 3};
  absl::StatusOr<Batch> b = d->Gather(idx);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->images.sizes(), (std::vector<int64_t>{3, 1, 2, 2}));
  EXPECT_EQ(b->images.scalar_type(), at::kFloat);
  EXPECT_EQ(b->labels.scalar_type(), at::kLong);
  EXPECT_EQ(b->labels[1].item<int64_t>(), 7);
  EXPECT_FLOAT_EQ(b->images[1][0][1][1].item<float>(),
                  (17 / 255.0f - 0.5f) / 0.25f);
  EXPECT_EQ(d->Gather(std::vector<int64_t>{20}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Gather({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Slice(5, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Slice(0, 21).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DatasetTest, FromRawRejectsInconsistentSets) {
  RawImageSet raw = Tiny(3);
  raw.labels[1] = 10;
  EXPECT_FALSE(Dataset::FromRaw(raw, {}, "").ok());
  raw = Tiny(3);
  raw.pixels.pop_back();
  EXPECT_FALSE(Dataset::FromRaw(raw, {}, "").ok());
  EXPECT_FALSE(Dataset::FromRaw(Tiny(3), {{0}, {0}}, "").ok());
}

TEST(DatasetTest, SyntheticCifarIsFlaggedAndNormalised) {
  TempDir tmp;
  DatasetOptions options;
  options.synthetic_test_count = 50;
  absl::StatusOr<Dataset> d =
      Dataset::Load("cifar10", tmp.path(), Split::kTest, options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->synthetic());
  EXPECT_NE(d->description().find("SYNTHETIC"), std::string::npos);
  absl::StatusOr<Batch> b = d->Slice(0, 50);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->images.sizes(), (std::vector<int64_t>{50, 3, 32, 32}));
  const double mean = b->images.mean().item<double>();
  EXPECT_LT(std::abs(mean), 1.5);
}

TEST(DatasetTest, RealMnistBatchStatistics) {
  const std::string dir = std::string(CDDP_DATA_DIR);
  absl::StatusOr<Dataset> d = Dataset::Load("mnist", dir, Split::kTest);
  if (absl::IsNotFound(d.status())) GTEST_SKIP() << d.status();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 10000);
  absl::StatusOr<Batch> b = d->Slice(0, 10000);
  ASSERT_TRUE(b.ok());
  // The standard constants normalise the set to about zero mean, unit std.
  EXPECT_NEAR(b->images.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(b->images.std().item<double>(), 1.0, 0.05);
}

TEST(BatchIteratorTest, ShardedBatchesAndRestore) {
  absl::StatusOr<Dataset> d = Dataset::FromRaw(Tiny(100), {}, "tiny");
  ASSERT_TRUE(d.ok());
  WorkerSamplerOptions o;
  o.worker_id = 1;
  o.num_workers = 2;
  o.batch_size = 8;
  o.seed = 4;
  absl::StatusOr<BatchIterator> it = BatchIterator::Create(*d, o);
  ASSERT_TRUE(it.ok()) << it.status();
  EXPECT_EQ(it->sampler().batches_per_epoch(), 7);  // 50 per worker
  std::vector<int64_t> labels;
  DataPosition saved;
  at::Tensor after_restore;
  for (int i = 0; i < 10; ++i) {
    DataPosition at;
    absl::StatusOr<Batch> b = it->Next(&at);
    ASSERT_TRUE(b.ok());
    if (i == 8) {
      saved = at;
      after_restore = b->images;
    }
  }
  EXPECT_EQ(saved, (DataPosition{1, 1}));
  absl::StatusOr<BatchIterator> again = BatchIterator::Create(*d, o);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->Seek(saved).ok());
  absl::StatusOr<Batch> b = again->Next();
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(at::equal(b->images, after_restore));
}

}  // namespace
}  // namespace cddp::worker
