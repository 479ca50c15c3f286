// The shard checkpoint tests' fixture: a shard of kN elements joined by kW
// workers on a fake clock and fed deterministic rounds, a sink collecting its
// periodic snapshots, the optimizers whose state a checkpoint must carry, and
// a fresh temporary directory per test.
#ifndef CDDP_TESTS_SERVER_SHARD_SHARD_CHECKPOINT_FIXTURE_H_
#define CDDP_TESTS_SERVER_SHARD_SHARD_CHECKPOINT_FIXTURE_H_

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/wire/wire_codec.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/shard/shard_checkpoint.h"
#include "server/shard/shard_state.h"
#include "tests/support/test_util.h"

namespace cddp::server::checkpoint_testing {

inline constexpr uint32_t kN = 1000;
inline constexpr uint32_t kW = 2;

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

inline Layout TestLayout() {
  Layout l;
  l.total_size = kN;
  l.shard_bounds = {0, kN};
  l.tensor_sizes = {700, 300};
  return l;
}

inline std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(float));
}

inline std::string TempDir(const std::string& name) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/cddp_ckpt_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

inline ShardOptions Options(const OptimizerOptions& opt,
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

inline std::vector<OptimizerOptions> Optimizers() {
  std::vector<OptimizerOptions> out(4);
  out[0].lr = 0.1f;
  out[1].lr = 0.05f, out[1].momentum = 0.9f, out[1].weight_decay = 1e-3f;
  out[2].lr = 0.05f, out[2].momentum = 0.9f, out[2].nesterov = true;
  out[3].kind = OptimizerKind::kAdam, out[3].lr = 1e-3f,
  out[3].weight_decay = 1e-4f;
  return out;
}

// Under the compressed downlink the workers' copy is part of the state too:

}  // namespace cddp::server::checkpoint_testing

#endif  // CDDP_TESTS_SERVER_SHARD_SHARD_CHECKPOINT_FIXTURE_H_
