// Shard checkpoints, resuming: a shard resumed from a checkpoint and fed
// the same pushes ends bit-identical to one that never stopped (optimizer
// state and the compressed downlink's copy included); periodic snapshots
// land at multiples of checkpoint_every; files of older versions still load.
// The refusals and the Server's own checkpoints are in
// shard_checkpoint_refusal_test.cc.
#include "server/shard/shard_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/record_file.h"
#include "common/wire/wire_codec.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/shard/shard_state.h"
#include "tests/server/shard/shard_checkpoint_fixture.h"
#include "tests/support/test_util.h"

namespace cddp::server {
namespace {

using namespace checkpoint_testing;  // NOLINT(build/namespaces): the fixture

// the resumed shard serves the same copy and sends the same replies.
TEST(ShardCheckpointTest, ResumedShardEndsBitIdenticalToOneThatNeverStopped) {
  for (const DownlinkMode downlink :
       {DownlinkMode::kDense, DownlinkMode::kCompressed}) {
    for (const OptimizerOptions& opt : Optimizers()) {
      SCOPED_TRACE(::testing::Message()
                   << opt.DebugString() << " " << DownlinkModeName(downlink));
      const std::string dir = TempDir("roundtrip");
      const auto init = testing::RandomParams(5, kN);
      CollectingSink sink;
      Shard original(Options(opt, downlink), &sink, 4);
      ASSERT_TRUE(original.JoinAll(init).ok());
      for (uint64_t step = 0; step < 10; ++step) original.Round(step);
      // Periodic snapshots at steps 4 and 8, each as of that step.
      ASSERT_EQ(sink.snapshots.size(), 2u);
      EXPECT_EQ(sink.snapshots[0]->step, 4u);
      EXPECT_EQ(sink.snapshots[1]->step, 8u);
      EXPECT_EQ(sink.snapshots[0]->workers_copy.size(),
                downlink == DownlinkMode::kCompressed ? kN : 0u);
      ASSERT_TRUE(SaveShardCheckpoint(dir, *sink.snapshots[0]).ok());

      auto loaded = LoadShardCheckpoint(dir, Options(opt, downlink));
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      ASSERT_TRUE(loaded->has_value());
      EXPECT_EQ((*loaded)->rule_state.steps, 4u);
      EXPECT_EQ((*loaded)->workers_copy, sink.snapshots[0]->workers_copy);
      Shard resumed(Options(opt, downlink));
      ASSERT_TRUE(resumed.state.Restore(**loaded).ok());
      EXPECT_EQ(resumed.state.step(), 4u);
      // Joining workers keep the checkpoint's values, not theirs.
      ASSERT_TRUE(resumed.JoinAll(testing::RandomParams(99, kN)).ok());
      EXPECT_EQ(resumed.Values(), downlink == DownlinkMode::kCompressed
                                      ? (*loaded)->workers_copy
                                      : (*loaded)->values);
      for (uint64_t step = 4; step < 10; ++step) resumed.Round(step);
      const auto a = original.Values(), b = resumed.Values();
      EXPECT_EQ(std::memcmp(a.data(), b.data(), kN * sizeof(float)), 0);
      // And the state continues identically: compare full snapshots.
      auto sa = original.state.Snapshot(), sb = resumed.state.Snapshot();
      ASSERT_TRUE(sa.ok() && sb.ok());
      EXPECT_EQ((*sa)->rule_state.fields, (*sb)->rule_state.fields);
      EXPECT_EQ((*sa)->rule_state.steps, (*sb)->rule_state.steps);
      EXPECT_EQ((*sa)->values, (*sb)->values);
      EXPECT_EQ((*sa)->workers_copy, (*sb)->workers_copy);
      std::filesystem::remove_all(dir);
    }
  }
}

// A checkpoint without a workers' copy (version 2, or another downlink)
// resumes a compressed shard with the copy at the master values.
TEST(ShardCheckpointTest, CompressedShardWithoutCopyStartsItAtTheMaster) {
  OptimizerOptions opt;
  opt.lr = 0.05f, opt.momentum = 0.9f;
  Shard dense(Options(opt));
  ASSERT_TRUE(dense.JoinAll(testing::RandomParams(8, kN)).ok());
  for (uint64_t step = 0; step < 3; ++step) dense.Round(step);
  auto snap = dense.state.Snapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE((*snap)->workers_copy.empty());
  Shard compressed(Options(opt, DownlinkMode::kCompressed));
  ASSERT_TRUE(compressed.state.Restore(**snap).ok());
  EXPECT_EQ(compressed.Values(), (*snap)->values);
  // A copy of the wrong size is refused.
  (*snap)->workers_copy.assign(kN - 1, 0.0f);
  Shard other(Options(opt, DownlinkMode::kCompressed));
  EXPECT_EQ(other.state.Restore(**snap).code(),
            absl::StatusCode::kInvalidArgument);
}

// The version-1 record (two fixed optimizer buffers, before the update
// rules saved named fields), written here as the old encoder wrote it.
std::string EncodeVersionOne(const ShardCheckpoint& c) {
  const bool adam = c.optimizer.kind == OptimizerKind::kAdam;
  const auto field = [&](const char* name) {
    const auto it = c.rule_state.fields.find(name);
    return it == c.rule_state.fields.end() ? std::vector<float>{} : it->second;
  };
  const std::vector<float> buf1 = field(adam ? "exp_avg" : "momentum_buffer");
  const std::vector<float> buf2 =
      adam ? field("exp_avg_sq") : std::vector<float>{};
  std::string p;
  common::AppendU32(c.shard_index, &p);
  common::AppendU32(c.num_shards, &p);
  common::AppendU32(c.num_workers, &p);
  common::AppendU64(c.layout.total_size, &p);
  for (const auto* v : {&c.layout.shard_bounds, &c.layout.tensor_sizes}) {
    common::AppendU32(static_cast<uint32_t>(v->size()), &p);
    for (uint64_t x : *v) common::AppendU64(x, &p);
  }
  common::AppendU64(c.step, &p);
  common::AppendU32(adam ? 1 : 0, &p);
  common::AppendU32(c.optimizer.nesterov ? 1 : 0, &p);
  for (float f :
       {c.optimizer.lr, c.optimizer.momentum, c.optimizer.weight_decay,
        c.optimizer.beta1, c.optimizer.beta2, c.optimizer.epsilon}) {
    common::AppendFloats(&f, 1, &p);
  }
  common::AppendU64(c.rule_state.steps, &p);
  for (const auto* v : {&buf1, &buf2, &c.values}) {
    common::AppendU64(v->size(), &p);
    common::AppendFloats(v->data(), v->size(), &p);
  }
  return common::MakeRecord("SHRD", 1, p);
}

// A checkpoint written before the rules named their state still loads,
// its buffers under the rules' names, and the shard resumed from it ends
// bit-identical to one that never stopped.
TEST(ShardCheckpointTest, VersionOneCheckpointStillLoads) {
  for (const OptimizerOptions& opt : Optimizers()) {
    SCOPED_TRACE(opt.DebugString());
    const auto init = testing::RandomParams(6, kN);
    Shard original(Options(opt));
    ASSERT_TRUE(original.JoinAll(init).ok());
    for (uint64_t step = 0; step < 4; ++step) original.Round(step);
    auto snap = original.state.Snapshot();
    ASSERT_TRUE(snap.ok());

    auto decoded = DecodeShardCheckpoint(EncodeVersionOne(**snap));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->rule_state.steps, 4u);
    EXPECT_EQ(decoded->rule_state.fields, (*snap)->rule_state.fields);
    EXPECT_EQ(decoded->values, (*snap)->values);
    // And the current encoding round-trips the same state.
    auto again = DecodeShardCheckpoint(EncodeShardCheckpoint(**snap));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->rule_state.fields, (*snap)->rule_state.fields);

    Shard resumed(Options(opt));
    ASSERT_TRUE(resumed.state.Restore(*decoded).ok());
    ASSERT_TRUE(resumed.JoinAll(init).ok());
    for (uint64_t step = 4; step < 8; ++step) {
      original.Round(step);
      resumed.Round(step);
    }
    const auto a = original.Values(), b = resumed.Values();
    EXPECT_EQ(std::memcmp(a.data(), b.data(), kN * sizeof(float)), 0);
  }
}

// Version 2 is version 3 without the workers' copy: a dense shard's
// version-3 payload less its empty copy (a u64 zero) is a version-2 record.
TEST(ShardCheckpointTest, VersionTwoCheckpointStillLoads) {
  OptimizerOptions opt;
  opt.lr = 0.05f, opt.momentum = 0.9f;
  Shard shard(Options(opt));
  ASSERT_TRUE(shard.JoinAll(testing::RandomParams(4, kN)).ok());
  for (uint64_t step = 0; step < 3; ++step) shard.Round(step);
  auto snap = shard.state.Snapshot();
  ASSERT_TRUE(snap.ok());
  const std::string v3 = EncodeShardCheckpoint(**snap);
  auto payload = common::ParseRecord(v3, "SHRD", 3);
  ASSERT_TRUE(payload.ok()) << payload.status();
  const std::string v2 = common::MakeRecord(
      "SHRD", 2, payload->substr(0, payload->size() - sizeof(uint64_t)));
  auto decoded = DecodeShardCheckpoint(v2);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->values, (*snap)->values);
  EXPECT_EQ(decoded->rule_state.fields, (*snap)->rule_state.fields);
  EXPECT_TRUE(decoded->workers_copy.empty());
  // The same bytes claiming version 3 are one field short.
  EXPECT_FALSE(DecodeShardCheckpoint(
                   common::MakeRecord(
                       "SHRD", 3,
                       payload->substr(0, payload->size() - sizeof(uint64_t))))
                   .ok());
}

}  // namespace
}  // namespace cddp::server
