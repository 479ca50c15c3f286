// ShardClient against in-process servers: failures name the shard and hand
// back the undelivered pairs, UNAVAILABLE is retried, the sparse downlink
// resynchronises a stale copy, bad arguments are refused.
#include "worker/shard_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/server/test_util.h"

namespace cddp::worker {
namespace {

using testing::ClusterOptions;
using testing::RandomParams;
using testing::RandomSelection;
using testing::TestCluster;

constexpr uint32_t kN = 4000;

// A loopback port nothing listens on (bound, then closed).
int DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

double CounterValue(prometheus::Registry& r, const std::string& name,
                    const std::string& shard) {
  for (const auto& family : r.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "shard" && l.value == shard) return m.counter.value;
      }
    }
  }
  return -1;
}

TEST(ShardClientTest, UnreachableShardIsRetriedThenNamedWithUndeliveredPairs) {
  ClusterOptions co;
  co.num_workers = 1;
  TestCluster cluster(co, kN);
  std::vector<float> params = RandomParams(1, kN);
  auto joined = cluster.NewClient(0);
  ASSERT_TRUE(joined->Join(std::vector<uint64_t>{kN}, params).ok());

  prometheus::Registry registry;
  ShardClientOptions o;
  o.server_addresses = {cluster.addresses()[0],
                        absl::StrCat("127.0.0.1:", DeadPort())};
  o.worker_id = 0;
  o.max_attempts = 3;
  o.initial_backoff = absl::Milliseconds(1);
  o.deadline = absl::Seconds(5);
  o.registry = &registry;
  auto client = ShardClient::Create(cluster.shard_map(), o);
  ASSERT_TRUE(client.ok());
  const auto selection = RandomSelection(2, kN, 0.05);
  common::SparseSelection undelivered;
  auto r = (*client)->PushPull(0, selection, params, &undelivered);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("shard 1"), std::string::npos)
      << r.status();
  // Exactly shard 1's pairs, with flat indices.
  common::SparseSelection expected;
  for (size_t k = 0; k < selection.size(); ++k) {
    if (selection.indices[k] >= cluster.shard_map().begin(1)) {
      expected.indices.push_back(selection.indices[k]);
      expected.values.push_back(selection.values[k]);
    }
  }
  EXPECT_EQ(undelivered.indices, expected.indices);
  EXPECT_EQ(undelivered.values, expected.values);
  EXPECT_EQ(CounterValue(registry, "cddp_client_retries_total", "1"), 2);
  EXPECT_EQ(CounterValue(registry, "cddp_client_failures_total", "1"), 1);
  EXPECT_EQ(CounterValue(registry, "cddp_client_retries_total", "0"), 0);
  // Shard 0 took its part.
  EXPECT_EQ(cluster.server(0).state().step(), 1u);
  EXPECT_EQ(cluster.server(1).state().step(), 0u);
}

TEST(ShardClientTest, StaleCopyIsPulledInFullWithTheSparseDownlink) {
  server::FakeClock clock;
  ClusterOptions co;
  co.num_workers = 2;
  co.downlink = server::DownlinkMode::kSparse;
  co.round_timeout = absl::Seconds(1);
  co.clock = &clock;
  TestCluster cluster(co, kN);
  const auto init = RandomParams(1, kN);
  std::vector<std::vector<float>> params(2, init);
  std::vector<std::unique_ptr<ShardClient>> clients;
  for (uint32_t w = 0; w < 2; ++w) {
    clients.push_back(cluster.NewClient(w));
    ASSERT_TRUE(clients[w]->Join(std::vector<uint64_t>{kN}, params[w]).ok());
  }
  // Step 0 closes at the timeout with worker 0 only.
  std::thread t([&] {
    auto r = clients[0]->PushPull(0, RandomSelection(3, kN, 0.05), params[0],
                                  nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
  });
  while (cluster.server(0).state().pushed_count() < 1 ||
         cluster.server(1).state().pushed_count() < 1) {
    std::this_thread::yield();
  }
  clock.Advance(absl::Seconds(1));
  t.join();
  // Worker 1 skips ahead to step 1 without pulling: its copy is stale, so
  // after the sparse reply it pulls in full.
  std::thread t0([&] {
    auto r = clients[0]->PushPull(1, RandomSelection(4, kN, 0.05), params[0],
                                  nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
  });
  auto r1 =
      clients[1]->PushPull(1, RandomSelection(5, kN, 0.05), params[1], nullptr);
  t0.join();
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->step, 2u);
  EXPECT_EQ(params[0], cluster.ServerValues());
  EXPECT_EQ(params[1], cluster.ServerValues());
}

TEST(ShardClientTest, BadArgumentsAreRefused) {
  auto map = common::ShardMap::Create(kN, 2);
  ShardClientOptions o;
  o.server_addresses = {"127.0.0.1:1"};
  EXPECT_EQ(ShardClient::Create(*map, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.server_addresses = {"127.0.0.1:1", "127.0.0.1:2"};
  auto client = ShardClient::Create(*map, o);
  ASSERT_TRUE(client.ok());
  std::vector<float> small(10);
  EXPECT_EQ((*client)->PushPull(0, {}, small, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> params(kN);
  common::SparseSelection unsorted;
  unsorted.indices = {5, 3};
  unsorted.values = {1, 2};
  EXPECT_EQ((*client)->PushPull(0, unsorted, params, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cddp::worker
