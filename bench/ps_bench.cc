// cddp_ps_bench: end-to-end rounds of the parameter servers on loopback.
// W workers x S shards in one process (each worker its own gRPC
// connections), a flat vector of N floats, dense (100 %) and sparse pushes,
// each with the dense, the sparse (plain SGD on the servers) and the
// compressed downlink (momentum 0.9 on the servers). Reports rounds/s, bytes
// per round and the round split (push / wait-for-round / aggregation / reply),
// next to a same-run raw-TCP transfer of the same dense reply bytes and, if
// given, the gloo all_reduce time measured by bench/gloo_allreduce.py (see
// bench/ps_bench.sh, which runs both).
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/tcp_floor.h"
#include "common/check.h"
#include "common/huge_pages.h"
#include "common/program_flags.h"
#include "server/server.h"
#include "worker/client/shard_client.h"

ABSL_FLAG(uint32_t, workers, 2, "W: workers");
ABSL_FLAG(uint32_t, shards, 2, "S: parameter-server shards");
ABSL_FLAG(uint64_t, n, 25'600'000, "N: floats in the flat vector");
ABSL_FLAG(int, rounds, 5, "measured rounds per configuration");
ABSL_FLAG(int, warmup, 1, "unmeasured rounds first");
ABSL_FLAG(std::string, densities, "1.0,0.01", "push densities to run");
ABSL_FLAG(std::string, downlinks, "dense,sparse,compressed",
          "downlink modes to run (dense, sparse, compressed)");
ABSL_FLAG(int, piece_kb,
          static_cast<int>(cddp::server::kDefaultPieceBytes >> 10),
          "dense reply piece size, KiB");
ABSL_FLAG(uint32_t, sparse_piece_pairs,
          cddp::server::ShardOptions{}.sparse_piece_pairs,
          "sparse reply: pairs per message");
ABSL_FLAG(int, aggregation_threads, 1,
          "threads each shard's round close may use (cddp-server's "
          "--aggregation_threads)");
ABSL_FLAG(std::string, tls_dir, "",
          "mutual TLS with the certificates scripts/make_certs.sh DIR "
          "--servers S --workers W made (empty: plaintext)");
ABSL_FLAG(double, gloo_ms, 0, "gloo all_reduce median (ms) to compare with");
ABSL_FLAG(bool, whole_as_selection, false,
          "push a 100 % round as the selection 0..N-1 (PushPull, its order "
          "checked) instead of the dense gradient (PushPullDense)");

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
  if (density >= 1.0) {  // the dense gradient; indices only if asked for
    const bool indices = absl::GetFlag(FLAGS_whole_as_selection);
    if (indices) s.indices.resize(n);
    s.values.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      if (indices) s.indices[i] = static_cast<uint32_t>(i);
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

// One configuration's job: S servers and W joined workers, each with its
// parameters and the selection it pushes every round. Members are destroyed
// in reverse order: the clients before the servers, the servers before the
// traces they report to.
struct Cluster {
  Traces traces;
  std::vector<std::unique_ptr<cddp::server::Server>> servers;
  std::vector<std::unique_ptr<cddp::worker::ShardClient>> clients;
  std::vector<cddp::common::HugePageFloats> params;
  std::vector<cddp::common::SparseSelection> selections;
};

[[noreturn]] void Die(const absl::Status& s) {
  std::fprintf(stderr, "ps_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

// Process `name`'s transport security (--tls_dir).
cddp::common::TlsOptions Tls(const std::string& name) {
  const std::string dir = absl::GetFlag(FLAGS_tls_dir);
  return dir.empty() ? cddp::common::Plaintext()
                     : cddp::common::TlsOptionsInDir(dir, name);
}

// Starts S servers with `downlink` on loopback; returns their addresses.
std::vector<std::string> StartServers(cddp::server::DownlinkMode downlink,
                                      Cluster& c) {
  const uint32_t W = absl::GetFlag(FLAGS_workers);
  const uint32_t S = absl::GetFlag(FLAGS_shards);
  std::vector<std::string> addresses;
  for (uint32_t s = 0; s < S; ++s) {
    cddp::server::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.shard.shard_index = s;
    o.shard.num_shards = S;
    o.shard.num_workers = W;
    o.shard.optimizer.lr = 0.01f;
    // The compressed downlink exists for the optimizers the exact sparse
    // one cannot serve: measure it with momentum.
    if (downlink == cddp::server::DownlinkMode::kCompressed) {
      o.shard.optimizer.momentum = 0.9f;
    }
    o.shard.downlink = downlink;
    o.shard.sparse_piece_pairs = absl::GetFlag(FLAGS_sparse_piece_pairs);
    o.shard.threads = absl::GetFlag(FLAGS_aggregation_threads);
    o.max_message_mb = 1024;
    o.piece_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_piece_kb)) << 10;
    o.observer = &c.traces;
    o.tls = Tls(absl::StrCat("server-", s));
    auto server = cddp::server::Server::Create(o);
    if (!server.ok()) Die(server.status());
    CDDP_CHECK((*server)->Start().ok());
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    c.servers.push_back(std::move(*server));
  }
  return addresses;
}

// Creates W workers' clients, joins them, and draws their selections.
void JoinWorkers(const std::vector<std::string>& addresses, double density,
                 Cluster& c) {
  const uint32_t W = absl::GetFlag(FLAGS_workers);
  const uint64_t N = absl::GetFlag(FLAGS_n);
  const auto map =
      *cddp::common::ShardMap::Create(N, absl::GetFlag(FLAGS_shards));
  for (uint32_t w = 0; w < W; ++w) {
    c.params.emplace_back(N);
    std::fill(c.params[w].data(), c.params[w].data() + N, 0.5f);
  }
  for (uint32_t w = 0; w < W; ++w) {
    cddp::worker::ShardClientOptions o;
    o.server_addresses = addresses;
    o.worker_id = w;
    o.max_message_mb = 1024;
    o.tls = Tls(absl::StrCat("worker-", w));
    auto client = cddp::worker::ShardClient::Create(map, std::move(o));
    if (!client.ok()) Die(client.status());
    c.clients.push_back(std::move(*client));
    CDDP_CHECK(
        c.clients[w]->Join(std::vector<uint64_t>{N}, c.params[w].span()).ok());
    c.selections.push_back(Selection(w + 1, N, density));
  }
}

// When each worker's PushPull of one round ended, and its bytes.
struct RoundEnds {
  absl::Time start;
  std::vector<absl::Time> end;
  std::vector<uint64_t> sent, received;
};

// Every worker pushes its selection for `step` at once, on its own thread.
RoundEnds PushPullAll(Cluster& c, uint64_t step) {
  const uint32_t W = absl::GetFlag(FLAGS_workers);
  RoundEnds e{absl::Time(), std::vector<absl::Time>(W),
              std::vector<uint64_t>(W), std::vector<uint64_t>(W)};
  e.start = absl::Now();
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < W; ++w) {
    threads.emplace_back([&, w] {
      const cddp::common::SparseSelection& push = c.selections[w];
      // No indices: a 100 % push of the dense gradient.
      auto res =
          push.indices.empty() && !push.values.empty()
              ? c.clients[w]->PushPullDense(step, push.values,
                                            c.params[w].span(), nullptr)
              : c.clients[w]->PushPull(step, push, c.params[w].span(), nullptr);
      CDDP_CHECK(res.ok());
      e.end[w] = absl::Now();
      e.sent[w] = res->bytes_sent;
      e.received[w] = res->bytes_received;
    });
  }
  for (auto& t : threads) t.join();
  return e;
}

// The measured rounds of one configuration, one entry per round.
struct Samples {
  std::vector<double> round_ms, push_ms, wait_ms, agg_ms, reply_ms, up, down;
};

// Adds round `step` to `out`: its split from the shards' traces and the
// workers' mean bytes.
void AddRound(const RoundEnds& e, Traces& traces, uint64_t step, Samples& out) {
  const uint32_t W = absl::GetFlag(FLAGS_workers);
  const absl::Time round_end = *std::max_element(e.end.begin(), e.end.end());
  // Per shard: push until its last push arrived, wait until it could
  // close, aggregate; the slowest shard bounds the round.
  absl::Time last_push = e.start, close_end = e.start;
  double agg = 0, wait = 0;
  for (const RoundTrace& t : traces.ForStep(step)) {
    last_push = std::max(last_push, t.last_push);
    close_end = std::max(close_end, t.close_end);
    agg =
        std::max(agg, absl::ToDoubleMilliseconds(t.close_end - t.close_start));
    wait =
        std::max(wait, absl::ToDoubleMilliseconds(t.close_start - t.last_push));
  }
  out.round_ms.push_back(absl::ToDoubleMilliseconds(round_end - e.start));
  out.push_ms.push_back(absl::ToDoubleMilliseconds(last_push - e.start));
  out.wait_ms.push_back(wait);
  out.agg_ms.push_back(agg);
  out.reply_ms.push_back(absl::ToDoubleMilliseconds(round_end - close_end));
  double u = 0, d = 0;
  for (uint32_t w = 0; w < W; ++w) u += static_cast<double>(e.sent[w]);
  for (uint32_t w = 0; w < W; ++w) d += static_cast<double>(e.received[w]);
  out.up.push_back(u / W);
  out.down.push_back(d / W);
}

// The table row of a configuration: the medians of its rounds.
Row Summarize(double density, cddp::server::DownlinkMode downlink,
              const Samples& s) {
  Row row;
  row.density = density;
  row.name = absl::StrCat(
      density >= 1.0 ? "100%" : absl::StrCat(density * 100, "%"), " push, ",
      cddp::server::DownlinkModeName(downlink), " downlink",
      downlink == cddp::server::DownlinkMode::kCompressed ? " (momentum)" : "");
  row.round_ms = Median(s.round_ms);
  row.rounds_per_s = 1000.0 / row.round_ms;
  row.up_bytes = Median(s.up);
  row.down_bytes = Median(s.down);
  row.push_ms = Median(s.push_ms);
  row.wait_ms = Median(s.wait_ms);
  row.agg_ms = Median(s.agg_ms);
  row.reply_ms = Median(s.reply_ms);
  row.reply_gbps = row.down_bytes * absl::GetFlag(FLAGS_workers) /
                   (row.reply_ms * 1e-3) / 1e9;
  return row;
}

Row RunConfig(double density, cddp::server::DownlinkMode downlink) {
  Cluster c;
  JoinWorkers(StartServers(downlink, c), density, c);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  Samples samples;
  for (int r = 0; r < warmup + rounds; ++r) {
    const uint64_t step = static_cast<uint64_t>(r);
    const RoundEnds e = PushPullAll(c, step);
    if (r >= warmup) AddRound(e, c.traces, step, samples);
  }
  for (auto& s : c.servers) s->Shutdown();
  return Summarize(density, downlink, samples);
}

// Measures the raw TCP floor (median of 3) and prints it; returns GB/s.
double RawTcpFloorGbps() {
  const uint32_t W = absl::GetFlag(FLAGS_workers);
  const uint32_t S = absl::GetFlag(FLAGS_shards);
  const uint64_t N = absl::GetFlag(FLAGS_n);
  std::vector<double> tcp;
  for (int i = 0; i < 3; ++i) {
    tcp.push_back(cddp::bench::RawTcpSeconds(W * S, N / S * sizeof(float)));
  }
  const double tcp_s = Median(tcp);
  const double tcp_gbps =
      static_cast<double>(W * N * sizeof(float)) / tcp_s / 1e9;
  std::printf("raw TCP floor: %u streams x %.1f MB in %.1f ms = %.2f GB/s\n",
              W * S, N / S * 4 / 1e6, tcp_s * 1e3, tcp_gbps);
  return tcp_gbps;
}

// Every --densities x --downlinks configuration, in that order.
std::vector<Row> RunAllConfigs() {
  std::vector<Row> rows;
  for (const auto& d : absl::StrSplit(absl::GetFlag(FLAGS_densities), ',')) {
    double density = 0;
    CDDP_CHECK(absl::SimpleAtod(d, &density));
    for (const auto& m : absl::StrSplit(absl::GetFlag(FLAGS_downlinks), ',')) {
      const auto mode = cddp::server::ParseDownlinkMode(m);
      CDDP_CHECK(mode.ok());
      rows.push_back(RunConfig(density, *mode));
      std::fflush(stdout);
    }
  }
  return rows;
}

void PrintTable(const std::vector<Row>& rows) {
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
}

// Ratios against the same-run baselines: the dense push, raw TCP, gloo.
void PrintRatios(const std::vector<Row>& rows, double tcp_gbps) {
  const uint64_t N = absl::GetFlag(FLAGS_n);
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
    if (r.name.find("compressed downlink") != std::string::npos) {
      std::printf("%s: downlink %.2fx the uplink's bytes\n", r.name.c_str(),
                  r.down_bytes / r.up_bytes);
      for (const Row& sparse : rows) {
        if (sparse.density == r.density &&
            sparse.name.find("sparse downlink") != std::string::npos) {
          std::printf("%s: round %.2fx the sparse downlink's (plain SGD)\n",
                      r.name.c_str(), r.round_ms / sparse.round_ms);
        }
      }
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
}

}  // namespace

int main(int argc, char** argv) {
  cddp::common::ParseProgramFlags(
      argc, argv,
      "Parameter-server rounds on loopback: W workers x S shards in one "
      "process, a flat vector of N floats, each push density with each "
      "downlink, against a same-run raw-TCP floor.\n"
      "Example: cddp_ps_bench --workers=2 --shards=2 --densities=1.0,0.01 "
      "--downlinks=dense,sparse (bench/ps_bench.sh adds gloo's all_reduce "
      "of the same floats)");
  // Each round allocates and frees multi-MiB buffers (decoded pushes,
  // encoded replies). Keep freed memory in the heap rather than returning it
  // to the kernel, so rounds do not page-fault it back in every time.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::printf(
      "cddp_ps_bench: W=%u S=%u N=%llu, %d rounds (+%d warm-up), "
      "medians\n",
      absl::GetFlag(FLAGS_workers), absl::GetFlag(FLAGS_shards),
      static_cast<unsigned long long>(absl::GetFlag(FLAGS_n)),
      absl::GetFlag(FLAGS_rounds), absl::GetFlag(FLAGS_warmup));
  const double tcp_gbps = RawTcpFloorGbps();
  const std::vector<Row> rows = RunAllConfigs();
  PrintTable(rows);
  PrintRatios(rows, tcp_gbps);
  return 0;
}
