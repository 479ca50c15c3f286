// The error-feedback step kernels against the CPU contract (reference_step.h
// mirrors common::ErrorFeedback::Compress): pairs, report and residual equal
// bit for bit, for both selectors and every wire value type, on sizes that are
// not multiples of the 4096-element tile, k = 0, 1, n, ties, zeros, NaN/inf,
// and the fast selector's two fallbacks. Every test skips without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <tuple>

#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/topk.h"
#include "tests/common/compress/cuda/test_util.h"
#include "tests/common/compress/cuda/twin_residual.h"

namespace cddp::cuda::testing {
namespace {

using common::Selector;
using common::ValueType;

constexpr size_t kMaxN = (size_t{1} << 20) + 64;

class StepKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CDDP_SKIP_WITHOUT_CUDA_DEVICE();
    const KernelStatus s = Workspace::Create(kMaxN, &ws_);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  std::unique_ptr<Workspace> ws_;
};

// k by kind: 0, 1, 1 %, 0.1 %, n.
size_t KFor(int kind, size_t n) {
  switch (kind) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return common::TopKCount(n, 0.01);
    case 3:
      return common::TopKCount(n, 0.001);
    default:
      return n;
  }
}

using StepCase = std::tuple<Selector, ValueType, size_t, int>;

std::string StepCaseName(const ::testing::TestParamInfo<StepCase>& info) {
  static const char* const kTypes[] = {"", "fp32", "fp16", "bf16"};
  static const char* const kKinds[] = {"k0", "k1", "k1pct", "k01pct", "kn"};
  const auto [selector, type, n, kind] = info.param;
  return std::string(selector == Selector::kExact ? "exact" : "fast") + "_" +
         kTypes[static_cast<int>(type)] + "_n" + std::to_string(n) + "_" +
         kKinds[kind];
}

class StepKernelParamTest : public StepKernelTest,
                            public ::testing::WithParamInterface<StepCase> {};

TEST_P(StepKernelParamTest, EqualsTheCpuStepBitForBit) {
  const auto [selector, value_type, n, kind] = GetParam();
  const size_t k = KFor(kind, n);
  TwinResidual twin(RandomNormal(n, 1, 0.1f));
  for (uint64_t step = 0; step < 3; ++step) {
    SCOPED_TRACE(step);
    twin.Step(RandomNormal(n, 100 + step), k, selector, value_type, *ws_,
              /*base=*/12345);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, StepKernelParamTest,
    ::testing::Combine(
        ::testing::Values(Selector::kExact, Selector::kFast),
        ::testing::Values(ValueType::kFp32, ValueType::kFp16, ValueType::kBf16),
        ::testing::Values(size_t{1}, size_t{2}, size_t{4095}, size_t{4097},
                          size_t{16384}, size_t{100003}, (size_t{1} << 20) + 7),
        ::testing::Values(0, 1, 2, 3, 4)),
    StepCaseName);

TEST_F(StepKernelTest, TiesGoToTheLowerIndices) {
  const size_t n = 100003;
  for (Selector selector : {Selector::kExact, Selector::kFast}) {
    TwinResidual twin(std::vector<float>(n, 0.0f));
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> level(-2, 2);
    for (int step = 0; step < 3; ++step) {
      std::vector<float> g(n);
      for (float& x : g) x = 0.5f * static_cast<float>(level(rng));
      twin.Step(g, common::TopKCount(n, 0.01), selector, ValueType::kFp32,
                *ws_);
      twin.Step(g, common::TopKCount(n, 0.001), selector, ValueType::kFp16,
                *ws_);
    }
  }
}

TEST_F(StepKernelTest, AllZeroTensorSendsTheLowestIndices) {
  const size_t n = 50000;
  const size_t k = 500;
  for (Selector selector : {Selector::kExact, Selector::kFast}) {
    TwinResidual twin(std::vector<float>(n, 0.0f));
    const DeviceStep sent = twin.Step(std::vector<float>(n, 0.0f), k, selector,
                                      ValueType::kFp32, *ws_);
    ASSERT_EQ(sent.indices.size(), k);
    for (size_t i = 0; i < k; ++i) EXPECT_EQ(sent.indices[i], i);
  }
}

TEST_F(StepKernelTest, NullGradientIsAZeroGradient) {
  std::vector<float> r = RandomNormal(30000, 3);
  r[5] = -0.0f;  // -0 + 0 is +0, on both sides
  for (Selector selector : {Selector::kExact, Selector::kFast}) {
    TwinResidual twin(r);
    twin.Step({}, 300, selector, ValueType::kBf16, *ws_);
    twin.Step({}, 0, selector, ValueType::kFp32, *ws_);
  }
}

// A few tiles full of large values: more candidates than a tile's slots,
// so the fast step selects over the whole residual instead.
TEST_F(StepKernelTest, FastFallsBackWhenATileOverflows) {
  const size_t n = size_t{1} << 20;
  std::vector<float> g = RandomNormal(n, 11, 0.01f);
  for (size_t i = 300000; i < 300000 + 3 * 4096; ++i) g[i] = 5.0f + i % 3;
  TwinResidual twin(std::vector<float>(n, 0.0f));
  twin.Step(g, common::TopKCount(n, 0.01), Selector::kFast, ValueType::kFp32,
            *ws_);
}

// Large values exactly at the sampled positions: the threshold comes out
// too high, fewer than k candidates pass, and the fast step falls back.
TEST_F(StepKernelTest, FastFallsBackWhenTheSampleOverestimates) {
  const size_t n = size_t{1} << 20;
  const size_t k = common::TopKCount(n, 0.01);
  const size_t m = common::SampleSize(n, k);
  ASSERT_GT(m, 0u);
  std::vector<float> g = RandomNormal(n, 12, 0.01f);
  for (size_t j = 0; j < m; ++j) {
    g[common::SamplePosition(j, m, n)] = 10.0f + static_cast<float>(j % 7);
  }
  TwinResidual twin(std::vector<float>(n, 0.0f));
  twin.Step(g, k, Selector::kFast, ValueType::kFp32, *ws_);
}

TEST_F(StepKernelTest, ErrorFeedbackIdentityHoldsOverManySteps) {
  const size_t n = 200003;
  const size_t k = common::TopKCount(n, 0.005);
  TwinResidual twin(std::vector<float>(n, 0.0f));
  std::vector<double> sent(n, 0.0);
  std::vector<double> gradients(n, 0.0);
  for (uint64_t step = 0; step < 30; ++step) {
    const std::vector<float> g = RandomNormal(n, 1000 + step);
    const DeviceStep s =
        twin.Step(g, k, Selector::kFast, ValueType::kFp16, *ws_);
    ASSERT_EQ(s.indices.size(), k);
    for (size_t j = 0; j < k; ++j) sent[s.indices[j]] += s.values[j];
    for (size_t i = 0; i < n; ++i) gradients[i] += g[i];
  }
  double worst = 0.0;
  for (size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::abs(sent[i] + twin.host()[i] - gradients[i]));
  }
  EXPECT_LT(worst, 1e-3);  // fp32 rounding of 30 additions of O(1) values
}

TEST_F(StepKernelTest, NonFiniteSumIsReportedAndTheResidualRestored) {
  const size_t n = 100003;
  for (Selector selector : {Selector::kExact, Selector::kFast}) {
    TwinResidual twin(RandomNormal(n, 4, 0.1f));
    std::vector<float> g = RandomNormal(n, 5);
    g[70000] = std::numeric_limits<float>::quiet_NaN();
    g[5000] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(
        twin.Step(g, 1000, selector, ValueType::kFp32, *ws_).report.first_bad,
        5000u);
    // A finite gradient whose sum overflows: not stored, then undone as on
    // the CPU (the first step only accumulates: r[10] becomes ~3e38).
    std::vector<float> big(n, 0.0f);
    big[10] = 3e38f;
    twin.Step(big, 0, selector, ValueType::kFp32, *ws_);
    EXPECT_EQ(
        twin.Step(big, 10, selector, ValueType::kFp32, *ws_).report.first_bad,
        10u);
    // And the next step is a normal one.
    twin.Step(RandomNormal(n, 6), 1000, selector, ValueType::kFp32, *ws_);
  }
}

TEST_F(StepKernelTest, LaterStepsOfAFailedBatchChangeNothing) {
  const size_t n = 20000;
  std::vector<float> bad = RandomNormal(n, 8);
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  DeviceArray<float> r0(RandomNormal(n, 9));
  DeviceArray<float> r1(RandomNormal(n, 10));
  const std::vector<float> r1_before = r1.Download();
  DeviceArray<float> g0(bad);
  DeviceArray<float> g1(RandomNormal(n, 11));
  DeviceArray<uint32_t> index(2 * 100);
  DeviceArray<float> value(2 * 100);
  DeviceArray<StepReport> reports(2);
  for (int t = 0; t < 2; ++t) {
    StepArgs a;
    a.residual = t == 0 ? r0.get() : r1.get();
    a.gradient = t == 0 ? g0.get() : g1.get();
    a.n = n;
    a.k = 100;
    a.out_index = index.get() + 100 * t;
    a.out_value = value.get() + 100 * t;
    a.report = reports.get() + t;
    a.continues_batch = t > 0;
    ASSERT_TRUE(EnqueueErrorFeedbackStep(a, *ws_, nullptr).ok());
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<StepReport> got = reports.Download();
  EXPECT_EQ(got[0].first_bad, 3u);
  EXPECT_EQ(got[1].first_bad, kNoBadElement);
  ExpectSame(Bits(r1.Download()), Bits(r1_before), "second tensor");
  // A new batch steps again.
  TwinResidual twin(r1_before);
  twin.Step(RandomNormal(n, 11), 100, Selector::kFast, ValueType::kFp32, *ws_);
}

TEST_F(StepKernelTest, RefusesBadArguments) {
  DeviceArray<float> r(10);
  DeviceArray<StepReport> report(1);
  StepArgs a;
  a.residual = r.get();
  a.n = 10;
  a.k = 11;
  a.report = report.get();
  EXPECT_EQ(EnqueueErrorFeedbackStep(a, *ws_, nullptr).code(),
            KernelStatus::Code::kInvalidArgument);
  a.k = 0;
  a.n = kMaxN + 1;
  EXPECT_EQ(EnqueueErrorFeedbackStep(a, *ws_, nullptr).code(),
            KernelStatus::Code::kInvalidArgument);
}

}  // namespace
}  // namespace cddp::cuda::testing
