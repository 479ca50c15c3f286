// ShardClient against in-process servers: failures name the shard and keep
// the pairs of a broken call for the next Join to settle, UNAVAILABLE is
// retried, the sparse downlink resynchronises a stale copy, a shard
// restarted from an older checkpoint catches up while the others wait, a
// full shard goes dense, an uncompressed push out of order is refused with
// nothing counted although it streamed, bad arguments are refused.
#include "worker/client/shard_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/wait_until.h"

namespace cddp::worker {
namespace {

using testing::ClusterOptions;
using testing::RandomParams;
using testing::RandomSelection;
using testing::TestCluster;
using testing::WaitUntil;

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

TEST(ShardClientTest, UnreachableShardIsRetriedThenNamedItsPairsKept) {
  ClusterOptions co;
  co.num_workers = 1;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  std::vector<float> params = RandomParams(1, kN);
  auto joined = cluster.NewClient(0);
  ASSERT_TRUE(joined->Join(std::vector<uint64_t>{kN}, params).ok());

  prometheus::Registry registry;
  ShardClientOptions o;
  o.tls = common::Plaintext();
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
  // The call broke (UNAVAILABLE after retries could follow a push the
  // shard took): shard 1's pairs are kept until a Join reaches it and says
  // whether it counted them; none does, so none come back yet.
  EXPECT_EQ(undelivered.size(), 0u);
  (*client)->TakeUncounted(&undelivered);
  EXPECT_EQ(undelivered.size(), 0u);
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
  ASSERT_OK(cluster.status());
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
  EXPECT_TRUE(WaitUntil([&] {
    return cluster.server(0).state().pushed_count() >= 1 &&
           cluster.server(1).state().pushed_count() >= 1;
  }));
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

// Two shards with checkpoints in `dir`, each on its own loopback port.
std::unique_ptr<server::Server> StartShard(uint32_t shard,
                                           const std::string& dir) {
  server::ServerOptions so;
  so.tls = common::Plaintext();
  so.listen = "127.0.0.1:0";
  so.shard.shard_index = shard;
  so.shard.num_shards = 2;
  so.shard.num_workers = 2;
  so.shard.optimizer.lr = 0.1f;
  so.shard.optimizer.momentum = 0.9f;
  so.checkpoint_dir = dir;
  so.checkpoint_every = 2;
  so.poll_interval = absl::Milliseconds(1);
  auto server = server::Server::Create(so);
  EXPECT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->Start().ok());
  return std::move(*server);
}

std::unique_ptr<ShardClient> ClientFor(
    const common::ShardMap& map,
    const std::vector<std::unique_ptr<server::Server>>& servers, uint32_t w) {
  ShardClientOptions o;
  o.tls = common::Plaintext();
  for (const auto& s : servers) {
    o.server_addresses.push_back(absl::StrCat("127.0.0.1:", s->port()));
  }
  o.worker_id = w;
  o.deadline = absl::Seconds(30);
  o.initial_backoff = absl::Milliseconds(5);
  auto client = ShardClient::Create(map, o);
  EXPECT_TRUE(client.ok());
  return std::move(*client);
}

// Runs one PushPull per worker concurrently at the shards' own steps.
void RoundAtOwnSteps(std::vector<std::unique_ptr<ShardClient>>& clients,
                     std::vector<std::vector<float>>& params, uint64_t seed,
                     uint64_t expect_step,
                     std::vector<uint32_t> contributors = {2, 2}) {
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < clients.size(); ++w) {
    threads.emplace_back([&, w] {
      auto r = clients[w]->PushPull(RandomSelection(seed * 7 + w, kN, 0.05),
                                    params[w], nullptr);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->step, expect_step);
      EXPECT_EQ(r->contributors, contributors);
    });
  }
  for (auto& t : threads) t.join();
}

TEST(ShardClientTest, ShardRestartedFromAnOlderCheckpointCatchesUp) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/cddp_client_restart_", getpid());
  std::filesystem::remove_all(dir);
  auto map = common::ShardMap::Create(kN, 2);
  ASSERT_TRUE(map.ok());
  std::vector<std::unique_ptr<server::Server>> servers;
  for (uint32_t s = 0; s < 2; ++s) servers.push_back(StartShard(s, dir));
  const auto init = RandomParams(1, kN);
  std::vector<std::vector<float>> params(2, init);
  std::vector<std::unique_ptr<ShardClient>> clients;
  for (uint32_t w = 0; w < 2; ++w) {
    clients.push_back(ClientFor(*map, servers, w));
    ASSERT_TRUE(clients[w]->Join(std::vector<uint64_t>{kN}, params[w]).ok());
  }
  for (uint64_t step = 0; step < 3; ++step) {
    RoundAtOwnSteps(clients, params, step, step + 1);
  }
  // Shard 1 "crashes" after step 3 with its periodic checkpoint at step 2:
  // keep that file, let the shutdown write step 3's, then put step 2 back.
  const std::string ckpt = server::ShardCheckpointPath(dir, 1);
  // Written off the round's thread; the rename makes it appear whole.
  ASSERT_TRUE(
      testing::WaitUntil([&] { return std::filesystem::exists(ckpt); }));
  std::filesystem::copy_file(ckpt, ckpt + ".at2");
  servers[1]->Shutdown();
  std::filesystem::rename(ckpt + ".at2", ckpt);
  servers[1] = StartShard(1, dir);
  ASSERT_TRUE(servers[1]->resumed().has_value());
  EXPECT_EQ(servers[1]->resumed()->step, 2u);

  for (uint32_t w = 0; w < 2; ++w) {
    clients[w] = ClientFor(*map, servers, w);
    auto step = clients[w]->Join(std::vector<uint64_t>{kN}, params[w]);
    ASSERT_TRUE(step.ok()) << step.status();
    EXPECT_EQ(*step, 3u);  // the job's step: the largest shard step
    EXPECT_EQ(clients[w]->shard_steps(), (std::vector<uint64_t>{3, 2}));
    EXPECT_FALSE(clients[w]->ShardsAtOneStep());
  }
  // Only shard 1, behind, is pushed until it caught up; shard 0 waits.
  RoundAtOwnSteps(clients, params, 103, 3, {0, 2});
  EXPECT_EQ(clients[0]->shard_steps(), (std::vector<uint64_t>{3, 3}));
  EXPECT_TRUE(clients[0]->ShardsAtOneStep());
  // Then both move together.
  for (uint64_t round = 3; round < 6; ++round) {
    RoundAtOwnSteps(clients, params, 100 + round, round + 1);
  }
  EXPECT_EQ(servers[0]->state().step(), 6u);
  EXPECT_EQ(servers[1]->state().step(), 6u);
  std::vector<float> served;
  for (auto& s : servers) {
    auto v = s->state().values();
    served.insert(served.end(), v.begin(), v.end());
  }
  EXPECT_EQ(params[0], served);
  EXPECT_EQ(params[1], served);
  for (auto& s : servers) s->Shutdown();
  std::filesystem::remove_all(dir);
}

double TotalCounter(prometheus::Registry& r, const std::string& name) {
  double total = 0;
  for (const auto& family : r.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) total += m.counter.value;
  }
  return total;
}

// Only the worker that initialises a shard uploads its slice: the others'
// joins carry no values (their request bytes stay far below the shard's
// size), and they pull the first worker's values.
TEST(ShardClientTest, OnlyTheFirstJoinCarriesInitialValues) {
  ClusterOptions co;
  co.num_workers = 2;
  TestCluster cluster(co, kN);
  const double values_bytes = kN * sizeof(float);
  std::vector<std::vector<float>> params = {RandomParams(1, kN),
                                            RandomParams(2, kN)};
  const std::vector<float> first = params[0];
  std::vector<double> sent(2);
  for (uint32_t w = 0; w < 2; ++w) {
    prometheus::Registry registry;
    auto client = cluster.NewClient(w, &registry);
    ASSERT_TRUE(client->Join(std::vector<uint64_t>{kN}, params[w]).ok());
    sent[w] = TotalCounter(registry, "cddp_client_sent_bytes_total");
  }
  EXPECT_GE(sent[0], values_bytes);
  EXPECT_LT(sent[1], 1024) << "a joiner of initialised shards sent values";
  EXPECT_EQ(params[0], first);
  EXPECT_EQ(params[1], first);
  EXPECT_EQ(cluster.ServerValues(), first);
}

// Workers joining at once all end with the same values: those of one of
// them per shard, the ones the servers hold.
TEST(ShardClientTest, ConcurrentJoinsAgreeOnTheValues) {
  ClusterOptions co;
  co.num_workers = 4;
  TestCluster cluster(co, kN);
  std::vector<std::vector<float>> params;
  for (uint32_t w = 0; w < co.num_workers; ++w) {
    params.push_back(RandomParams(10 + w, kN));
  }
  const std::vector<std::vector<float>> initial = params;
  // Eight channels connect at once to servers that just started. A first
  // connect that fails (about one run in 30 here) leaves gRPC's channel in
  // its reconnect backoff (~1 s), so the clients get enough attempts to
  // outlast it, as the trainer's resync loop does.
  constexpr int kAttempts = 12;
  std::vector<std::unique_ptr<ShardClient>> clients;
  for (uint32_t w = 0; w < co.num_workers; ++w) {
    clients.push_back(cluster.NewClient(w, nullptr, kAttempts));
  }
  std::vector<absl::Status> joined(co.num_workers);
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < co.num_workers; ++w) {
    threads.emplace_back([&, w] {
      joined[w] =
          clients[w]->Join(std::vector<uint64_t>{kN}, params[w]).status();
    });
  }
  for (auto& t : threads) t.join();
  const std::vector<float> served = cluster.ServerValues();
  for (uint32_t w = 0; w < co.num_workers; ++w) {
    ASSERT_TRUE(joined[w].ok()) << joined[w];
    EXPECT_EQ(params[w], served);
  }
  const auto& map = cluster.shard_map();
  for (uint32_t s = 0; s < map.num_shards(); ++s) {
    const auto slice = [&](const std::vector<float>& v) {
      return std::vector<float>(v.begin() + map.begin(s),
                                v.begin() + map.begin(s) + map.size(s));
    };
    bool from_a_worker = false;
    for (const auto& init : initial) {
      from_a_worker |= slice(init) == slice(served);
    }
    EXPECT_TRUE(from_a_worker) << "shard " << s;
  }
}

TEST(ShardClientTest, AChunkHoldingTheWholeShardGoesWithoutIndices) {
  ClusterOptions co;
  co.num_workers = 1;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  std::vector<float> params = RandomParams(1, kN);
  auto client = cluster.NewClient(0);
  ASSERT_TRUE(client->Join(std::vector<uint64_t>{kN}, params).ok());
  // Every element of shard 0, a few of shard 1.
  common::SparseSelection sel;
  for (uint32_t i = 0; i < kN; ++i) {
    if (i < cluster.shard_map().end(0) || i % 100 == 0) {
      sel.indices.push_back(i);
      sel.values.push_back(0.001f * static_cast<float>(i % 17));
    }
  }
  std::vector<float> expected = params;
  for (size_t k = 0; k < sel.size(); ++k) {
    expected[sel.indices[k]] -= 0.01f * sel.values[k];  // lr 0.01, 1 worker
  }
  auto r = client->PushPull(sel, params, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  // 4 bytes per value of shard 0 (no index bytes), plus shard 1's few
  // pairs and the framing of each piece (8 of 256 values in shard 0).
  const uint64_t shard0 = cluster.shard_map().size(0);
  EXPECT_LT(r->bytes_sent, 4 * shard0 + 400);
  EXPECT_EQ(params, cluster.ServerValues());
  EXPECT_EQ(params, expected);
}

// An uncompressed push streams while its order is checked; one out of
// order is refused with nothing counted (no shard got its last piece), and
// the client pushes the same step again at once, unsettled by nothing. The
// parameter is the pairs per piece: shards in many pieces (started before
// the check) and in one (started after it).
class WholeVectorPushTest : public ::testing::TestWithParam<size_t> {};

TEST_P(WholeVectorPushTest, OutOfOrderIsRefusedWhileItStreams) {
  ClusterOptions co;
  co.num_workers = 1;
  co.check_beside_push_from = 1;  // every whole-vector push
  co.push_piece_pairs = GetParam();
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  std::vector<float> params = RandomParams(1, kN);
  auto client = cluster.NewClient(0);
  ASSERT_TRUE(client->Join(std::vector<uint64_t>{kN}, params).ok());
  common::SparseSelection whole;
  for (uint32_t i = 0; i < kN; ++i) {
    whole.indices.push_back(i);
    whole.values.push_back(0.001f * static_cast<float>(i % 13));
  }
  const std::vector<float> before = params;
  for (const size_t swap : {size_t{1}, size_t{kN / 2}, size_t{kN - 1}}) {
    common::SparseSelection bad = whole;
    std::swap(bad.indices[swap - 1], bad.indices[swap]);
    common::SparseSelection undelivered;
    undelivered.indices = {7};  // cleared
    undelivered.values = {1.0f};
    auto r = client->PushPull(bad, params, &undelivered);
    ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << swap;
    EXPECT_NE(r.status().message().find(
                  absl::StrCat("not strictly increasing at position ", swap)),
              std::string::npos)
        << r.status();
    EXPECT_EQ(undelivered.size(), 0u);
    EXPECT_EQ(cluster.ServerValues(), before) << swap;
    EXPECT_EQ(params, before) << swap;
  }
  auto r = client->PushPull(whole, params, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step, 1u);
  std::vector<float> expected = before;
  for (uint32_t i = 0; i < kN; ++i) expected[i] -= 0.01f * whole.values[i];
  EXPECT_EQ(params, expected);
  EXPECT_EQ(cluster.ServerValues(), expected);
}

INSTANTIATE_TEST_SUITE_P(PiecesPerShard, WholeVectorPushTest,
                         ::testing::Values(size_t{256}, size_t{kN}));

TEST(ShardClientTest, BadArgumentsAreRefused) {
  auto map = common::ShardMap::Create(kN, 2);
  ASSERT_OK(map);
  ShardClientOptions o;
  o.tls = common::Plaintext();
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
