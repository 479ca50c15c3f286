// Tests for the worker checkpoint: round trip, and refusal (as a whole) of
// missing, corrupt, truncated or foreign files.
#include "worker/worker_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/record_file.h"

namespace cddp::worker {
namespace {

std::string FreshDir(const std::string& name) {
  const auto dir = std::filesystem::path(testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  return dir.string();
}

common::ErrorFeedback SomeResiduals() {
  common::ErrorFeedback ef({5, 3});
  common::SparseSelection sent;
  EXPECT_TRUE(
      ef.Compress(0, std::vector<float>{1, 2, 3, 4, 5}, 2, {}, &sent).ok());
  EXPECT_TRUE(
      ef.Compress(1, std::vector<float>{-1, 0.5f, 7}, 1, {}, &sent).ok());
  return ef;
}

TEST(WorkerCheckpointTest, RoundTrip) {
  const std::string dir = FreshDir("ckpt_round_trip");
  const common::ErrorFeedback ef = SomeResiduals();
  ASSERT_TRUE(SaveWorkerCheckpoint(dir, 3, 42, {1, 7}, ef).ok());
  auto loaded = LoadWorkerCheckpoint(dir, 3);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  const WorkerCheckpoint& c = **loaded;
  EXPECT_EQ(c.worker_id, 3u);
  EXPECT_EQ(c.step, 42u);
  EXPECT_EQ(c.position, (DataPosition{1, 7}));
  ASSERT_EQ(c.residuals.total_size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(c.residuals.residual()[i], ef.residual()[i]) << i;
  }
}

TEST(WorkerCheckpointTest, TheVelocityRoundTrips) {
  const std::string dir = FreshDir("ckpt_velocity");
  const std::vector<float> velocity = {0.5f, -1, 0, 2, 3, 4, 5, -6};
  ASSERT_TRUE(
      SaveWorkerCheckpoint(dir, 0, 9, {0, 9}, SomeResiduals(), velocity).ok());
  auto loaded = LoadWorkerCheckpoint(dir, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->velocity, velocity);
  EXPECT_EQ((*loaded)->residuals.total_size(), 8u);
}

// A checkpoint written before the velocity existed (format version 1: no
// velocity field) still loads, with no velocity.
TEST(WorkerCheckpointTest, AVersionOneCheckpointStillLoads) {
  const std::string dir = FreshDir("ckpt_v1");
  std::filesystem::create_directories(dir);
  const common::ErrorFeedback ef = SomeResiduals();
  std::string payload;
  common::AppendU32(2, &payload);   // worker
  common::AppendU64(11, &payload);  // step
  common::AppendU64(0, &payload);   // epoch
  common::AppendU64(11, &payload);  // batch
  payload += ef.Serialize();
  ASSERT_TRUE(
      common::WriteFileAtomically(WorkerCheckpointPath(dir, 2),
                                  common::MakeRecord("WRKR", 1, payload))
          .ok());
  auto loaded = LoadWorkerCheckpoint(dir, 2);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->step, 11u);
  EXPECT_TRUE((*loaded)->velocity.empty());
  EXPECT_EQ((*loaded)->residuals.residual()[0], ef.residual()[0]);
}

TEST(WorkerCheckpointTest, MissingIsNotAnError) {
  auto loaded = LoadWorkerCheckpoint(FreshDir("ckpt_missing"), 0);
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST(WorkerCheckpointTest, CorruptTruncatedOrForeignFilesAreRefused) {
  const std::string dir = FreshDir("ckpt_corrupt");
  ASSERT_TRUE(SaveWorkerCheckpoint(dir, 0, 5, {0, 5}, SomeResiduals()).ok());
  const std::string path = WorkerCheckpointPath(dir, 0);
  const std::string good = *common::ReadWholeFile(path);
  auto expect_refused = [&](const std::string& bytes, const std::string& why) {
    ASSERT_TRUE(common::WriteFileAtomically(path, bytes).ok());
    auto loaded = LoadWorkerCheckpoint(dir, 0);
    EXPECT_FALSE(loaded.ok()) << why;
    if (!loaded.ok()) {
      EXPECT_NE(loaded.status().message().find(path), std::string::npos)
          << "the error names the file: " << loaded.status();
    }
  };
  expect_refused(good.substr(0, good.size() / 2), "truncated");
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 1;
  expect_refused(flipped, "payload bit flip");
  expect_refused("not a checkpoint at all, just some text....", "foreign");
  // Another worker's checkpoint under this worker's name.
  ASSERT_TRUE(SaveWorkerCheckpoint(dir, 1, 5, {0, 5}, SomeResiduals()).ok());
  std::filesystem::copy_file(WorkerCheckpointPath(dir, 1), path,
                             std::filesystem::copy_options::overwrite_existing);
  auto other = LoadWorkerCheckpoint(dir, 0);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cddp::worker
