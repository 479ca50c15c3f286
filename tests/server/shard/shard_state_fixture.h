// The ShardState tests' fixture: a shard of kN elements on a fake clock,
// joined by its workers with random initial values, a waiter that records
// its round's result, and the chunk encoding of a selection.
#ifndef CDDP_TESTS_SERVER_SHARD_SHARD_STATE_FIXTURE_H_
#define CDDP_TESTS_SERVER_SHARD_SHARD_STATE_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/wire/wire_codec.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/shard/shard_state.h"
#include "tests/support/test_util.h"

namespace cddp::server {

inline constexpr uint32_t kN = 1000;

// Every optimizer the shard has, with and without weight decay.
inline std::vector<OptimizerOptions> AllOptimizers() {
  std::vector<OptimizerOptions> out(5);
  out[0].lr = 0.1f;
  out[1].lr = 0.05f, out[1].momentum = 0.9f;
  out[2].lr = 0.05f, out[2].momentum = 0.9f, out[2].nesterov = true,
  out[2].weight_decay = 1e-3f;
  out[3].kind = OptimizerKind::kAdam, out[3].lr = 1e-3f;
  out[4].kind = OptimizerKind::kAdam, out[4].lr = 1e-3f,
  out[4].weight_decay = 1e-2f;
  return out;
}

class FakeWaiter : public PushWaiter {
 public:
  explicit FakeWaiter(ShardState* state, bool hold_lease = false)
      : state_(state), hold_(hold_lease) {}
  void OnRoundClosed(std::shared_ptr<const RoundResult> r,
                     uint64_t lease_id) override {
    result = std::move(r);
    lease = lease_id;
    ++calls;
    if (!hold_ && result->refused.ok()) state_->EndRead(lease);
  }
  std::shared_ptr<const RoundResult> result;
  uint64_t lease = 0;
  int calls = 0;

 private:
  ShardState* state_;
  bool hold_;
};

struct Encoded {
  std::string indices, values;
  uint32_t count = 0;
  int value_type = 1, index_encoding = 2;
  common::EncodedChunkView view() const {
    return {count, value_type, index_encoding, indices, values};
  }
};

inline Encoded Encode(const common::SparseSelection& s) {
  Encoded e;
  e.count = static_cast<uint32_t>(s.size());
  EXPECT_TRUE(common::EncodeChunk(s, common::ValueType::kFp32,
                                  common::IndexEncoding::kDeltaVarint,
                                  &e.indices, &e.values)
                  .ok());
  return e;
}

inline Layout OneShardLayout() {
  Layout l;
  l.total_size = kN;
  l.shard_bounds = {0, kN};
  l.tensor_sizes = {600, 400};
  return l;
}

inline std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(float));
}

class ShardStateTest : public ::testing::Test {
 protected:
  void Make(const OptimizerOptions& opt, uint32_t workers,
            DownlinkMode downlink = DownlinkMode::kDense,
            uint32_t sparse_piece_pairs = ShardOptions{}.sparse_piece_pairs,
            common::ValueType downlink_values = common::ValueType::kFp32) {
    ShardOptions o;
    o.num_workers = workers;
    o.optimizer = opt;
    o.downlink = downlink;
    o.sparse_piece_pairs = sparse_piece_pairs;
    o.downlink_value_type = downlink_values;
    o.round_timeout = absl::Seconds(5);
    metrics_ = std::make_unique<ServerMetrics>(registry_, 0);
    state_ = std::make_unique<ShardState>(o, &clock_, metrics_.get(), nullptr);
    init_ = testing::RandomParams(7, kN);
    for (uint32_t w = 0; w < workers; ++w) {
      ASSERT_TRUE(state_->Join(w, 0, OneShardLayout(), Bytes(init_)).ok());
    }
  }
  std::vector<float> Values() {
    auto v = state_->values();
    return {v.begin(), v.end()};
  }
  absl::Status Push(uint32_t w, uint64_t step, const Encoded& e,
                    PushWaiter* waiter, uint64_t* current = nullptr) {
    uint64_t c = 0;
    return state_->Push(w, 0, step, e.view(), 0, waiter,
                        current ? current : &c);
  }

  prometheus::Registry registry_;
  FakeClock clock_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<ShardState> state_;
  std::vector<float> init_;
};

}  // namespace cddp::server

#endif  // CDDP_TESTS_SERVER_SHARD_SHARD_STATE_FIXTURE_H_
