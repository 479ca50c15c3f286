// Tests for worker/cifar_reader.h: crafted binary batches (good, truncated,
// bad labels, missing files), directory discovery, and the synthetic set
// (deterministic, flagged, learnable).
#include "worker/data/cifar_reader.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/test_files.h"

namespace cddp::worker {
namespace {

using testing::TempDir;
using testing::WriteFile;

// `n` records; record r has label labels[r % size] and pixel p = (r + p) & 255.
std::string CifarBatch(int n, const std::vector<uint8_t>& labels) {
  std::string out;
  for (int r = 0; r < n; ++r) {
    out.push_back(static_cast<char>(labels[r % labels.size()]));
    for (int p = 0; p < 3072; ++p)
      out.push_back(static_cast<char>((r + p) & 255));
  }
  return out;
}

void WriteSplit(const std::string& dir, bool train, int per_file) {
  std::filesystem::create_directories(dir);
  for (const std::string& name : CifarBatchNames(train)) {
    WriteFile(dir + "/" + name, CifarBatch(per_file, {0, 9, 4}));
  }
}

TEST(CifarReaderTest, ParsesRecords) {
  RawImageSet set;
  ASSERT_TRUE(ParseCifarBatch(CifarBatch(3, {7, 2}), "b", &set).ok());
  ASSERT_TRUE(ParseCifarBatch(CifarBatch(2, {5}), "c", &set).ok());
  EXPECT_EQ(set.count, 5);
  EXPECT_EQ(set.channels, 3);
  EXPECT_EQ(set.rows, 32);
  EXPECT_EQ(set.cols, 32);
  EXPECT_EQ(set.num_classes, 10);
  EXPECT_EQ(set.labels, (std::vector<uint8_t>{7, 2, 7, 5, 5}));
  ASSERT_EQ(set.pixels.size(), 5u * 3072);
  // Record 1 of the first batch: R plane first, then G (offset 1024).
  EXPECT_EQ(set.image(1)[0], 1);
  EXPECT_EQ(set.image(1)[1024], (1 + 1024) & 255);
  EXPECT_EQ(set.image(4)[3071], (1 + 3071) & 255);  // 2nd record of "c"
}

TEST(CifarReaderTest, TruncatedBatch) {
  RawImageSet set;
  const std::string batch = CifarBatch(2, {1});
  absl::Status s = ParseCifarBatch(batch.substr(0, batch.size() - 100),
                                   "data_batch_3.bin", &set);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("data_batch_3.bin"), std::string::npos);
  EXPECT_EQ(set.count, 0);
  EXPECT_EQ(ParseCifarBatch("", "empty", &set).code(),
            absl::StatusCode::kDataLoss);
}

TEST(CifarReaderTest, BadLabelChangesNothing) {
  RawImageSet set;
  ASSERT_TRUE(ParseCifarBatch(CifarBatch(1, {3}), "ok", &set).ok());
  absl::Status s = ParseCifarBatch(CifarBatch(3, {1, 1, 10}), "bad.bin", &set);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad.bin"), std::string::npos);
  EXPECT_NE(s.message().find("record 2"), std::string::npos);
  EXPECT_EQ(set.count, 1);
  EXPECT_EQ(set.pixels.size(), 3072u);
}

TEST(CifarReaderTest, ReadsSplitsFromDirectoryAndSubdirectory) {
  TempDir tmp;
  const std::string dir = tmp.File("cifar-10-batches-bin");
  WriteSplit(dir, true, 4);
  WriteSplit(dir, false, 3);
  for (bool train : {true, false}) {
    absl::StatusOr<CifarLoadResult> r = LoadCifar10(tmp.path(), train, {});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->synthetic);
    EXPECT_EQ(r->set.count, train ? 20 : 3);
    EXPECT_NE(r->description.find(dir), std::string::npos) << r->description;
  }
}

TEST(CifarReaderTest, MissingBatchIsNotFoundAndNamed) {
  TempDir tmp;
  WriteSplit(tmp.path(), true, 1);
  std::filesystem::remove(tmp.File("data_batch_4.bin"));
  absl::StatusOr<CifarLoadResult> r = LoadCifar10(tmp.path(), true, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("data_batch_4.bin"), std::string::npos);
  // Train files present but no test batch: the test split is missing, not
  // silently synthetic.
  r = LoadCifar10(tmp.path(), false, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST(CifarReaderTest, CorruptBatchOnDiskIsNamed) {
  TempDir tmp;
  WriteSplit(tmp.path(), false, 2);
  WriteFile(tmp.File("test_batch.bin"), CifarBatch(2, {1}).substr(1));
  absl::StatusOr<CifarLoadResult> r = LoadCifar10(tmp.path(), false, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(tmp.File("test_batch.bin")),
            std::string::npos);
}

TEST(CifarReaderTest, FallsBackToSyntheticAndSaysSo) {
  TempDir tmp;
  CifarLoadOptions options;
  options.seed = 5;
  options.synthetic_train_count = 64;
  absl::StatusOr<CifarLoadResult> r = LoadCifar10(tmp.path(), true, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->synthetic);
  EXPECT_EQ(r->set.count, 64);
  EXPECT_NE(r->description.find("SYNTHETIC"), std::string::npos);
  EXPECT_NE(r->description.find(tmp.path()), std::string::npos);
  options.allow_synthetic = false;
  EXPECT_EQ(LoadCifar10(tmp.path(), true, options).status().code(),
            absl::StatusCode::kNotFound);
  options.allow_synthetic = true;
  r = LoadCifar10("", false, options);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->synthetic);
  EXPECT_EQ(r->set.count, options.synthetic_test_count);
}

TEST(SyntheticCifarTest, Deterministic) {
  const RawImageSet a = MakeSyntheticCifar(200, 42, true);
  const RawImageSet b = MakeSyntheticCifar(200, 42, true);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_NE(MakeSyntheticCifar(200, 43, true).pixels, a.pixels);
  EXPECT_NE(MakeSyntheticCifar(200, 42, false).pixels, a.pixels);
  EXPECT_EQ(a.count, 200);
  EXPECT_EQ(a.pixels.size(), 200u * 3072);
  std::array<int, 10> per_class{};
  for (uint8_t label : a.labels) {
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  for (int n : per_class) EXPECT_GT(n, 5);
}

// The classes must be separable: even a nearest-class-mean classifier,
// fitted on one seed's train set, labels another seed's test set well.
TEST(SyntheticCifarTest, Learnable) {
  const RawImageSet train = MakeSyntheticCifar(3000, 1, true);
  const RawImageSet test = MakeSyntheticCifar(1000, 2, false);
  std::vector<std::vector<double>> mean(10, std::vector<double>(3072, 0.0));
  std::vector<int> n(10, 0);
  for (int64_t i = 0; i < train.count; ++i) {
    ++n[train.labels[i]];
    for (int p = 0; p < 3072; ++p)
      mean[train.labels[i]][p] += train.image(i)[p];
  }
  for (int c = 0; c < 10; ++c) {
    for (double& v : mean[c]) v /= n[c];
  }
  int correct = 0;
  for (int64_t i = 0; i < test.count; ++i) {
    int best = 0;
    double best_d = 1e300;
    for (int c = 0; c < 10; ++c) {
      double d = 0;
      for (int p = 0; p < 3072; ++p) {
        const double e = test.image(i)[p] - mean[c][p];
        d += e * e;
      }
      if (d < best_d) best_d = d, best = c;
    }
    correct += best == test.labels[i];
  }
  const double accuracy = static_cast<double>(correct) / test.count;
  RecordProperty("nearest_mean_accuracy", std::to_string(accuracy));
  EXPECT_GT(accuracy, 0.6) << accuracy;
}

}  // namespace
}  // namespace cddp::worker
