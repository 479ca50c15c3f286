// The overlapped PushPull (BeginPushPull, PushPullPart, FinishPushPull)
// against in-process servers: a shard's round runs as soon as the parts
// cover its range, before FinishPushPull; the result is PushPull's bit for
// bit; bad parts and calls out of order are refused and change nothing; the
// default implementation gathers the parts into one PushPull.
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/wait_until.h"
#include "worker/client/shard_client.h"

namespace cddp::worker {
namespace {

using testing::ClusterOptions;
using testing::RandomParams;
using testing::RandomSelection;
using testing::TestCluster;
using testing::WaitUntil;

constexpr uint32_t kN = 6000;

// The pairs of `all` in flat range [begin, end).
common::SparseSelection Range(const common::SparseSelection& all,
                              uint64_t begin, uint64_t end) {
  common::SparseSelection out;
  for (size_t k = 0; k < all.size(); ++k) {
    if (all.indices[k] >= begin && all.indices[k] < end) {
      out.indices.push_back(all.indices[k]);
      out.values.push_back(all.values[k]);
    }
  }
  return out;
}

// A cluster of `shards` shards for one worker, lr 0.01, and that worker's
// client, joined with RandomParams(3, kN).
struct OneWorker {
  explicit OneWorker(uint32_t shards) {
    ClusterOptions co;
    co.num_workers = 1;
    co.num_shards = shards;
    cluster = std::make_unique<TestCluster>(co, kN);
    EXPECT_OK(cluster->status());
    params = RandomParams(3, kN);
    client = cluster->NewClient(0);
    EXPECT_OK(client->Join(std::vector<uint64_t>{kN}, params).status());
  }
  std::unique_ptr<TestCluster> cluster;
  std::vector<float> params;
  std::unique_ptr<ShardClient> client;
};

// Two rounds on a fresh one-worker cluster of three shards, each round's
// selection handed over in parts cut at `cuts` (descending; 0 implied) or,
// with no cuts, in one PushPull. Returns the worker's params afterwards.
std::vector<float> TwoRounds(const std::vector<uint64_t>& cuts) {
  OneWorker job(3);
  TestCluster& cluster = *job.cluster;
  std::vector<float>& params = job.params;
  ShardClient* client = job.client.get();
  for (uint64_t round = 0; round < 2; ++round) {
    const common::SparseSelection sel = RandomSelection(10 + round, kN, 0.05);
    if (cuts.empty()) {
      EXPECT_OK(client->PushPull(sel, params, nullptr).status());
      continue;
    }
    EXPECT_OK(client->BeginPushPull(params));
    uint64_t top = kN;
    for (uint64_t from : cuts) {
      EXPECT_OK(client->PushPullPart(from, Range(sel, from, top)));
      top = from;
    }
    EXPECT_OK(client->PushPullPart(0, Range(sel, 0, top)));
    EXPECT_OK(client->FinishPushPull(nullptr).status());
  }
  EXPECT_EQ(params, cluster.ServerValues());
  return params;
}

TEST(OverlappedPushTest, PartsGiveThePushPullsParametersBitForBit) {
  const std::vector<float> whole = TwoRounds({});
  // Cuts inside shards, on a shard's boundary, and an empty part.
  EXPECT_EQ(TwoRounds({5000, 4000, 4000, 1234, 17}), whole);
  EXPECT_EQ(TwoRounds({1}), whole);
}

TEST(OverlappedPushTest, AShardIsPushedAsSoonAsThePartsCoverIt) {
  OneWorker job(3);
  TestCluster& cluster = *job.cluster;
  std::vector<float>& params = job.params;
  ShardClient* client = job.client.get();
  const common::ShardMap& map = cluster.shard_map();
  const common::SparseSelection sel = RandomSelection(4, kN, 0.05);
  ASSERT_OK(client->BeginPushPull(params));
  // Covers shard 2 and half of shard 1: shard 2's round closes (one worker)
  // before FinishPushPull; shard 1's does not start.
  const uint64_t mid1 = map.begin(1) + map.size(1) / 2;
  ASSERT_OK(client->PushPullPart(mid1, Range(sel, mid1, kN)));
  // A shard's step (read under its lock) is 1 once its round closed.
  const auto closed = [&](uint32_t s) {
    return cluster.server(s).state().step() == 1;
  };
  EXPECT_TRUE(WaitUntil([&] { return closed(2); }, testing::kWaitTimeout,
                        std::chrono::milliseconds(10)));
  EXPECT_FALSE(closed(1));
  EXPECT_FALSE(closed(0));
  ASSERT_OK(client->PushPullPart(0, Range(sel, 0, mid1)));
  auto r = client->FinishPushPull(nullptr);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->step, 1u);
  EXPECT_EQ(params, cluster.ServerValues());
}

TEST(OverlappedPushTest, BadPartsAndCallsOutOfOrderAreRefused) {
  OneWorker job(2);
  std::vector<float>& params = job.params;
  ShardClient* client = job.client.get();
  const auto code = [](const absl::Status& s) { return s.code(); };
  EXPECT_EQ(code(client->PushPullPart(0, {})),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(code(client->FinishPushPull(nullptr).status()),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_OK(client->BeginPushPull(params));
  EXPECT_EQ(code(client->BeginPushPull(params)),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(code(client->PushPull(common::SparseSelection(), params, nullptr)
                     .status()),
            absl::StatusCode::kFailedPrecondition);
  common::SparseSelection outside;  // index 100 is below the part's range
  outside.indices = {100, 5000};
  outside.values = {1, 1};
  EXPECT_EQ(code(client->PushPullPart(4000, outside)),
            absl::StatusCode::kInvalidArgument);
  common::SparseSelection unsorted;
  unsorted.indices = {4500, 4400};
  unsorted.values = {1, 1};
  EXPECT_EQ(code(client->PushPullPart(4000, unsorted)),
            absl::StatusCode::kInvalidArgument);
  common::SparseSelection one;
  one.indices = {4500};
  one.values = {2};
  ASSERT_OK(client->PushPullPart(4000, one));
  EXPECT_EQ(code(client->PushPullPart(4001, {})),  // not below the last
            absl::StatusCode::kInvalidArgument);
  // The refused parts changed nothing: the round pushes the one pair.
  const std::vector<float> before = params;
  ASSERT_OK(client->FinishPushPull(nullptr).status());
  for (uint32_t i = 0; i < kN; ++i) {
    if (i == 4500) {
      EXPECT_EQ(params[i], before[i] - 0.01f * 2);  // lr 0.01, 1 worker
    } else {
      EXPECT_EQ(params[i], before[i]) << i;
    }
  }
}

TEST(OverlappedPushTest, AClientDestroyedWithARoundOpenCancelsItsCalls) {
  ClusterOptions co;
  co.num_workers = 2;  // the started call waits for worker 1, who never comes
  co.num_shards = 2;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  std::vector<float> params = RandomParams(3, kN);
  auto client = cluster.NewClient(0);
  ASSERT_OK(client->Join(std::vector<uint64_t>{kN}, params).status());
  const uint64_t begin1 = cluster.shard_map().begin(1);
  ASSERT_OK(client->BeginPushPull(params));
  ASSERT_OK(client->PushPullPart(
      begin1, Range(RandomSelection(4, kN, 0.05), begin1, kN)));
  client.reset();  // returns: the pending call was cancelled
  // The shard is still serving: a new client joins it.
  auto again = cluster.NewClient(0);
  EXPECT_OK(again->Pull(params).status());
}

// Records what PushPull was given.
class RecordingClient final : public ParameterClient {
 public:
  absl::StatusOr<uint64_t> Join(std::span<const uint64_t>,
                                std::span<float>) override {
    return 0;
  }
  absl::StatusOr<PushPullResult> PushPull(const common::SparseSelection& sel,
                                          std::span<float> params,
                                          common::SparseSelection*) override {
    pushed = sel;
    params_size = params.size();
    return PushPullResult{};
  }
  absl::StatusOr<uint64_t> Pull(std::span<float>) override { return 0; }

  common::SparseSelection pushed;
  size_t params_size = 0;
};

TEST(OverlappedPushTest, TheDefaultGathersThePartsIntoOnePushPull) {
  RecordingClient client;
  std::vector<float> params(100);
  const common::SparseSelection sel = RandomSelection(5, 100, 0.3);
  ASSERT_OK(client.BeginPushPull(params));
  ASSERT_OK(client.PushPullPart(60, Range(sel, 60, 100)));
  ASSERT_OK(client.PushPullPart(30, Range(sel, 30, 60)));
  EXPECT_EQ(client.PushPullPart(40, {}).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_OK(client.PushPullPart(0, Range(sel, 0, 30)));
  ASSERT_OK(client.FinishPushPull(nullptr).status());
  EXPECT_EQ(client.pushed.indices, sel.indices);
  EXPECT_EQ(client.pushed.values, sel.values);
  EXPECT_EQ(client.params_size, 100u);
  EXPECT_EQ(client.FinishPushPull(nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cddp::worker
