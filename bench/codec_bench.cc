// Google Benchmark for the per-round codec work of a 1 % round with W = 2,
// S = 2 and N = 25.6 M (what cddp_ps_bench runs end to end): one shard's
// push chunk (128 K pairs over 12.8 M elements, gaps of 1..199, as
// cddp_ps_bench draws them), and the shard's sparse reply (the union of two
// such pushes, ~255 K pairs).
//   BM_EncodePush        EncodeChunk, delta varint + fp32 (worker, per shard)
//   BM_DecodePush        DecodeChunk with every check (server, per push)
//   BM_ApplyReply        ApplySparseUpdate into the worker's 51 MB shard
//                        range (worker, per shard reply)
//   BM_AggregateSparse   the shard's round close with the sparse downlink:
//                        sum two pushes in worker order, plain SGD on the
//                        51 MB shard, encode the reply
//   BM_MomentumStep      momentum SGD on the shard (a dense pass over the
//                        values and the momentum buffer)
//   BM_DownlinkSelect    the compressed downlink's selection after it: Top-K
//                        (k = the pushed pairs) of master - copy, added to
//                        the copy
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "cddp/v1/parameter_server.pb.h"
#include "common/check.h"
#include "common/huge_pages.h"
#include "common/wire/wire_codec.h"
#include "proto/wire_adapter.h"
#include "server/shard/aggregate.h"
#include "server/shard/downlink_compressor.h"
#include "server/shard/optimizer.h"
#include "server/shard/update_rules.h"
#include "worker/client/sparse_apply.h"

namespace cddp {
namespace {

constexpr uint32_t kRange = 12'800'000;

common::SparseSelection RandomSelection(uint64_t seed, uint32_t mean_gap) {
  common::SparseSelection s;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> gap(1, 2 * mean_gap - 1);
  std::uniform_real_distribution<float> value(-1e-3f, 1e-3f);
  for (uint64_t i = gap(rng) / 2; i < kRange; i += gap(rng)) {
    s.indices.push_back(static_cast<uint32_t>(i));
    s.values.push_back(value(rng));
  }
  return s;
}

cddp::v1::SparseChunk Encode(const common::SparseSelection& s) {
  cddp::v1::SparseChunk c;
  CDDP_CHECK(proto::EncodeChunkInto(s.indices, s.values,
                                    common::ValueType::kFp32,
                                    common::IndexEncoding::kDeltaVarint, &c)
                 .ok());
  return c;
}

void BM_EncodePush(benchmark::State& state) {
  const common::SparseSelection s = RandomSelection(1, 100);
  std::string indices, values;
  for (auto _ : state) {
    CDDP_CHECK(common::EncodeChunk(s, common::ValueType::kFp32,
                                   common::IndexEncoding::kDeltaVarint,
                                   &indices, &values)
                   .ok());
    benchmark::DoNotOptimize(indices.data());
  }
  state.SetItemsProcessed(state.iterations() * s.size());
}
BENCHMARK(BM_EncodePush)->Unit(benchmark::kMicrosecond);

void BM_DecodePush(benchmark::State& state) {
  const cddp::v1::SparseChunk c = Encode(RandomSelection(1, 100));
  common::SparseSelection out;
  for (auto _ : state) {
    CDDP_CHECK(common::DecodeChunk(proto::ChunkView(c), kRange, &out).ok());
    benchmark::DoNotOptimize(out.indices.data());
  }
  state.SetItemsProcessed(state.iterations() * c.count());
}
BENCHMARK(BM_DecodePush)->Unit(benchmark::kMicrosecond);

// The shard's sparse reply: the union of the two workers' pushes, as the
// server sends it.
common::SparseSelection Union() {
  const common::SparseSelection a = RandomSelection(1, 100);
  const common::SparseSelection b = RandomSelection(2, 100);
  const common::SparseSelection* pushes[] = {&a, &b};
  common::SparseSelection sum;
  server::SumInWorkerOrder(pushes, &sum);
  return sum;
}

void BM_ApplyReply(benchmark::State& state) {
  const cddp::v1::SparseChunk c = Encode(Union());
  common::HugePageFloats range(kRange);
  for (auto _ : state) {
    CDDP_CHECK(worker::ApplySparseUpdate(proto::ChunkView(c),
                                         worker::UpdateKind::kNewValues,
                                         range.span())
                   .ok());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * c.count());
}
BENCHMARK(BM_ApplyReply)->Unit(benchmark::kMicrosecond);

void BM_AggregateSparse(benchmark::State& state) {
  const common::SparseSelection a = RandomSelection(1, 100);
  const common::SparseSelection b = RandomSelection(2, 100);
  const common::SparseSelection* pushes[] = {&a, &b};
  common::HugePageFloats values(kRange);
  server::SgdRule sgd(server::OptimizerOptions{}.lr, 0.0f);
  common::SparseSelection sum;
  std::string indices, encoded_values;
  for (auto _ : state) {
    server::SumInWorkerOrder(pushes, &sum);
    sgd.Apply(values.span(), &sum, 0.5f);
    CDDP_CHECK(common::EncodeChunk(sum, common::ValueType::kFp32,
                                   common::IndexEncoding::kDeltaVarint,
                                   &indices, &encoded_values)
                   .ok());
    benchmark::DoNotOptimize(indices.data());
  }
  state.SetItemsProcessed(state.iterations() * sum.size());
}
BENCHMARK(BM_AggregateSparse)->Unit(benchmark::kMicrosecond);

// A momentum shard that has trained a while: every entry of the momentum
// buffer is nonzero, so the master moves everywhere.
struct MomentumShard {
  MomentumShard() : values(kRange), copy(kRange), rule(0.01f, 0.9f, 0.0f) {
    std::fill(values.data(), values.data() + kRange, 0.5f);
    std::fill(copy.data(), copy.data() + kRange, 0.5f);
    common::SparseSelection all;
    std::mt19937 rng(5);
    std::normal_distribution<float> g(0.0f, 1e-3f);
    for (uint32_t i = 0; i < kRange; ++i) {
      all.indices.push_back(i);
      all.values.push_back(g(rng));
    }
    rule.Apply(values.span(), &all, 1.0f);
  }
  common::HugePageFloats values, copy;
  server::MomentumRule rule;
};

void BM_MomentumStep(benchmark::State& state) {
  MomentumShard shard;
  common::SparseSelection sum;
  const common::SparseSelection a = RandomSelection(1, 100);
  const common::SparseSelection b = RandomSelection(2, 100);
  const common::SparseSelection* pushes[] = {&a, &b};
  server::SumInWorkerOrder(pushes, &sum);
  for (auto _ : state) {
    shard.rule.Apply(shard.values.span(), &sum, 0.5f);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRange);
}
BENCHMARK(BM_MomentumStep)->Unit(benchmark::kMicrosecond);

void BM_DownlinkSelect(benchmark::State& state) {
  MomentumShard shard;
  const size_t k = RandomSelection(1, 100).size() * 2;
  server::DownlinkCompressor downlink;
  common::SparseSelection sent;
  common::SparseSelection none;
  for (auto _ : state) {
    state.PauseTiming();
    shard.rule.Apply(shard.values.span(), &none, 1.0f);  // the master moves
    state.ResumeTiming();
    downlink.Select(shard.values.span(), shard.copy.span(), k,
                    common::ValueType::kFp32, &sent);
    benchmark::DoNotOptimize(sent.indices.data());
  }
  state.SetItemsProcessed(state.iterations() * kRange);
}
BENCHMARK(BM_DownlinkSelect)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cddp

BENCHMARK_MAIN();
