// The parameter servers end to end over loopback gRPC: S = 2 shards, W = 3
// workers, each optimizer, results bit-identical to a serial reference
// whatever the arrival order; timeouts; late pushes; retries.
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "proto/status_convert.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/wait_until.h"

namespace cddp::testing {
namespace {

constexpr uint32_t kN = 10000;
constexpr uint32_t kW = 3;
constexpr uint64_t kSteps = 50;

std::vector<uint64_t> TensorSizes() { return {6000, 3000, 1000}; }

struct Workers {
  std::vector<std::unique_ptr<worker::ShardClient>> clients;
  std::vector<std::vector<float>> params;
};

Workers JoinAll(TestCluster& cluster, uint32_t workers,
                const std::vector<float>& init) {
  Workers w;
  const auto sizes = TensorSizes();
  for (uint32_t i = 0; i < workers; ++i) {
    w.clients.push_back(cluster.NewClient(i));
    // Only worker 0's values count; the others get the servers' values.
    w.params.push_back(i == 0 ? init : RandomParams(100 + i, kN));
    auto step = w.clients[i]->Join(sizes, w.params[i]);
    EXPECT_TRUE(step.ok()) << step.status();
    EXPECT_EQ(w.params[i], init);
  }
  return w;
}

std::vector<common::SparseSelection> StepPushes(uint64_t step,
                                                uint32_t workers) {
  std::vector<common::SparseSelection> pushes;
  for (uint32_t w = 0; w < workers; ++w) {
    pushes.push_back(RandomSelection(1000 * step + w, kN, 0.02));
  }
  return pushes;
}

// Pushes one step from every worker at once. With `order`, worker order[k]
// starts only after k pushes reached both shards, forcing that arrival
// order.
void RunStep(TestCluster& cluster, Workers& w, uint64_t step,
             const std::vector<common::SparseSelection>& pushes,
             const std::vector<uint32_t>* order) {
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < w.clients.size(); ++i) {
    threads.emplace_back([&, i] {
      if (order != nullptr) {
        const uint32_t rank = static_cast<uint32_t>(
            std::find(order->begin(), order->end(), i) - order->begin());
        EXPECT_TRUE(WaitUntil([&] {
          return cluster.server(0).state().pushed_count() >= rank &&
                 cluster.server(1).state().pushed_count() >= rank;
        }));
      }
      common::SparseSelection undelivered;
      auto r =
          w.clients[i]->PushPull(step, pushes[i], w.params[i], &undelivered);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->step, step + 1);
      EXPECT_EQ(r->contributors, std::vector<uint32_t>(2, kW));
      EXPECT_EQ(undelivered.size(), 0u);
    });
  }
  for (auto& t : threads) t.join();
}

void ExpectBitIdentical(const std::vector<float>& a,
                        const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

class ClusterOptimizerTest
    : public ::testing::TestWithParam<std::tuple<int, bool>> {};

server::OptimizerOptions OptimizerCase(int i) {
  server::OptimizerOptions o;
  switch (i) {
    case 0:
      o.lr = 0.1f;
      break;
    case 1:
      o.lr = 0.05f, o.momentum = 0.9f;
      break;
    case 2:
      o.lr = 0.05f, o.momentum = 0.9f, o.nesterov = true,
      o.weight_decay = 1e-3f;
      break;
    default:
      o.kind = server::OptimizerKind::kAdam, o.lr = 1e-3f,
      o.weight_decay = 1e-4f;
      break;
  }
  return o;
}

TEST_P(ClusterOptimizerTest, FiftyStepsMatchTheSerialReference) {
  const auto [opt_case, shuffled] = GetParam();
  ClusterOptions co;
  co.optimizer = OptimizerCase(opt_case);
  if (opt_case == 0 && shuffled) co.downlink = server::DownlinkMode::kSparse;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  const auto init = RandomParams(1, kN);
  Workers w = JoinAll(cluster, kW, init);
  ReferenceModel ref(co.optimizer, init);
  std::mt19937 rng(opt_case);
  for (uint64_t step = 0; step < kSteps; ++step) {
    const auto pushes = StepPushes(step, kW);
    std::vector<uint32_t> order(kW);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    RunStep(cluster, w, step, pushes, shuffled ? &order : nullptr);
    ref.Round(pushes, std::vector<bool>(kW, true));
  }
  ExpectBitIdentical(cluster.ServerValues(), ref.params());
  for (uint32_t i = 0; i < kW; ++i)
    ExpectBitIdentical(w.params[i], ref.params());
  EXPECT_EQ(cluster.server(0).state().step(), kSteps);
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, ClusterOptimizerTest,
                         ::testing::Combine(::testing::Range(0, 4),
                                            ::testing::Bool()));

// The compressed downlink over gRPC, every optimizer: the master values move
// exactly as the serial reference says, and every worker, applying only the
// sparse delta replies, holds exactly the servers' copy of what workers hold
// (what a pull serves) after every step.
TEST_P(ClusterOptimizerTest, CompressedDownlinkKeepsWorkersOnTheServersCopy) {
  const auto [opt_case, fp16] = GetParam();
  ClusterOptions co;
  co.optimizer = OptimizerCase(opt_case);
  co.downlink = server::DownlinkMode::kCompressed;
  co.downlink_value_type =
      fp16 ? common::ValueType::kFp16 : common::ValueType::kFp32;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  const auto init = RandomParams(1, kN);
  Workers w = JoinAll(cluster, kW, init);
  ReferenceModel ref(co.optimizer, init);
  for (uint64_t step = 0; step < kSteps; ++step) {
    const auto pushes = StepPushes(step, kW);
    RunStep(cluster, w, step, pushes, nullptr);
    ref.Round(pushes, std::vector<bool>(kW, true));
    const std::vector<float> copy = cluster.ServerValues();
    for (uint32_t i = 0; i < kW; ++i) ExpectBitIdentical(w.params[i], copy);
  }
  std::vector<float> master;
  for (uint32_t s = 0; s < 2; ++s) {
    auto snap = cluster.server(s).state().Snapshot();
    ASSERT_OK(snap.status());
    master.insert(master.end(), (*snap)->values.begin(), (*snap)->values.end());
  }
  ExpectBitIdentical(master, ref.params());
  if (opt_case == 0 && !fp16) {
    // Plain SGD changes only the pushed entries, and a round may send as
    // many pairs as were pushed: nothing lags, the downlink is exact.
    ExpectBitIdentical(cluster.ServerValues(), ref.params());
  } else {
    // Momentum and Adam move every entry (fp16 rounds): the copy lags.
    EXPECT_NE(cluster.ServerValues(), ref.params());
  }
}

TEST(ClusterTest, MissingWorkerRoundClosesAtTimeoutThenLatePushIsRejected) {
  server::FakeClock clock;
  ClusterOptions co;
  co.round_timeout = absl::Seconds(10);
  co.clock = &clock;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  const auto init = RandomParams(1, kN);
  Workers w = JoinAll(cluster, kW, init);
  const auto pushes = StepPushes(0, kW);
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      auto r = w.clients[i]->PushPull(0, pushes[i], w.params[i], nullptr);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->step, 1u);
      EXPECT_EQ(r->contributors, std::vector<uint32_t>(2, 2u));
    });
  }
  EXPECT_TRUE(WaitUntil([&] {
    return cluster.server(0).state().pushed_count() >= 2 &&
           cluster.server(1).state().pushed_count() >= 2;
  }));
  clock.Advance(absl::Seconds(10));  // the poll thread closes the rounds
  for (auto& t : threads) t.join();
  ReferenceModel ref(co.optimizer, init);
  ref.Round(pushes, {true, true, false});
  ExpectBitIdentical(cluster.ServerValues(), ref.params());

  // Worker 2 was too slow: its step-0 push is refused with the current step,
  // and every pair comes back for its residual.
  common::SparseSelection undelivered;
  auto late = w.clients[2]->PushPull(0, pushes[2], w.params[2], &undelivered);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("current step is 1"),
            std::string::npos)
      << late.status();
  EXPECT_EQ(undelivered.indices, pushes[2].indices);
  EXPECT_EQ(undelivered.values, pushes[2].values);
  ExpectBitIdentical(cluster.ServerValues(), ref.params());
  // After a pull it is back in step.
  auto step = w.clients[2]->Pull(w.params[2]);
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(*step, 1u);
  ExpectBitIdentical(w.params[2], ref.params());
}

TEST(ClusterTest, RetriedPushIsNotCountedTwice) {
  ClusterOptions co;
  co.num_workers = 2;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  const auto init = RandomParams(1, kN);
  Workers w = JoinAll(cluster, 2, init);
  // A second client with worker 0's id plays worker 0 retrying its push.
  auto retry_client = cluster.NewClient(0);
  std::vector<float> retry_params = init;
  const auto pushes = StepPushes(0, 2);
  std::thread first([&] {
    auto r = w.clients[0]->PushPull(0, pushes[0], w.params[0], nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
  });
  EXPECT_TRUE(WaitUntil([&] {
    return cluster.server(0).state().pushed_count() >= 1 &&
           cluster.server(1).state().pushed_count() >= 1;
  }));
  std::thread retry([&] {
    auto r = retry_client->PushPull(0, pushes[0], retry_params, nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->contributors, std::vector<uint32_t>(2, 2u));
  });
  auto r1 = w.clients[1]->PushPull(0, pushes[1], w.params[1], nullptr);
  ASSERT_TRUE(r1.ok()) << r1.status();
  first.join();
  retry.join();
  // And once more after the round closed: answered, not counted.
  auto again = retry_client->PushPull(0, pushes[0], retry_params, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->step, 1u);
  ReferenceModel ref(co.optimizer, init);
  ref.Round(pushes, {true, true});
  ExpectBitIdentical(cluster.ServerValues(), ref.params());
  ExpectBitIdentical(retry_params, ref.params());
  EXPECT_EQ(cluster.server(0).state().step(), 1u);
}

}  // namespace
}  // namespace cddp::testing

namespace cddp::testing {
namespace {

TEST(ClusterTest, ShutdownFinishesTheOpenRoundWithTheWorkersItHas) {
  ClusterOptions co;
  co.num_workers = 2;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  const auto init = RandomParams(1, kN);
  Workers w = JoinAll(cluster, 2, init);
  const auto pushes = StepPushes(0, 2);
  std::thread t([&] {
    auto r = w.clients[0]->PushPull(0, pushes[0], w.params[0], nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->contributors, std::vector<uint32_t>(2, 1u));
  });
  EXPECT_TRUE(WaitUntil([&] {
    return cluster.server(0).state().pushed_count() >= 1 &&
           cluster.server(1).state().pushed_count() >= 1;
  }));
  cluster.server(0).Shutdown();  // what SIGTERM does in cddp-server
  cluster.server(1).Shutdown();
  t.join();
  ReferenceModel ref(co.optimizer, init);
  ref.Round(pushes, {true, false});
  ExpectBitIdentical(w.params[0], ref.params());
  // Nothing more is accepted.
  auto late = w.clients[1]->PushPull(0, pushes[1], w.params[1], nullptr);
  EXPECT_FALSE(late.ok());
}

}  // namespace
}  // namespace cddp::testing
