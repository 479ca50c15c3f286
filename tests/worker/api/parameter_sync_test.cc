// Tests for the public C++ API (cddp/cddp.h) on user-made modules against
// real parameter servers on loopback (tests/support's TestCluster): which
// parameters are synchronised, and the documented errors for a parameter
// that is not float32, replaced or reshaped after joining, a wrong worker
// id, and unreachable servers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "cddp/cddp.h"
#include "tests/support/test_util.h"

namespace cddp {
namespace {

// Two linear layers, one frozen: 4*3+3 trainable values.
struct TwoLayers : torch::nn::Module {
  torch::nn::Linear trained{
      register_module("trained", torch::nn::Linear(4, 3))};
  torch::nn::Linear frozen{register_module("frozen", torch::nn::Linear(3, 2))};
  TwoLayers() {
    for (auto& p : frozen->parameters()) p.set_requires_grad(false);
  }
  torch::Tensor forward(torch::Tensor x) { return frozen(trained(x)); }
};

constexpr uint64_t kTrainable = 4 * 3 + 3;

// One worker, two shards of plain SGD (lr 0.5) with the exact sparse
// downlink.
class ParameterSyncTest : public ::testing::Test {
 protected:
  ParameterSyncTest() {
    testing::ClusterOptions o;
    o.num_shards = 2;
    o.num_workers = 1;
    o.optimizer.lr = 0.5f;
    o.downlink = server::DownlinkMode::kSparse;
    cluster_ = std::make_unique<testing::TestCluster>(o, kTrainable);
  }
  SyncOptions Options() const {
    SyncOptions o;
    o.servers = cluster_->addresses();
    o.plaintext = true;
    o.compress = false;  // every gradient entry is sent: easy to predict
    o.reconnect_timeout = absl::Seconds(2);
    return o;
  }
  std::unique_ptr<testing::TestCluster> cluster_;
};

TEST_F(ParameterSyncTest, StepAppliesTheServersSgdToTrainableParametersOnly) {
  torch::manual_seed(1);
  TwoLayers model;
  const torch::Tensor frozen_before = model.frozen->weight.clone();
  auto sync = ParameterSync::Create(model, Options());
  ASSERT_TRUE(sync.ok()) << sync.status();
  EXPECT_EQ((*sync)->num_parameters(), kTrainable);
  EXPECT_EQ((*sync)->names(),
            (std::vector<std::string>{"trained.weight", "trained.bias"}));
  const torch::Tensor before = model.trained->weight.clone();
  model.zero_grad();
  model.forward(torch::ones({1, 4})).sum().backward();
  const torch::Tensor grad = model.trained->weight.grad().clone();
  auto stats = (*sync)->Step();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(stats->push_status.ok());
  EXPECT_EQ(stats->step, 1u);
  EXPECT_TRUE(torch::allclose(model.trained->weight, before - 0.5 * grad));
  EXPECT_TRUE(torch::equal(model.frozen->weight, frozen_before));
  auto match = (*sync)->MatchesServers();
  ASSERT_TRUE(match.ok()) << match.status();
  EXPECT_TRUE(*match);
}

TEST_F(ParameterSyncTest, AParameterWithoutAGradientThisStepIsLeftAsItIs) {
  TwoLayers model;
  auto sync = ParameterSync::Create(model, Options());
  ASSERT_TRUE(sync.ok()) << sync.status();
  const torch::Tensor before = model.trained->weight.clone();
  model.zero_grad();  // no backward: every .grad undefined or zero
  auto stats = (*sync)->Step();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(torch::equal(model.trained->weight, before));
}

TEST_F(ParameterSyncTest, ANonFloat32ParameterIsRefusedByName) {
  TwoLayers model;
  model.trained->to(torch::kFloat64);
  auto sync = ParameterSync::Create(model, Options());
  EXPECT_EQ(sync.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sync.status().message().find("trained.weight"), std::string::npos)
      << sync.status();
}

TEST_F(ParameterSyncTest, AParameterReplacedAfterJoiningIsRefusedByName) {
  TwoLayers model;
  auto sync = ParameterSync::Create(model, Options());
  ASSERT_TRUE(sync.ok()) << sync.status();
  torch::NoGradGuard no_grad;
  model.trained->bias.set_data(torch::zeros({3}));  // same shape, new memory
  auto stats = (*sync)->Step();
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stats.status().message().find("trained.bias"), std::string::npos)
      << stats.status();
  model.trained->bias.set_data(torch::zeros({5}));  // a new shape
  stats = (*sync)->Step();
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stats.status().message().find("changed its size"),
            std::string::npos)
      << stats.status();
}

TEST_F(ParameterSyncTest, AWrongWorkerIdIsRefusedBeforeJoining) {
  TwoLayers model;
  SyncOptions o = Options();
  o.worker_id = 2;
  o.num_workers = 2;
  auto sync = ParameterSync::Create(model, o);
  EXPECT_EQ(sync.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sync.status().message().find("--worker_id 2"), std::string::npos)
      << sync.status();
}

TEST(ParameterSyncUnreachableTest, UnreachableServersAreNamedAfterTheTimeout) {
  TwoLayers model;
  SyncOptions o;
  o.servers = {"127.0.0.1:1"};  // nothing listens on port 1
  o.plaintext = true;
  o.reconnect_timeout = absl::Seconds(1);
  auto sync = ParameterSync::Create(model, o);
  ASSERT_FALSE(sync.ok());
  EXPECT_NE(sync.status().message().find("127.0.0.1:1"), std::string::npos)
      << sync.status();
}

TEST(ParameterSyncUnreachableTest, AModuleWithoutTrainableParametersIsRefused) {
  TwoLayers model;
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  SyncOptions o;
  o.servers = {"127.0.0.1:1"};
  auto sync = ParameterSync::Create(model, o);
  EXPECT_EQ(sync.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sync.status().message().find("no trainable parameters"),
            std::string::npos)
      << sync.status();
}

}  // namespace
}  // namespace cddp
