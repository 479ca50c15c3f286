// Tests for checkpoint records and atomic file writes.
#include "common/record_file.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace cddp::common {
namespace {

TEST(RecordFileTest, RoundTripAndRefusals) {
  const std::string rec = MakeRecord("TEST", 3, "hello");
  auto payload = ParseRecord(rec, "TEST", 3);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(std::string(*payload), "hello");
  EXPECT_EQ(ParseRecord(rec, "OTHR", 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRecord(rec, "TEST", 4).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      ParseRecord(rec.substr(0, rec.size() - 1), "TEST", 3).status().code(),
      absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseRecord(rec + "x", "TEST", 3).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseRecord("garbage garbage garbage garbage!!", "TEST", 3)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RecordFileTest, AtomicWriteReplacesAndReads) {
  const auto dir = std::filesystem::path(testing::TempDir()) / "cddp_rec";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "x.rec").string();
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  auto back = ReadWholeFile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "two");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(ReadWholeFile((dir / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(WriteFileAtomically((dir / "no/such/dir/f").string(), "x").ok());
}

}  // namespace
}  // namespace cddp::common
