// Shard checkpoints, refused and served: no file means no checkpoint; a
// corrupt, truncated, foreign or mismatched file is refused with the path
// and nothing is loaded; a Server resumes from its directory (joiners must
// match the saved layout and get the saved values), counts its checkpoints
// and writes a last one at shutdown.
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
#include "server/server.h"
#include "server/shard/shard_checkpoint.h"
#include "server/shard/shard_state.h"
#include "tests/server/shard/shard_checkpoint_fixture.h"
#include "tests/support/test_util.h"
#include "worker/client/shard_client.h"

namespace cddp::server {
namespace {

using namespace checkpoint_testing;  // NOLINT(build/namespaces): the fixture

TEST(ShardCheckpointTest, NoFileMeansNoCheckpoint) {
  auto loaded = LoadShardCheckpoint(TempDir("none"), Options({}));
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

// Writes a checkpoint of a shard after 3 rounds; returns its record bytes.
std::string GoodRecord(const std::string& dir, const OptimizerOptions& opt) {
  Shard shard(Options(opt));
  EXPECT_TRUE(shard.JoinAll(testing::RandomParams(1, kN)).ok());
  for (uint64_t step = 0; step < 3; ++step) shard.Round(step);
  auto snap = shard.state.Snapshot();
  EXPECT_TRUE(snap.ok());
  EXPECT_TRUE(SaveShardCheckpoint(dir, **snap).ok());
  return EncodeShardCheckpoint(**snap);
}

void ExpectRefused(const std::string& dir, const ShardOptions& options,
                   absl::StatusCode code, const std::string& needle) {
  auto loaded = LoadShardCheckpoint(dir, options);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), code) << loaded.status();
  const std::string path = ShardCheckpointPath(dir, options.shard_index);
  EXPECT_EQ(loaded.status().message().rfind(path, 0), 0u) << loaded.status();
  EXPECT_NE(loaded.status().message().find(needle), std::string::npos)
      << loaded.status();
  // A server refuses to start on it, with the same error.
  ServerOptions so;
  so.tls = common::Plaintext();
  so.listen = "127.0.0.1:0";
  so.shard = options;
  so.checkpoint_dir = dir;
  auto server = Server::Create(so);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status(), loaded.status());
}

TEST(ShardCheckpointTest, CorruptTruncatedAndForeignFilesAreRefused) {
  OptimizerOptions opt;
  opt.momentum = 0.9f;
  const std::string dir = TempDir("bad");
  const std::string good = GoodRecord(dir, opt);
  const std::string path = ShardCheckpointPath(dir, 0);

  std::string corrupt = good;
  corrupt[corrupt.size() / 2] ^= 0x40;  // a value's bits
  ASSERT_TRUE(common::WriteFileAtomically(path, corrupt).ok());
  ExpectRefused(dir, Options(opt), absl::StatusCode::kDataLoss, "checksum");

  ASSERT_TRUE(
      common::WriteFileAtomically(path, good.substr(0, good.size() - 7)).ok());
  ExpectRefused(dir, Options(opt), absl::StatusCode::kDataLoss, "truncated");

  ASSERT_TRUE(common::WriteFileAtomically(path, good.substr(0, 20)).ok());
  ExpectRefused(dir, Options(opt), absl::StatusCode::kDataLoss, "truncated");

  ASSERT_TRUE(common::WriteFileAtomically(
                  path, common::MakeRecord("WRKR", 1, "worker stuff"))
                  .ok());
  ExpectRefused(dir, Options(opt), absl::StatusCode::kInvalidArgument,
                "expected 'SHRD'");

  ASSERT_TRUE(
      common::WriteFileAtomically(path, "hello, not a checkpoint").ok());
  ExpectRefused(dir, Options(opt), absl::StatusCode::kDataLoss, "truncated");
  ASSERT_TRUE(common::WriteFileAtomically(path, std::string(64, 'x')).ok());
  ExpectRefused(dir, Options(opt), absl::StatusCode::kInvalidArgument,
                "bad magic");
  std::filesystem::remove_all(dir);
}

TEST(ShardCheckpointTest, CheckpointOfAnotherShardJobOrOptimizerIsRefused) {
  OptimizerOptions opt;
  opt.kind = OptimizerKind::kAdam;
  opt.lr = 1e-3f;
  const std::string dir = TempDir("mismatch");
  GoodRecord(dir, opt);
  ShardOptions o = Options(opt);
  ASSERT_TRUE(LoadShardCheckpoint(dir, o).ok());

  ShardOptions workers = o;
  workers.num_workers = 3;
  ExpectRefused(dir, workers, absl::StatusCode::kFailedPrecondition,
                "2 workers");
  ShardOptions lr = o;
  lr.optimizer.lr = 2e-3f;
  ExpectRefused(dir, lr, absl::StatusCode::kFailedPrecondition, "optimizer");
  ShardOptions sgd = o;
  sgd.optimizer = OptimizerOptions{};
  ExpectRefused(dir, sgd, absl::StatusCode::kFailedPrecondition, "optimizer");

  // Shard 0's file renamed to shard 1's: another shard, another job shape.
  ShardOptions other = o;
  other.shard_index = 1;
  other.num_shards = 2;
  std::filesystem::rename(ShardCheckpointPath(dir, 0),
                          ShardCheckpointPath(dir, 1));
  ExpectRefused(dir, other, absl::StatusCode::kFailedPrecondition, "shard 0");
  std::filesystem::remove_all(dir);
}

TEST(ShardCheckpointTest, RestoreRefusesMismatchAndLeavesStateUntouched) {
  OptimizerOptions opt;
  opt.momentum = 0.5f;
  Shard source(Options(opt));
  ASSERT_TRUE(source.JoinAll(testing::RandomParams(1, kN)).ok());
  source.Round(0);
  auto snap = source.state.Snapshot();
  ASSERT_TRUE(snap.ok());

  ShardOptions other = Options(opt);
  other.optimizer.momentum = 0.6f;
  Shard target(other);
  EXPECT_EQ(target.state.Restore(**snap).code(),
            absl::StatusCode::kFailedPrecondition);
  (*snap)->rule_state.fields["momentum_buffer"].resize(3);  // wrong size
  Shard same(Options(opt));
  EXPECT_EQ(same.state.Restore(**snap).code(),
            absl::StatusCode::kInvalidArgument);
  for (Shard* s : {&target, &same}) {
    EXPECT_EQ(s->state.size(), 0u);
    EXPECT_EQ(s->state.step(), 0u);
    EXPECT_EQ(s->state.BeginRead().status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  // Nor is a shard that already has values overwritten.
  auto good = source.state.Snapshot();
  EXPECT_EQ(source.state.Restore(**good).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(source.state.step(), 1u);
}

double MetricValue(prometheus::Registry& r, const std::string& name) {
  for (const auto& family : r.Collect()) {
    if (family.name != name || family.metric.empty()) continue;
    const auto& m = family.metric[0];
    return family.type == prometheus::MetricType::Counter ? m.counter.value
                                                          : m.gauge.value;
  }
  return -1;
}

TEST(ServerCheckpointTest, ServerResumesFromItsDirectoryAndSavesAtShutdown) {
  const std::string dir = TempDir("server");
  OptimizerOptions opt;
  opt.kind = OptimizerKind::kAdam;
  opt.lr = 1e-3f;
  ServerOptions so;
  so.tls = common::Plaintext();
  so.listen = "127.0.0.1:0";
  so.shard = Options(opt);
  so.shard.num_workers = 1;
  so.checkpoint_dir = dir;
  so.checkpoint_every = 2;
  so.registry = std::make_shared<prometheus::Registry>();
  auto map = common::ShardMap::Create(kN, 1);
  const auto init = testing::RandomParams(3, kN);
  std::vector<float> params = init;
  {
    auto server = Server::Create(so);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_FALSE((*server)->resumed().has_value());
    ASSERT_TRUE((*server)->Start().ok());
    worker::ShardClientOptions co;
    co.tls = common::Plaintext();
    co.tls = common::Plaintext();
    co.server_addresses = {absl::StrCat("127.0.0.1:", (*server)->port())};
    auto client = worker::ShardClient::Create(*map, co);
    ASSERT_TRUE((*client)->Join(TestLayout().tensor_sizes, params).ok());
    for (uint64_t step = 0; step < 3; ++step) {
      auto r = (*client)->PushPull(testing::RandomSelection(step, kN, 0.1),
                                   params, nullptr);
      ASSERT_TRUE(r.ok()) << r.status();
    }
    (*server)->Shutdown();
    EXPECT_TRUE((*server)->last_checkpoint_status().ok());
    // The periodic checkpoint (step 2) and the one at shutdown (step 3);
    // the writer keeps only the newest snapshot waiting, so under load the
    // shutdown one may supersede step 2 before it is written.
    const double written =
        MetricValue(*so.registry, "cddp_server_checkpoints_total");
    EXPECT_GE(written, 1);
    EXPECT_LE(written, 2);
    EXPECT_EQ(MetricValue(*so.registry, "cddp_server_checkpoint_step"), 3);
  }
  so.registry = std::make_shared<prometheus::Registry>();
  auto server = Server::Create(so);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->resumed().has_value());
  EXPECT_EQ((*server)->resumed()->step, 3u);
  EXPECT_EQ((*server)->resumed()->path, ShardCheckpointPath(dir, 0));
  EXPECT_EQ((*server)->state().step(), 3u);
  ASSERT_TRUE((*server)->Start().ok());
  worker::ShardClientOptions co;
  co.tls = common::Plaintext();
  co.server_addresses = {absl::StrCat("127.0.0.1:", (*server)->port())};
  auto client = worker::ShardClient::Create(*map, co);
  // Another layout is refused; the right one gets the saved values.
  std::vector<float> fresh = init;
  auto wrong = (*client)->Join(std::vector<uint64_t>{500, 500}, fresh);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition)
      << wrong.status();
  auto step = (*client)->Join(TestLayout().tensor_sizes, fresh);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 3u);
  EXPECT_EQ(fresh, params);
  (*server)->Shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cddp::server
