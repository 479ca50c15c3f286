// Top-K of a device array against common::ExactTopK (both selectors, NaN and
// inf included), the scatter-add and sum-of-squares kernels, and how the
// library behaves without a device (this last test runs anywhere).
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

constexpr size_t kMaxN = (size_t{1} << 20) + 64;

class TopKKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CDDP_SKIP_WITHOUT_CUDA_DEVICE();
    const KernelStatus s = Workspace::Create(kMaxN, &ws_);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // Device top-k of x against the CPU's, indices and values.
  void ExpectTopKMatches(const std::vector<float>& x, size_t k,
                         Selector selector) {
    DeviceArray<float> dx(x);
    DeviceArray<uint32_t> index(k);
    DeviceArray<float> value(k);
    const KernelStatus s = EnqueueTopK(dx.get(), x.size(), k, selector,
                                       index.get(), value.get(), *ws_, nullptr);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<uint32_t> want;
    common::ExactTopK(x, k, &want);
    std::vector<float> want_values;
    for (uint32_t i : want) want_values.push_back(x[i]);
    ExpectSame(index.Download(), want, "indices");
    ExpectSame(Bits(value.Download()), Bits(want_values), "values");
    ExpectSame(Bits(dx.Download()), Bits(x), "input (unchanged)");
  }

  std::unique_ptr<Workspace> ws_;
};

using TopKCase = std::tuple<Selector, size_t>;

std::string TopKCaseName(const ::testing::TestParamInfo<TopKCase>& info) {
  return std::string(std::get<0>(info.param) == Selector::kExact ? "exact"
                                                                 : "fast") +
         "_n" + std::to_string(std::get<1>(info.param));
}

class TopKKernelParamTest : public TopKKernelTest,
                            public ::testing::WithParamInterface<TopKCase> {};

TEST_P(TopKKernelParamTest, EqualsExactTopK) {
  const auto [selector, n] = GetParam();
  const std::vector<float> x = RandomNormal(n, 21);
  for (double ratio : {0.0, 1e-6, 0.001, 0.01, 0.1, 0.5, 1.0}) {
    SCOPED_TRACE(ratio);
    ExpectTopKMatches(x, ratio == 0.0 ? 0 : common::TopKCount(n, ratio),
                      selector);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, TopKKernelParamTest,
    ::testing::Combine(::testing::Values(Selector::kExact, Selector::kFast),
                       ::testing::Values(size_t{1}, size_t{3}, size_t{4096},
                                         size_t{16385}, size_t{250001},
                                         (size_t{1} << 20) + 64)),
    TopKCaseName);

TEST_F(TopKKernelTest, NanRanksAboveInfinityAndTiesGoToTheLowerIndex) {
  const size_t n = 100000;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 5) - 2.0f;
  x[99] = std::numeric_limits<float>::quiet_NaN();
  x[50000] = -std::numeric_limits<float>::infinity();
  x[77] = std::numeric_limits<float>::infinity();
  for (Selector selector : {Selector::kExact, Selector::kFast}) {
    for (size_t k :
         {size_t{1}, size_t{2}, size_t{3}, size_t{1000}, size_t{40000}}) {
      SCOPED_TRACE(k);
      ExpectTopKMatches(x, k, selector);
    }
  }
}

TEST_F(TopKKernelTest, ScatterAddAddsThePairs) {
  const size_t n = 10007;
  std::vector<float> r = RandomNormal(n, 31);
  const std::vector<uint32_t> index = {0, 17, 4096, 10006};
  const std::vector<float> value = {1.5f, -2.0f, 0.25f, 3.0f};
  DeviceArray<float> dr(r);
  DeviceArray<uint32_t> di(index);
  DeviceArray<float> dv(value);
  ASSERT_TRUE(
      EnqueueScatterAdd(dr.get(), di.get(), dv.get(), index.size(), nullptr)
          .ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  for (size_t j = 0; j < index.size(); ++j) r[index[j]] += value[j];
  ExpectSame(Bits(dr.Download()), Bits(r), "residual");
}

TEST_F(TopKKernelTest, SumOfSquaresMatchesTheCpu) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{5000001}}) {
    const std::vector<float> x = RandomNormal(n, 41);
    double want = 0.0;
    for (float v : x) want += static_cast<double>(v) * v;
    DeviceArray<float> dx(x);
    DeviceArray<double> result(1);
    ASSERT_TRUE(
        EnqueueSumOfSquares(dx.get(), n, result.get(), *ws_, nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_NEAR(result.Download()[0], want, 1e-9 * (want + 1.0)) << n;
  }
}

// Runs on any machine: without a device the library says why instead of
// failing later (what the worker's --device auto relies on).
TEST(CudaAvailabilityTest, WithoutADeviceEverythingSaysWhy) {
  std::string why;
  if (DeviceAvailable(&why)) {
    GTEST_SKIP() << "a CUDA device is present; the other tests cover it";
  }
  EXPECT_FALSE(why.empty());
  std::unique_ptr<Workspace> ws;
  const KernelStatus s = Workspace::Create(1000, &ws);
  EXPECT_EQ(s.code(), KernelStatus::Code::kUnavailable);
  EXPECT_EQ(s.message(), why);
  EXPECT_EQ(ws, nullptr);
}

}  // namespace
}  // namespace cddp::cuda::testing
