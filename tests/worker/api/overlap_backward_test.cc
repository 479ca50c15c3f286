// SyncOptions::overlap_backward against real parameter servers on loopback:
// the pushes start during backward() (a shard's values change before
// Step()), the parameters are those without overlap bit for bit (also for
// parameters listed out of their backward order, one the pass does not
// reach, one used twice, with DGC's momentum correction), and a second
// backward pass before Step() is reported and recovered from. Where it
// cannot run (clipping) it is refused before joining.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "cddp/cddp.h"
#include "tests/support/test_util.h"
#include "tests/support/wait_until.h"

namespace cddp {
namespace {

// Parameters listed in an order that is not their backward order: `b`'s
// gradient comes first, `c` (used twice) last, and `unused` never gets one.
struct Tangled : torch::nn::Module {
  Tangled() {
    a = register_parameter("a", torch::randn({300, 8}) * 0.1);
    b = register_parameter("b", torch::randn({8, 300}) * 0.1);
    unused = register_parameter("unused", torch::randn({50}));
    c = register_parameter("c", torch::randn({300}));
  }
  torch::Tensor forward(torch::Tensor x) {
    const torch::Tensor h = torch::tanh(x * c).mm(a);
    return (torch::tanh(h).mm(b) * c).pow(2).mean();
  }
  torch::Tensor a, b, unused, c;
};

constexpr uint64_t kSize = 300 * 8 + 8 * 300 + 50 + 300;

// One worker, `shards` shards of plain SGD with the exact sparse downlink.
std::unique_ptr<testing::TestCluster> Cluster(uint32_t shards) {
  testing::ClusterOptions o;
  o.num_shards = shards;
  o.num_workers = 1;
  o.optimizer.lr = 0.5f;
  o.downlink = server::DownlinkMode::kSparse;
  return std::make_unique<testing::TestCluster>(o, kSize);
}

SyncOptions Options(const testing::TestCluster& cluster, bool overlap) {
  SyncOptions o;
  o.servers = cluster.addresses();
  o.plaintext = true;
  o.ratio = 0.05;
  o.min_compress_numel = 100;  // `unused` goes whole
  o.dgc_momentum = 0.9;
  o.overlap_backward = overlap;
  o.reconnect_timeout = absl::Seconds(2);
  return o;
}

// Five steps of Tangled from seed 7; returns its parameters, flat.
std::vector<float> TrainTangled(bool overlap) {
  auto cluster = Cluster(3);
  torch::manual_seed(7);
  Tangled model;
  auto sync = ParameterSync::Create(model, Options(*cluster, overlap));
  EXPECT_TRUE(sync.ok()) << sync.status();
  if (!sync.ok()) return {};
  for (int step = 0; step < 5; ++step) {
    model.zero_grad();
    model.forward(torch::randn({4, 300})).backward();
    auto stats = (*sync)->Step();
    EXPECT_TRUE(stats.ok() && stats->push_status.ok()) << stats.status();
  }
  auto match = (*sync)->MatchesServers();
  EXPECT_TRUE(match.ok() && *match);
  std::vector<float> flat;
  for (const torch::Tensor& p : model.parameters()) {
    const torch::Tensor c = p.detach().contiguous();
    flat.insert(flat.end(), c.data_ptr<float>(),
                c.data_ptr<float>() + c.numel());
  }
  return flat;
}

TEST(OverlapBackwardTest, ParametersAreThoseWithoutOverlapBitForBit) {
  const std::vector<float> without = TrainTangled(false);
  ASSERT_EQ(without.size(), kSize);
  EXPECT_EQ(TrainTangled(true), without);
}

// Three layers in a row: the last layers' shard is pushed, and with one
// worker its round closes, while the backward pass has yet to reach the
// first layer.
struct Chain : torch::nn::Module {
  torch::nn::Linear l1{register_module("l1", torch::nn::Linear(20, 40))};
  torch::nn::Linear l2{register_module("l2", torch::nn::Linear(40, 40))};
  torch::nn::Linear l3{register_module("l3", torch::nn::Linear(40, 50))};
  torch::Tensor forward(torch::Tensor x) {
    return l3(torch::relu(l2(torch::relu(l1(x))))).pow(2).mean();
  }
};

TEST(OverlapBackwardTest, TheLastLayersShardIsPushedDuringBackward) {
  constexpr uint64_t kChain = 20 * 40 + 40 + 40 * 40 + 40 + 40 * 50 + 50;
  testing::ClusterOptions co;
  co.num_shards = 2;
  co.num_workers = 1;
  co.optimizer.lr = 0.5f;
  testing::TestCluster cluster(co, kChain);
  torch::manual_seed(3);
  Chain model;
  SyncOptions o;
  o.servers = cluster.addresses();
  o.plaintext = true;
  o.overlap_backward = true;
  auto sync = ParameterSync::Create(model, o);
  ASSERT_TRUE(sync.ok()) << sync.status();
  // A shard's step (read under its lock) is 1 once its round closed.
  const auto closed = [&](uint32_t s) {
    return cluster.server(s).state().step() == 1;
  };
  // Runs inside backward(), just before l1.weight's gradient is
  // accumulated: shard 1 (the end of l2 and all of l3) has closed its round
  // by then, shard 0 (which holds l1) cannot have.
  bool shard1_closed = false, shard0_closed = true;
  model.l1->weight.register_hook([&](const torch::Tensor& grad) {
    shard1_closed =
        testing::WaitUntil([&] { return closed(1); }, testing::kWaitTimeout,
                           std::chrono::milliseconds(10));
    shard0_closed = closed(0);
    return grad;
  });
  model.zero_grad();
  model.forward(torch::randn({8, 20})).backward();
  EXPECT_TRUE(shard1_closed);
  EXPECT_FALSE(shard0_closed);
  auto stats = (*sync)->Step();
  ASSERT_TRUE(stats.ok() && stats->push_status.ok()) << stats.status();
  EXPECT_TRUE(closed(0));
  auto match = (*sync)->MatchesServers();
  ASSERT_TRUE(match.ok() && *match);
}

TEST(OverlapBackwardTest, ASecondBackwardBeforeStepIsReportedThenStepsGoOn) {
  auto cluster = Cluster(2);
  torch::manual_seed(7);
  Tangled model;
  auto sync = ParameterSync::Create(model, Options(*cluster, true));
  ASSERT_TRUE(sync.ok()) << sync.status();
  model.zero_grad();
  model.forward(torch::randn({4, 300})).backward();
  model.forward(torch::randn({4, 300})).backward();  // accumulates: refused
  auto refused = (*sync)->Step();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("second backward pass"),
            std::string::npos)
      << refused.status();
  for (int step = 0; step < 2; ++step) {
    model.zero_grad();
    model.forward(torch::randn({4, 300})).backward();
    auto stats = (*sync)->Step();
    ASSERT_TRUE(stats.ok() && stats->push_status.ok()) << stats.status();
  }
  EXPECT_EQ((*sync)->step(), 3u);  // the refused step's round ran too
  auto match = (*sync)->MatchesServers();
  ASSERT_TRUE(match.ok() && *match);
}

TEST(OverlapBackwardTest, ClippingIsRefusedBeforeJoining) {
  auto cluster = Cluster(2);
  Tangled model;
  SyncOptions o = Options(*cluster, true);
  o.clip_norm = 1.0;
  auto sync = ParameterSync::Create(model, o);
  EXPECT_EQ(sync.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sync.status().message().find("--overlap_backward"),
            std::string::npos)
      << sync.status();
}

}  // namespace
}  // namespace cddp
