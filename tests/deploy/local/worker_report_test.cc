// Tests for reading a worker's --result_file in the launcher.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/record_file.h"
#include "deploy/local/launcher.h"

namespace cddp::local {
namespace {

std::string Write(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::path(testing::TempDir()) / "cddp_report";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  EXPECT_TRUE(common::WriteFileAtomically(path, text).ok());
  return path;
}

constexpr char kComplete[] =
    "worker=0\nsteps=150\ntest_accuracy=0.9512\ntest_loss=0.2\n"
    "final_loss=0.1\nuplink_wire_bytes=1000\nuplink_dense_bytes=75000\n"
    "downlink_bytes=9\nseconds=12.5\nparams_match_servers=1\n"
    "params_crc32=0a1b2c3d\nstopped_early=0\n";

TEST(WorkerReportTest, ReadsWhatTheWorkerWrote) {
  absl::StatusOr<WorkerReport> r =
      ReadWorkerReport(Write("complete.result", kComplete));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->seen);
  EXPECT_EQ(r->steps, 150u);
  EXPECT_DOUBLE_EQ(r->test_accuracy, 0.9512);
  EXPECT_EQ(r->uplink_wire_bytes, 1000u);
  EXPECT_EQ(r->uplink_dense_bytes, 75000u);
  EXPECT_EQ(r->downlink_bytes, 9u);
  EXPECT_EQ(r->params_crc32, "0a1b2c3d");
  EXPECT_TRUE(r->params_match_servers);
}

TEST(WorkerReportTest, MissingFileOrEntryIsAnError) {
  EXPECT_EQ(
      ReadWorkerReport(testing::TempDir() + "/no_such.result").status().code(),
      absl::StatusCode::kNotFound);
  std::string text = kComplete;
  text.erase(text.find("steps=150\n"), 10);
  const std::string path = Write("no_steps.result", text);
  const absl::Status s = ReadWorkerReport(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("steps"), std::string::npos) << s;
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
}

}  // namespace
}  // namespace cddp::local
