// Google Benchmark for the compression core on a ResNet-50-sized gradient
// (25.6 M floats) at densities 1 % and 0.1 %:
//   BM_TorchTopK         torch::topk(x.abs(), k): what users run today
//   BM_ExactTopK         our radix-select exact selector
//   BM_FastTopK          our sample-then-filter selector (also exact)
//   BM_ErrorFeedbackStep the full step: r += g, select, emit, zero
//   BM_DgcStep           DGC's worker step (worker/dgc.h): u = 0.9 u + g,
//                        the error-feedback step on u, u masked where sent
//   BM_StreamFloor       r += g alone: the same memory traffic as the
//                        error-feedback step with nothing selected (the floor)
// Arguments: /<density in 1e-4 units>/<threads>. Our kernels are single
// threaded; the threads argument sets LibTorch's intra-op pool for
// BM_TorchTopK and is recorded for the others.
#include <benchmark/benchmark.h>

#include <random>
#include <thread>
#include <vector>

#include "common/compress/candidate_kernels.h"
#include "common/compress/error_feedback.h"
#include "common/compress/topk.h"
#include "worker/dgc.h"

#ifdef CDDP_BENCH_WITH_TORCH
#include <ATen/Parallel.h>
#include <torch/torch.h>
#endif

namespace cddp::common {
namespace {

constexpr size_t kN = 25'600'000;

// A gradient-like tensor: mostly small Gaussian values with a heavy tail, as
// gradients of a trained network look. Generated once.
const std::vector<float>& Gradient() {
  static const std::vector<float> g = [] {
    std::vector<float> v(kN);
    std::mt19937_64 rng(1234);
    std::normal_distribution<float> body(0.0f, 1e-3f);
    std::cauchy_distribution<float> tail(0.0f, 1e-3f);
    std::bernoulli_distribution is_tail(0.05);
    for (auto& x : v) x = is_tail(rng) ? tail(rng) : body(rng);
    return v;
  }();
  return g;
}

size_t K(const benchmark::State& state) {
  return TopKCount(kN, static_cast<double>(state.range(0)) * 1e-4);
}

void Report(benchmark::State& state, size_t bytes_per_element) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kN *
                          bytes_per_element);
  state.counters["k"] = static_cast<double>(K(state));
  state.SetLabel(CandidateKernelIsa());
}

void BM_ExactTopK(benchmark::State& state) {
  const auto& x = Gradient();
  std::vector<uint32_t> out;
  for (auto _ : state) {
    ExactTopK(x, K(state), &out);
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, 4);
}

void BM_FastTopK(benchmark::State& state) {
  const auto& x = Gradient();
  std::vector<uint32_t> out;
  for (auto _ : state) {
    FastTopK(x, K(state), &out);
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, 4);
}

// One residual buffer for both BM_ErrorFeedbackStep and BM_StreamFloor: on
// this VM the speed of a fresh 100 MB allocation varies by up to 1.5x from
// one allocation to the next (how the host backs its pages), so the floor
// must stream over the very same memory as the step it bounds.
ErrorFeedback& SharedErrorFeedback() {
  static ErrorFeedback* ef = new ErrorFeedback({kN});
  return *ef;
}

void BM_ErrorFeedbackStep(benchmark::State& state) {
  const auto& g = Gradient();
  ErrorFeedback& ef = SharedErrorFeedback();
  SparseSelection out;
  for (auto _ : state) {
    out.clear();
    if (!ef.Compress(0, g, K(state), {}, &out).ok())
      state.SkipWithError("step");
    benchmark::DoNotOptimize(out.values.data());
  }
  Report(state, 12);
}

void BM_DgcStep(benchmark::State& state) {
  const auto& g = Gradient();
  ErrorFeedback& ef = SharedErrorFeedback();
  static auto* dgc =
      new worker::MomentumCorrection({kN}, {"g"}, {.momentum = 0.9});
  const float* gradients[] = {g.data()};
  std::vector<const float*> velocity;
  SparseSelection out;
  for (auto _ : state) {
    out.clear();
    if (!dgc->Apply(gradients, &velocity).ok() ||
        !ef.Compress(0, {velocity[0], kN}, K(state), {}, &out).ok()) {
      state.SkipWithError("step");
    }
    dgc->MaskSent(out);
    benchmark::DoNotOptimize(out.values.data());
  }
  Report(state, 12);  // as BM_ErrorFeedbackStep, to compare the two
}

// r += g, auto-vectorised for the best instruction set the CPU has (the
// same dispatch the kernels use), so the floor is not handicapped.
__attribute__((target_clones("avx2", "default"))) void AddInPlace(
    float* __restrict r, const float* __restrict g, size_t n) {
  for (size_t i = 0; i < n; ++i) r[i] += g[i];
}

void BM_StreamFloor(benchmark::State& state) {
  const auto& g = Gradient();
  // The error-feedback residual itself (see SharedErrorFeedback).
  float* r = const_cast<float*>(SharedErrorFeedback().residual().data());
  for (auto _ : state) {
    AddInPlace(r, g.data(), kN);
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  Report(state, 12);
}

#ifdef CDDP_BENCH_WITH_TORCH
void BM_TorchTopK(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(1)));
  const auto& g = Gradient();
  torch::Tensor x = torch::from_blob(const_cast<float*>(g.data()),
                                     {static_cast<int64_t>(kN)});
  const int64_t k = static_cast<int64_t>(K(state));
  for (auto _ : state) {
    auto [values, indices] = torch::topk(x.abs(), k);
    benchmark::DoNotOptimize(indices.data_ptr());
  }
  Report(state, 4);
}
#endif

void Args(benchmark::internal::Benchmark* b) {
  const int all = static_cast<int>(std::thread::hardware_concurrency());
  for (int density : {100, 10}) {  // 1 %, 0.1 % in units of 1e-4
    b->Args({density, 1});
    if (all > 1) b->Args({density, all});
  }
  b->ArgNames({"density_1e-4", "threads"})->Unit(benchmark::kMillisecond);
  b->UseRealTime();
}

#ifdef CDDP_BENCH_WITH_TORCH
BENCHMARK(BM_TorchTopK)->Apply(Args)->Iterations(3);
#endif
BENCHMARK(BM_ExactTopK)->Apply(Args);
BENCHMARK(BM_FastTopK)->Apply(Args);
BENCHMARK(BM_ErrorFeedbackStep)->Apply(Args);
BENCHMARK(BM_DgcStep)->Apply(Args);
BENCHMARK(BM_StreamFloor)->Apply(Args);

}  // namespace
}  // namespace cddp::common

BENCHMARK_MAIN();
