// ShardClient::PushPullDense against in-process servers: the round, the
// reply and the bytes on the wire are those of PushPull of the selection
// 0..n-1 with the same values, in pieces or not; a gradient or params of
// the wrong size is refused with nothing sent; the pairs of shards that
// refused the push come back with their indices.
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "worker/client/shard_client.h"

namespace cddp::worker {
namespace {

using testing::ClusterOptions;
using testing::RandomParams;
using testing::TestCluster;

constexpr uint32_t kN = 4000;

// A gradient for `round`: every element, none zero.
std::vector<float> Gradient(uint32_t round) {
  std::vector<float> g(kN);
  for (uint32_t i = 0; i < kN; ++i) {
    g[i] = 0.001f * static_cast<float>((i * 7 + round * 3) % 17 + 1);
  }
  return g;
}

common::SparseSelection WholeSelection(const std::vector<float>& gradient) {
  common::SparseSelection s;
  s.indices.resize(gradient.size());
  std::iota(s.indices.begin(), s.indices.end(), 0u);
  s.values = gradient;
  return s;
}

// Pairs per push piece: several pieces per shard, or one.
class DensePushTest : public ::testing::TestWithParam<size_t> {};

INSTANTIATE_TEST_SUITE_P(PiecesPerShard, DensePushTest,
                         ::testing::Values(size_t{256}, size_t{kN}));

TEST_P(DensePushTest, IsThePushOfTheWholeSelection) {
  ClusterOptions co;
  co.num_workers = 1;
  co.push_piece_pairs = GetParam();
  co.optimizer.momentum = 0.9f;
  TestCluster by_selection(co, kN);
  TestCluster dense(co, kN);
  ASSERT_OK(by_selection.status());
  ASSERT_OK(dense.status());
  std::vector<float> params_a = RandomParams(1, kN);
  std::vector<float> params_b = params_a;
  auto a = by_selection.NewClient(0);
  auto b = dense.NewClient(0);
  ASSERT_TRUE(a->Join(std::vector<uint64_t>{kN}, params_a).ok());
  ASSERT_TRUE(b->Join(std::vector<uint64_t>{kN}, params_b).ok());
  for (uint32_t round = 0; round < 3; ++round) {
    const std::vector<float> g = Gradient(round);
    auto ra = a->PushPull(WholeSelection(g), params_a, nullptr);
    auto rb = b->PushPullDense(g, params_b, nullptr);
    ASSERT_TRUE(ra.ok()) << ra.status();
    ASSERT_TRUE(rb.ok()) << rb.status();
    EXPECT_EQ(rb->step, ra->step);
    EXPECT_EQ(rb->step, round + 1);
    EXPECT_EQ(rb->contributors, ra->contributors);
    EXPECT_EQ(rb->bytes_sent, ra->bytes_sent);
    EXPECT_EQ(params_b, params_a) << round;
    EXPECT_EQ(b->shard_steps(), a->shard_steps());
  }
  EXPECT_EQ(dense.ServerValues(), by_selection.ServerValues());
  EXPECT_NE(params_b, RandomParams(1, kN));  // the rounds moved them
}

// One worker's job, joined: its cluster, client and parameters.
class DenseOneWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(cluster_.status());
    client_ = cluster_.NewClient(0);
    ASSERT_TRUE(client_->Join(std::vector<uint64_t>{kN}, params_).ok());
  }
  static ClusterOptions OneWorker() {
    ClusterOptions co;
    co.num_workers = 1;
    return co;
  }

  TestCluster cluster_{OneWorker(), kN};
  std::unique_ptr<ShardClient> client_;
  std::vector<float> params_ = RandomParams(2, kN);
};

TEST_F(DenseOneWorkerTest, WrongSizesAreRefusedWithNothingSent) {
  const std::vector<float> before = params_;
  common::SparseSelection undelivered;
  undelivered.indices = {7};  // cleared
  undelivered.values = {1.0f};
  const std::vector<float> short_gradient(kN - 1, 0.5f);
  auto r = client_->PushPullDense(short_gradient, params_, &undelivered);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(undelivered.size(), 0u);
  std::vector<float> short_params(kN - 1);
  r = client_->PushPullDense(Gradient(0), short_params, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(params_, before);
  EXPECT_EQ(cluster_.ServerValues(), before);
  // Nothing was counted: the first push is still step 0's.
  r = client_->PushPullDense(Gradient(0), params_, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step, 1u);
}

TEST_F(DenseOneWorkerTest, RefusedPairsComeBackWithTheirIndices) {
  const std::vector<float> g = Gradient(1);
  common::SparseSelection undelivered;
  // Every shard is at step 0: a push for step 5 is refused before it is
  // counted, on the only attempt.
  auto r = client_->PushPullDense(5, g, params_, &undelivered);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
      << r.status();
  const common::SparseSelection whole = WholeSelection(g);
  EXPECT_EQ(undelivered.indices, whole.indices);
  EXPECT_EQ(undelivered.values, whole.values);
}

}  // namespace
}  // namespace cddp::worker
