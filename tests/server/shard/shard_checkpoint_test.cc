// Shard checkpoints: a shard resumed from a checkpoint and fed the same
// pushes ends bit-identical to one that never stopped (optimizer state
// included); periodic snapshots land at multiples of checkpoint_every; a
// corrupt, truncated, foreign or mismatched file is refused with the path
// and nothing is loaded; a Server resumes from its directory (joiners must
// match the saved layout and get the saved values), counts its checkpoints
// and writes a last one at shutdown.
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
#include "server/server.h"
#include "server/shard/shard_state.h"
#include "tests/support/test_util.h"
#include "worker/client/shard_client.h"

namespace cddp::server {
namespace {

constexpr uint32_t kN = 1000;
constexpr uint32_t kW = 2;

class NullWaiter : public PushWaiter {
 public:
  explicit NullWaiter(ShardState* state) : state_(state) {}
  void OnRoundClosed(std::shared_ptr<const RoundResult> r,
                     uint64_t lease) override {
    if (r->refused.ok()) state_->EndRead(lease);
  }

 private:
  ShardState* state_;
};

class CollectingSink : public CheckpointSink {
 public:
  void OnCheckpoint(std::unique_ptr<ShardCheckpoint> s) override {
    snapshots.push_back(std::move(s));
  }
  std::vector<std::unique_ptr<ShardCheckpoint>> snapshots;
};

Layout TestLayout() {
  Layout l;
  l.total_size = kN;
  l.shard_bounds = {0, kN};
  l.tensor_sizes = {700, 300};
  return l;
}

std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(float));
}

std::string TempDir(const std::string& name) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/cddp_ckpt_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

ShardOptions Options(const OptimizerOptions& opt,
                     DownlinkMode downlink = DownlinkMode::kDense) {
  ShardOptions o;
  o.num_workers = kW;
  o.optimizer = opt;
  o.downlink = downlink;
  return o;
}

// A shard with its metrics, fed deterministic rounds.
struct Shard {
  explicit Shard(const ShardOptions& o, CheckpointSink* sink = nullptr,
                 uint64_t every = 0)
      : metrics(registry, 0),
        state(o, &clock, &metrics, nullptr, sink, every) {}
  absl::Status JoinAll(const std::vector<float>& init) {
    for (uint32_t w = 0; w < kW; ++w) {
      auto r = state.Join(w, 0, TestLayout(), Bytes(init));
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }
  void Round(uint64_t step) {
    NullWaiter waiter(&state);
    for (uint32_t w = 0; w < kW; ++w) {
      const auto sel = testing::RandomSelection(step * 31 + w, kN, 0.05);
      std::string idx, val;
      ASSERT_TRUE(common::EncodeChunk(sel, common::ValueType::kFp32,
                                      common::IndexEncoding::kDeltaVarint, &idx,
                                      &val)
                      .ok());
      uint64_t current = 0;
      ASSERT_TRUE(state
                      .Push(w, 0, step,
                            {static_cast<uint32_t>(sel.size()), 1, 2, idx, val},
                            0, &waiter, &current)
                      .ok());
    }
    ASSERT_EQ(state.step(), step + 1);
  }
  std::vector<float> Values() const {
    auto v = state.values();
    return {v.begin(), v.end()};
  }

  prometheus::Registry registry;
  FakeClock clock;
  ServerMetrics metrics;
  ShardState state;
};

std::vector<OptimizerOptions> Optimizers() {
  std::vector<OptimizerOptions> out(4);
  out[0].lr = 0.1f;
  out[1].lr = 0.05f, out[1].momentum = 0.9f, out[1].weight_decay = 1e-3f;
  out[2].lr = 0.05f, out[2].momentum = 0.9f, out[2].nesterov = true;
  out[3].kind = OptimizerKind::kAdam, out[3].lr = 1e-3f,
  out[3].weight_decay = 1e-4f;
  return out;
}

// Under the compressed downlink the workers' copy is part of the state too:
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
