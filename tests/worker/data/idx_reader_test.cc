// Tests for worker/idx_reader.h and worker/gzip_file.h: the real MNIST and
// Fashion-MNIST files (when setup has put them in data/), and crafted
// truncated, corrupt and mismatched files, plain and gzipped.
#include "worker/data/idx_reader.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <string>

#include "tests/support/test_files.h"
#include "worker/data/gzip_file.h"

namespace cddp::worker {
namespace {

using testing::Gzip;
using testing::MakeIdxImages;
using testing::MakeIdxLabels;
using testing::TempDir;
using testing::WriteFile;

bool HasRealData(const std::string& dir) {
  return FindPlainOrGz(dir + "/train-images-idx3-ubyte").ok();
}

void CheckRealSplit(const std::string& dir, bool train, int64_t count) {
  absl::StatusOr<RawImageSet> set = ReadIdxSplit(dir, train, 10);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->count, count);
  EXPECT_EQ(set->channels, 1);
  EXPECT_EQ(set->rows, 28);
  EXPECT_EQ(set->cols, 28);
  EXPECT_EQ(set->pixels.size(), static_cast<size_t>(count * 28 * 28));
  ASSERT_EQ(set->labels.size(), static_cast<size_t>(count));
  std::array<int64_t, 10> per_class{};
  for (uint8_t label : set->labels) {
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  // Every class is well represented in both data sets.
  for (int64_t n : per_class) EXPECT_GT(n, count / 20);
}

TEST(IdxReaderTest, RealMnist) {
  const std::string dir = std::string(CDDP_DATA_DIR) + "/mnist";
  if (!HasRealData(dir)) GTEST_SKIP() << "no MNIST in " << dir;
  CheckRealSplit(dir, /*train=*/true, 60000);
  CheckRealSplit(dir, /*train=*/false, 10000);
}

TEST(IdxReaderTest, RealFashionMnist) {
  const std::string dir = std::string(CDDP_DATA_DIR) + "/fashion-mnist";
  if (!HasRealData(dir)) GTEST_SKIP() << "no Fashion-MNIST in " << dir;
  CheckRealSplit(dir, /*train=*/true, 60000);
  CheckRealSplit(dir, /*train=*/false, 10000);
}

TEST(IdxReaderTest, CraftedPairPlainAndGzipped) {
  TempDir tmp;
  const std::vector<uint8_t> labels = {3, 1, 4, 1, 5};
  const std::string images = MakeIdxImages(5, 4, 3);
  for (bool gz : {false, true}) {
    const std::string suffix = gz ? ".gz" : "";
    WriteFile(tmp.File("train-images-idx3-ubyte" + suffix),
              gz ? Gzip(images) : images);
    WriteFile(tmp.File("train-labels-idx1-ubyte" + suffix),
              gz ? Gzip(MakeIdxLabels(labels)) : MakeIdxLabels(labels));
    absl::StatusOr<RawImageSet> set = ReadIdxSplit(tmp.path(), true, 10);
    ASSERT_TRUE(set.ok()) << set.status();
    EXPECT_EQ(set->count, 5);
    EXPECT_EQ(set->rows, 4);
    EXPECT_EQ(set->cols, 3);
    EXPECT_EQ(set->num_classes, 10);
    EXPECT_EQ(set->labels, labels);
    EXPECT_EQ(set->image(2)[1], (2 * 7 + 1) % 256);
    std::filesystem::remove(tmp.File("train-images-idx3-ubyte" + suffix));
    std::filesystem::remove(tmp.File("train-labels-idx1-ubyte" + suffix));
  }
}

TEST(IdxReaderTest, MissingFileIsNotFoundAndNamed) {
  TempDir tmp;
  absl::StatusOr<RawImageSet> set = ReadIdxSplit(tmp.path(), false, 10);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(set.status().message().find("t10k-images-idx3-ubyte"),
            std::string::npos)
      << set.status();
}

TEST(IdxReaderTest, TruncatedData) {
  const std::string images = MakeIdxImages(3, 5, 5);
  absl::StatusOr<IdxImages> r =
      ParseIdxImages(images.substr(0, images.size() - 1), "imgs.idx");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("imgs.idx"), std::string::npos);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
}

TEST(IdxReaderTest, TruncatedHeader) {
  const std::string images = MakeIdxImages(3, 5, 5);
  for (size_t len : {0, 3, 4, 15}) {
    EXPECT_EQ(ParseIdxImages(images.substr(0, len), "x").status().code(),
              absl::StatusCode::kDataLoss)
        << len;
  }
  EXPECT_EQ(
      ParseIdxLabels(MakeIdxLabels({1}).substr(0, 6), "y", 10).status().code(),
      absl::StatusCode::kDataLoss);
}

TEST(IdxReaderTest, WrongMagic) {
  // A label file where images are expected, and vice versa.
  absl::StatusOr<IdxImages> r = ParseIdxImages(MakeIdxLabels({1, 2}), "l.idx");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("l.idx"), std::string::npos);
  EXPECT_EQ(ParseIdxLabels(MakeIdxImages(2, 2, 2), "i.idx", 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string images = MakeIdxImages(2, 2, 2);
  images[2] = 0x0d;  // float data type
  EXPECT_EQ(ParseIdxImages(images, "f.idx").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IdxReaderTest, TrailingBytesAndZeroDims) {
  EXPECT_EQ(ParseIdxImages(MakeIdxImages(2, 3, 3) + "x", "t").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseIdxImages(MakeIdxImages(0, 3, 3), "z").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseIdxImages(MakeIdxImages(2, 0, 3), "z").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IdxReaderTest, HugeDimsDoNotAllocate) {
  std::string bogus;
  testing::AppendBigEndian(0x00000803, &bogus);
  for (int d = 0; d < 3; ++d) testing::AppendBigEndian(0xffffffffu, &bogus);
  const absl::Status s = ParseIdxImages(bogus, "bogus").status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bogus"), std::string::npos);
}

TEST(IdxReaderTest, LabelOutOfRange) {
  absl::StatusOr<std::vector<uint8_t>> r =
      ParseIdxLabels(MakeIdxLabels({0, 9, 10, 2}), "labels.idx", 10);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("labels.idx"), std::string::npos);
  EXPECT_NE(r.status().message().find("index 2"), std::string::npos);
}

TEST(IdxReaderTest, ImageLabelCountMismatchNamesBothFiles) {
  TempDir tmp;
  WriteFile(tmp.File("i"), MakeIdxImages(4, 2, 2));
  WriteFile(tmp.File("l"), MakeIdxLabels({1, 2, 3}));
  absl::StatusOr<RawImageSet> set =
      ReadIdxPair(tmp.File("i"), tmp.File("l"), 10);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find(tmp.File("i")), std::string::npos);
  EXPECT_NE(set.status().message().find(tmp.File("l")), std::string::npos);
}

TEST(IdxReaderTest, CorruptFileOnDiskIsNamed) {
  TempDir tmp;
  const std::string images = MakeIdxImages(4, 2, 2);
  WriteFile(tmp.File("i.gz"), Gzip(images.substr(0, images.size() - 3)));
  WriteFile(tmp.File("l"), MakeIdxLabels({1, 2, 3, 4}));
  absl::StatusOr<RawImageSet> set =
      ReadIdxPair(tmp.File("i.gz"), tmp.File("l"), 10);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(set.status().message().find(tmp.File("i.gz")), std::string::npos);
}

TEST(GzipFileTest, RoundTripAndConcatenatedMembers) {
  const std::string data = MakeIdxImages(50, 10, 10);
  absl::StatusOr<std::string> out = Gunzip(Gzip(data), "a.gz");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, data);
  out = Gunzip(Gzip("abc") + Gzip("def"), "b.gz");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "abcdef");
}

TEST(GzipFileTest, TruncatedGzip) {
  const std::string gz = Gzip(MakeIdxImages(50, 10, 10));
  for (size_t len : {size_t{2}, size_t{10}, gz.size() / 2, gz.size() - 1}) {
    absl::StatusOr<std::string> out = Gunzip(gz.substr(0, len), "t.gz");
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << len;
    EXPECT_NE(out.status().message().find("t.gz"), std::string::npos);
  }
}

TEST(GzipFileTest, CorruptGzip) {
  std::string gz = Gzip(MakeIdxImages(50, 10, 10));
  // Damage the deflate data (flipping bits in the middle) and, separately,
  // the CRC in the trailer: both must be caught.
  std::string body = gz;
  for (size_t i = body.size() / 3; i < body.size() / 3 + 8; ++i)
    body[i] ^= 0x5a;
  EXPECT_EQ(Gunzip(body, "c.gz").status().code(), absl::StatusCode::kDataLoss);
  std::string crc = gz;
  crc[crc.size() - 6] ^= 0x01;
  EXPECT_EQ(Gunzip(crc, "c.gz").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Gunzip(gz + "junk", "c.gz").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(GzipFileTest, OutputLimit) {
  const std::string gz = Gzip(std::string(1 << 20, 'a'));
  EXPECT_EQ(Gunzip(gz, "big.gz", 1000).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace cddp::worker
