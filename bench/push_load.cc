// cddp_push_load: a worker without a model, for soak and fault runs. It
// joins the servers with one tensor of --size elements, then pushes a fresh
// random --density selection every round through ShardClient, exactly as a
// training worker's client does (resyncing with a Join after a failed
// push; at --density=1 the dense gradient, through PushPullDense), and
// prints the round latencies' p50/p99 at the end:
//   cddp_push_load --servers=h:p,h:p --worker_id=0 --num_workers=8
//       --rounds=2000 --size=1000000 --density=0.01
// Every --report_every rounds it prints "round R p50 X ms p99 Y ms" for the
// rounds since the last report. Exit status 1 if a push fails and a Join
// cannot recover within --deadline.
//
// For network benchmarks (bench/netns_cluster.py) --compute_ms emulates the
// forward and backward pass a step spends before its push (a sleep, so the
// CPU stays free for the other hosts), --warmup rounds are left out of the
// statistics, and the last line is machine-readable (with
// --overlap_parts=P the emulated backward pass, two thirds of --compute_ms,
// hands the push over in P equal parts from the top of the vector down,
// each after its share of the backward time, through ShardClient's
// overlapped PushPull, as --overlap_backward does with a model's tensors;
// the round is then timed from the end of the emulated compute):
//   result worker=0 rounds=9 round_ms_median=.. step_ms_median=..
//   round_ms_p99=..
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/program_flags.h"
#include "common/wire/shard_map.h"
#include "worker/client/shard_client.h"

ABSL_FLAG(std::string, servers, "", "comma-separated host:port, shard order");
ABSL_FLAG(uint32_t, worker_id, 0, "this worker's id");
ABSL_FLAG(uint32_t, num_workers, 1, "workers in the job (for the banner)");
ABSL_FLAG(uint64_t, rounds, 2000, "rounds to push");
ABSL_FLAG(uint32_t, size, 1000000, "parameters (fp32)");
ABSL_FLAG(double, density, 0.01, "fraction of the parameters pushed a round");
ABSL_FLAG(uint64_t, report_every, 500, "rounds between latency lines");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(120), "per call");
ABSL_FLAG(double, compute_ms, 0,
          "emulated compute (forward + backward) per step before the push");
ABSL_FLAG(uint64_t, warmup, 0, "first rounds left out of the statistics");
ABSL_FLAG(uint32_t, overlap_parts, 0,
          "with --compute_ms: hand the push over in this many parts during "
          "the emulated backward pass (0: push after the compute)");

namespace {

using Clock = std::chrono::steady_clock;

// Up to `k` distinct ascending indices below `n` (k draws, duplicates
// dropped: k^2 / 2n of them, 0.5 % at k = n / 100) with values in [-1, 1).
cddp::common::SparseSelection RandomPush(std::mt19937& rng, uint32_t n,
                                         uint32_t k) {
  cddp::common::SparseSelection s;
  std::uniform_int_distribution<uint32_t> index(0, n - 1);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  s.indices.reserve(k);
  while (s.indices.size() < k) s.indices.push_back(index(rng));
  std::sort(s.indices.begin(), s.indices.end());
  s.indices.erase(std::unique(s.indices.begin(), s.indices.end()),
                  s.indices.end());
  for (size_t i = 0; i < s.indices.size(); ++i) s.values.push_back(value(rng));
  return s;
}

// Every element of `n`, values in [-1, 1): the dense gradient of a push at
// density 1, with the indices 0..n-1 only `with_indices` (the overlapped
// PushPull takes selections; PushPullDense needs none).
cddp::common::SparseSelection DensePush(std::mt19937& rng, uint32_t n,
                                        bool with_indices) {
  cddp::common::SparseSelection s;
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  s.values.resize(n);
  for (float& v : s.values) v = value(rng);
  if (with_indices) {
    s.indices.resize(n);
    std::iota(s.indices.begin(), s.indices.end(), 0u);
  }
  return s;
}

// The pairs of `all` in flat range [begin, end).
cddp::common::SparseSelection Range(const cddp::common::SparseSelection& all,
                                    uint64_t begin, uint64_t end) {
  const auto lo =
      std::lower_bound(all.indices.begin(), all.indices.end(), begin);
  const auto hi = std::lower_bound(lo, all.indices.end(), end);
  cddp::common::SparseSelection out;
  out.indices.assign(lo, hi);
  out.values.assign(all.values.begin() + (lo - all.indices.begin()),
                    all.values.begin() + (hi - all.indices.begin()));
  return out;
}

// One step of emulated compute with the push handed over in `parts` parts
// during its backward two thirds; then the round is finished.
absl::StatusOr<cddp::worker::PushPullResult> OverlappedStep(
    cddp::worker::ShardClient& client,
    const cddp::common::SparseSelection& push, std::span<float> params,
    std::chrono::duration<double, std::milli> compute, uint32_t parts,
    Clock::time_point* compute_end) {
  std::this_thread::sleep_for(compute / 3);
  if (absl::Status st = client.BeginPushPull(params); !st.ok()) return st;
  const uint64_t n = params.size();
  uint64_t top = n;
  for (uint32_t p = parts; p-- > 0;) {
    std::this_thread::sleep_for(compute * 2 / 3 / parts);
    const uint64_t from = n * p / parts;
    if (absl::Status st = client.PushPullPart(from, Range(push, from, top));
        !st.ok()) {
      return st;  // cannot happen: the parts are consecutive and in range
    }
    top = from;
  }
  *compute_end = Clock::now();
  return client.FinishPushPull(nullptr);
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t at = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(at), v.end());
  return v[at];
}

}  // namespace

int main(int argc, char** argv) {
  cddp::common::ParseProgramFlags(
      argc, argv,
      "A worker without a model: pushes a random --density selection of "
      "--size floats every round through ShardClient and prints the round "
      "latencies.\n"
      "Example: cddp_push_load --servers=127.0.0.1:50051,127.0.0.1:50052 "
      "--worker_id=0 --num_workers=2 --rounds=100 --size=1000000 "
      "--density=0.01");
  cddp::worker::ShardClientOptions o;
  o.tls = cddp::common::Plaintext();
  for (auto s :
       absl::StrSplit(absl::GetFlag(FLAGS_servers), ',', absl::SkipEmpty())) {
    o.server_addresses.emplace_back(s);
  }
  o.worker_id = absl::GetFlag(FLAGS_worker_id);
  o.deadline = absl::GetFlag(FLAGS_deadline);
  const uint32_t n = absl::GetFlag(FLAGS_size);
  auto map = cddp::common::ShardMap::Create(
      n, static_cast<uint32_t>(o.server_addresses.size()));
  if (o.server_addresses.empty() || !map.ok()) {
    std::fprintf(stderr, "cddp_push_load: --servers and --size > 0 needed\n");
    return 2;
  }
  auto client = cddp::worker::ShardClient::Create(*map, o);
  if (!client.ok()) {
    std::fprintf(stderr, "cddp_push_load: %s\n",
                 client.status().ToString().c_str());
    return 2;
  }
  std::vector<float> params(n, 0.0f);
  const std::vector<uint64_t> sizes = {n};
  const auto join = [&] { return (*client)->Join(sizes, params); };
  if (auto joined = join(); !joined.ok()) {
    std::fprintf(stderr, "cddp_push_load: join: %s\n",
                 joined.status().ToString().c_str());
    return 1;
  }
  std::mt19937 rng(1000 + o.worker_id);
  const uint32_t k = std::max<uint32_t>(
      1, static_cast<uint32_t>(absl::GetFlag(FLAGS_density) * n));
  std::vector<double> all, recent, steps;
  const uint64_t rounds = absl::GetFlag(FLAGS_rounds);
  const uint64_t warmup = absl::GetFlag(FLAGS_warmup);
  const auto compute = std::chrono::duration<double, std::milli>(
      absl::GetFlag(FLAGS_compute_ms));
  const uint32_t parts = absl::GetFlag(FLAGS_overlap_parts);
  if (parts > 0 && compute.count() <= 0) {
    std::fprintf(stderr,
                 "cddp_push_load: --overlap_parts needs --compute_ms\n");
    return 2;
  }
  const uint64_t every =
      std::max<uint64_t>(1, absl::GetFlag(FLAGS_report_every));
  // Density 1: every element, not k draws (which would leave a third out).
  const bool dense = k >= n;
  for (uint64_t r = 1; r <= rounds; ++r) {
    const cddp::common::SparseSelection push =
        dense ? DensePush(rng, n, /*with_indices=*/parts > 0)
              : RandomPush(rng, n, k);
    const auto step_start = Clock::now();
    auto t0 = step_start;
    absl::StatusOr<cddp::worker::PushPullResult> pushed;
    if (parts > 0) {
      pushed = OverlappedStep(**client, push, params, compute, parts, &t0);
    } else {
      if (compute.count() > 0) std::this_thread::sleep_for(compute);
      t0 = Clock::now();
      pushed = dense ? (*client)->PushPullDense(push.values, params, nullptr)
                     : (*client)->PushPull(push, params, nullptr);
    }
    if (!pushed.ok()) {
      std::fprintf(stderr, "cddp_push_load %u: round %llu: %s; rejoining\n",
                   o.worker_id, static_cast<unsigned long long>(r),
                   pushed.status().ToString().c_str());
      if (auto joined = join(); !joined.ok()) {
        std::fprintf(stderr, "cddp_push_load %u: %s\n", o.worker_id,
                     joined.status().ToString().c_str());
        return 1;
      }
      continue;
    }
    const auto t1 = Clock::now();
    const double ms =
        std::chrono::duration<double, std::milli>(t1 - t0).count();
    if (r <= warmup) continue;
    steps.push_back(
        std::chrono::duration<double, std::milli>(t1 - step_start).count());
    all.push_back(ms);
    recent.push_back(ms);
    if (r % every == 0) {
      std::printf("worker %u round %llu p50 %.3f ms p99 %.3f ms\n", o.worker_id,
                  static_cast<unsigned long long>(r), Percentile(recent, 0.5),
                  Percentile(recent, 0.99));
      std::fflush(stdout);
      recent.clear();
    }
  }
  std::printf("worker %u done: %zu rounds, p50 %.3f ms p99 %.3f ms\n",
              o.worker_id, all.size(), Percentile(all, 0.5),
              Percentile(all, 0.99));
  std::printf(
      "result worker=%u rounds=%zu round_ms_median=%.3f step_ms_median=%.3f "
      "round_ms_p99=%.3f\n",
      o.worker_id, all.size(), Percentile(all, 0.5), Percentile(steps, 0.5),
      Percentile(all, 0.99));
  return 0;
}
