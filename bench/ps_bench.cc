// cddp_ps_bench: end-to-end rounds of the parameter servers on loopback.
// W workers x S shards in one process (each worker its own gRPC
// connections), a flat vector of N floats, dense (100 %) and sparse pushes,
// each with the dense and the sparse downlink. Reports rounds/s, bytes per
// round and the round split (push / wait-for-round / aggregation / reply),
// next to a same-run raw-TCP transfer of the same dense reply bytes and, if
// given, the gloo all_reduce time measured by bench/gloo_allreduce.py (see
// bench/ps_bench.sh, which runs both).
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/check.h"
#include "common/huge_pages.h"
#include "server/server.h"
#include "worker/client/shard_client.h"

ABSL_FLAG(uint32_t, workers, 2, "W: workers");
ABSL_FLAG(uint32_t, shards, 2, "S: parameter-server shards");
ABSL_FLAG(uint64_t, n, 25'600'000, "N: floats in the flat vector");
ABSL_FLAG(int, rounds, 5, "measured rounds per configuration");
ABSL_FLAG(int, warmup, 1, "unmeasured rounds first");
ABSL_FLAG(std::string, densities, "1.0,0.01", "push densities to run");
ABSL_FLAG(std::string, downlinks, "dense,sparse", "downlink modes to run");
ABSL_FLAG(int, piece_kb,
          static_cast<int>(cddp::server::kDefaultPieceBytes >> 10),
          "dense reply piece size, KiB");
ABSL_FLAG(uint32_t, sparse_piece_pairs,
          cddp::server::ShardOptions{}.sparse_piece_pairs,
          "sparse reply: pairs per message");
ABSL_FLAG(double, gloo_ms, 0, "gloo all_reduce median (ms) to compare with");

namespace {

using cddp::server::RoundTrace;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Collects the round traces of every shard.
class Traces : public cddp::server::RoundObserver {
 public:
  void OnRoundClosed(uint32_t shard, const RoundTrace& t) override {
    absl::MutexLock lock(&mu_);
    traces_.push_back({shard, t});
  }
  std::vector<RoundTrace> ForStep(uint64_t step) {
    absl::MutexLock lock(&mu_);
    std::vector<RoundTrace> out;
    for (const auto& [s, t] : traces_) {
      if (t.closed_round == step) out.push_back(t);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<uint32_t, RoundTrace>> traces_;
};

// Raw TCP floor: W*S loopback connections at once, each moving one shard's
// dense bytes (what a dense reply moves), plain write()/read().
double RawTcpSeconds(uint32_t streams, size_t bytes_per_stream) {
  const int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CDDP_CHECK(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  CDDP_CHECK(listen(lfd, static_cast<int>(streams)) == 0);
  std::vector<char> src(bytes_per_stream, 7);
  std::vector<std::vector<char>> dst(streams,
                                     std::vector<char>(bytes_per_stream));
  std::vector<int> clients(streams), servers(streams);
  for (uint32_t i = 0; i < streams; ++i) {
    clients[i] = socket(AF_INET, SOCK_STREAM, 0);
    CDDP_CHECK(connect(clients[i], reinterpret_cast<sockaddr*>(&addr),
                       sizeof(addr)) == 0);
    servers[i] = accept(lfd, nullptr, nullptr);
  }
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < streams; ++i) {
    threads.emplace_back([&, i] {
      size_t off = 0;
      while (off < src.size()) {
        const ssize_t n = write(servers[i], src.data() + off, src.size() - off);
        CDDP_CHECK(n > 0);
        off += static_cast<size_t>(n);
      }
    });
    threads.emplace_back([&, i] {
      size_t off = 0;
      while (off < dst[i].size()) {
        const ssize_t n =
            read(clients[i], dst[i].data() + off, dst[i].size() - off);
        CDDP_CHECK(n > 0);
        off += static_cast<size_t>(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (uint32_t i = 0; i < streams; ++i) {
    close(clients[i]);
    close(servers[i]);
  }
  close(lfd);
  return seconds;
}

struct Row {
  std::string name;
  double density;
  double round_ms, rounds_per_s, up_bytes, down_bytes;
  double push_ms, wait_ms, agg_ms, reply_ms, reply_gbps;
};

cddp::common::SparseSelection Selection(uint64_t seed, uint64_t n,
                                        double density) {
  cddp::common::SparseSelection s;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(-1e-3f, 1e-3f);
  if (density >= 1.0) {
    s.indices.resize(n);
    s.values.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      s.indices[i] = static_cast<uint32_t>(i);
      s.values[i] = value(rng);
    }
    return s;
  }
  // k distinct indices: a random stride walk keeps them ascending.
  const uint64_t k = static_cast<uint64_t>(static_cast<double>(n) * density);
  const uint64_t mean_gap = n / k;
  std::uniform_int_distribution<uint64_t> gap(1, 2 * mean_gap - 1);
  uint64_t i = gap(rng) / 2;
  while (i < n && s.indices.size() < k) {
    s.indices.push_back(static_cast<uint32_t>(i));
    s.values.push_back(value(rng));
    i += gap(rng);
  }
  return s;
}

Row RunConfig(double density, cddp::server::DownlinkMode downlink) {
  const uint32_t W = absl::GetFlag(FLAGS_workers);
  const uint32_t S = absl::GetFlag(FLAGS_shards);
  const uint64_t N = absl::GetFlag(FLAGS_n);
  Traces traces;
  std::vector<std::unique_ptr<cddp::server::Server>> servers;
  std::vector<std::string> addresses;
  for (uint32_t s = 0; s < S; ++s) {
    cddp::server::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.shard.shard_index = s;
    o.shard.num_shards = S;
    o.shard.num_workers = W;
    o.shard.optimizer.lr = 0.01f;
    o.shard.downlink = downlink;
    o.shard.sparse_piece_pairs = absl::GetFlag(FLAGS_sparse_piece_pairs);
    o.max_message_mb = 1024;
    o.piece_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_piece_kb)) << 10;
    o.observer = &traces;
    auto server = cddp::server::Server::Create(o);
    CDDP_CHECK(server.ok());
    CDDP_CHECK((*server)->Start().ok());
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    servers.push_back(std::move(*server));
  }
  const auto map = *cddp::common::ShardMap::Create(N, S);
  std::vector<std::unique_ptr<cddp::worker::ShardClient>> clients;
  std::vector<cddp::common::HugePageFloats> params;
  for (uint32_t w = 0; w < W; ++w) {
    params.emplace_back(N);
    std::fill(params[w].data(), params[w].data() + N, 0.5f);
  }
  std::vector<cddp::common::SparseSelection> selections;
  for (uint32_t w = 0; w < W; ++w) {
    cddp::worker::ShardClientOptions o;
    o.server_addresses = addresses;
    o.worker_id = w;
    o.max_message_mb = 1024;
    clients.push_back(
        std::move(*cddp::worker::ShardClient::Create(map, std::move(o))));
    CDDP_CHECK(
        clients[w]->Join(std::vector<uint64_t>{N}, params[w].span()).ok());
    selections.push_back(Selection(w + 1, N, density));
  }
  const int warmup = absl::GetFlag(FLAGS_warmup);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  std::vector<double> round_ms, push_ms, wait_ms, agg_ms, reply_ms, up, down;
  for (int r = 0; r < warmup + rounds; ++r) {
    const uint64_t step = static_cast<uint64_t>(r);
    std::vector<absl::Time> end(W);
    std::vector<uint64_t> sent(W), received(W);
    const absl::Time start = absl::Now();
    std::vector<std::thread> threads;
    for (uint32_t w = 0; w < W; ++w) {
      threads.emplace_back([&, w] {
        auto res = clients[w]->PushPull(step, selections[w], params[w].span(),
                                        nullptr);
        CDDP_CHECK(res.ok());
        end[w] = absl::Now();
        sent[w] = res->bytes_sent;
        received[w] = res->bytes_received;
      });
    }
    for (auto& t : threads) t.join();
    if (r < warmup) continue;
    const absl::Time round_end = *std::max_element(end.begin(), end.end());
    // Per shard: push until its last push arrived, wait until it could
    // close, aggregate; the slowest shard bounds the round.
    absl::Time last_push = start, close_end = start;
    double agg = 0, wait = 0;
    for (const RoundTrace& t : traces.ForStep(step)) {
      last_push = std::max(last_push, t.last_push);
      close_end = std::max(close_end, t.close_end);
      agg = std::max(agg,
                     absl::ToDoubleMilliseconds(t.close_end - t.close_start));
      wait = std::max(wait,
                      absl::ToDoubleMilliseconds(t.close_start - t.last_push));
    }
    round_ms.push_back(absl::ToDoubleMilliseconds(round_end - start));
    push_ms.push_back(absl::ToDoubleMilliseconds(last_push - start));
    wait_ms.push_back(wait);
    agg_ms.push_back(agg);
    reply_ms.push_back(absl::ToDoubleMilliseconds(round_end - close_end));
    double u = 0, d = 0;
    for (uint32_t w = 0; w < W; ++w) u += static_cast<double>(sent[w]);
    for (uint32_t w = 0; w < W; ++w) d += static_cast<double>(received[w]);
    up.push_back(u / W);
    down.push_back(d / W);
  }
  for (auto& s : servers) s->Shutdown();
  Row row;
  row.density = density;
  row.name = absl::StrCat(
      density >= 1.0 ? "100%" : absl::StrCat(density * 100, "%"), " push, ",
      downlink == cddp::server::DownlinkMode::kDense ? "dense" : "sparse",
      " downlink");
  row.round_ms = Median(round_ms);
  row.rounds_per_s = 1000.0 / row.round_ms;
  row.up_bytes = Median(up);
  row.down_bytes = Median(down);
  row.push_ms = Median(push_ms);
  row.wait_ms = Median(wait_ms);
  row.agg_ms = Median(agg_ms);
  row.reply_ms = Median(reply_ms);
  row.reply_gbps = row.down_bytes * W / (row.reply_ms * 1e-3) / 1e9;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Each round allocates and frees multi-MiB buffers (decoded pushes,
  // encoded replies). Keep freed memory in the heap rather than returning it
  // to the kernel, so rounds do not page-fault it back in every time.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  const uint32_t W = absl::GetFlag(FLAGS_workers);
  const uint32_t S = absl::GetFlag(FLAGS_shards);
  const uint64_t N = absl::GetFlag(FLAGS_n);
  std::printf(
      "cddp_ps_bench: W=%u S=%u N=%llu, %d rounds (+%d warm-up), "
      "medians\n",
      W, S, static_cast<unsigned long long>(N), absl::GetFlag(FLAGS_rounds),
      absl::GetFlag(FLAGS_warmup));
  std::vector<double> tcp;
  for (int i = 0; i < 3; ++i) {
    tcp.push_back(RawTcpSeconds(W * S, N / S * sizeof(float)));
  }
  const double tcp_s = Median(tcp);
  const double tcp_gbps =
      static_cast<double>(W * N * sizeof(float)) / tcp_s / 1e9;
  std::printf("raw TCP floor: %u streams x %.1f MB in %.1f ms = %.2f GB/s\n",
              W * S, N / S * 4 / 1e6, tcp_s * 1e3, tcp_gbps);

  std::vector<Row> rows;
  for (const auto& d : absl::StrSplit(absl::GetFlag(FLAGS_densities), ',')) {
    double density = 0;
    CDDP_CHECK(absl::SimpleAtod(d, &density));
    for (const auto& m : absl::StrSplit(absl::GetFlag(FLAGS_downlinks), ',')) {
      rows.push_back(RunConfig(
          density, m == "sparse" ? cddp::server::DownlinkMode::kSparse
                                 : cddp::server::DownlinkMode::kDense));
      std::fflush(stdout);
    }
  }
  std::printf(
      "\n| config | round ms | rounds/s | uplink B/worker | downlink "
      "B/worker | push ms | wait ms | aggregation ms | reply ms | "
      "reply GB/s |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::printf(
        "| %s | %.1f | %.2f | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f "
        "| %.2f |\n",
        r.name.c_str(), r.round_ms, r.rounds_per_s, r.up_bytes, r.down_bytes,
        r.push_ms, r.wait_ms, r.agg_ms, r.reply_ms, r.reply_gbps);
  }
  // Ratios against the same-run baselines.
  const Row* dense_up = nullptr;
  for (const Row& r : rows) {
    if (r.name.rfind("100%", 0) == 0) dense_up = &r;
  }
  std::printf("\n");
  for (const Row& r : rows) {
    if (dense_up != nullptr && &r != dense_up && r.name.rfind("100%", 0) != 0) {
      std::printf("%s: uplink %.2f%% of dense (%.2f B/pair)\n", r.name.c_str(),
                  100.0 * r.up_bytes / dense_up->up_bytes,
                  r.up_bytes / (static_cast<double>(N) * r.density));
    }
    if (r.name.find("dense downlink") != std::string::npos) {
      std::printf("%s: dense reply at %.2f GB/s = %.0f%% of raw TCP\n",
                  r.name.c_str(), r.reply_gbps,
                  100.0 * r.reply_gbps / tcp_gbps);
    }
    if (absl::GetFlag(FLAGS_gloo_ms) > 0) {
      std::printf("%s: %.2fx the speed of gloo all_reduce (%.1f ms)\n",
                  r.name.c_str(), absl::GetFlag(FLAGS_gloo_ms) / r.round_ms,
                  absl::GetFlag(FLAGS_gloo_ms));
    }
  }
  return 0;
}
