// DeviceErrorFeedback against common::ErrorFeedback: multi-tensor steps,
// the non-finite error and its message, ReturnUnsent, checkpoints through the
// CPU class. The first tests run anywhere: the kernel tests' CPU oracle against
// ErrorFeedback itself, and Create without a device.
#include "common/compress/cuda/device_error_feedback.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/error_feedback.h"
#include "common/compress/topk.h"
#include "tests/common/compress/cuda/reference_step.h"
#include "tests/common/compress/cuda/test_util.h"
#include "tests/common/compress/cuda/twin_residual.h"

namespace cddp::cuda::testing {
namespace {

using common::CompressOptions;
using common::ErrorFeedback;
using common::Selector;
using common::SparseSelection;
using common::ValueType;

// --- Host only -------------------------------------------------------------

TEST(ReferenceStepTest, IsTheCpuErrorFeedbackStep) {
  const size_t n = 70001;
  for (Selector selector : {Selector::kExact, Selector::kFast}) {
    for (ValueType type :
         {ValueType::kFp32, ValueType::kFp16, ValueType::kBf16}) {
      ErrorFeedback ef({n});
      std::vector<float> r(n, 0.0f);
      for (uint64_t step = 0; step < 4; ++step) {
        std::vector<float> g = RandomNormal(n, 50 + step);
        if (step == 2) g[123] = std::numeric_limits<float>::infinity();
        const size_t k = common::TopKCount(n, 0.01);
        SparseSelection cpu;
        const absl::Status status =
            ef.Compress(0, g, k, {selector, type}, &cpu);
        const ReferenceResult ref = ReferenceStep(r, g, k, type, 0);
        EXPECT_EQ(status.ok(), ref.first_bad == kNoBadElement);
        EXPECT_EQ(cpu.indices, ref.indices);
        EXPECT_EQ(Bits(cpu.values), Bits(ref.values));
        EXPECT_EQ(Bits(std::vector<float>(ef.residual().begin(),
                                          ef.residual().end())),
                  Bits(r));
      }
    }
  }
}

TEST(DeviceErrorFeedbackNoDeviceTest, CreateSaysWhy) {
  std::string why;
  if (CudaDeviceAvailable(&why)) {
    GTEST_SKIP() << "a CUDA device is present; the other tests cover it";
  }
  const auto ef = DeviceErrorFeedback::Create({10, 20});
  EXPECT_EQ(ef.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ef.status().message().find(why), std::string::npos);
}

// --- On a device -----------------------------------------------------------

class DeviceErrorFeedbackTest : public ::testing::Test {
 protected:
  void SetUp() override { CDDP_SKIP_WITHOUT_CUDA_DEVICE(); }

  // Sizes with an empty tensor, tiny ones, and ones past the sampling size.
  const std::vector<size_t> sizes_ = {3, 0, 5000, 100003, 1, 40000};
};

std::vector<float> Residual(const ErrorFeedback& ef) {
  return std::vector<float>(ef.residual().begin(), ef.residual().end());
}

TEST_F(DeviceErrorFeedbackTest, StepsEqualTheCpuClass) {
  for (Selector selector : {Selector::kExact, Selector::kFast}) {
    for (ValueType type : {ValueType::kFp32, ValueType::kBf16}) {
      auto dev = DeviceErrorFeedback::Create(sizes_);
      ASSERT_TRUE(dev.ok()) << dev.status();
      ErrorFeedback cpu(sizes_);
      const CompressOptions options{selector, type};
      for (uint64_t step = 0; step < 3; ++step) {
        std::vector<std::vector<float>> g;
        std::vector<std::unique_ptr<DeviceArray<float>>> dg;
        std::vector<const float*> pointers;
        std::vector<size_t> k;
        SparseSelection want;
        for (size_t t = 0; t < sizes_.size(); ++t) {
          g.push_back(RandomNormal(sizes_[t], 60 + 10 * step + t));
          dg.push_back(std::make_unique<DeviceArray<float>>(g.back()));
          // Tensor 4 gets a null gradient (an unused parameter).
          pointers.push_back(t == 4 ? nullptr : dg.back()->get());
          if (t == 4) g.back().assign(sizes_[t], 0.0f);
          k.push_back(t == 0 ? 3 : common::TopKCount(sizes_[t], 0.01));
          ASSERT_TRUE(cpu.Compress(t, g[t], k[t], options, &want).ok());
        }
        SparseSelection got;
        ASSERT_TRUE((*dev)->Compress(pointers, k, options, &got).ok());
        ExpectSame(got.indices, want.indices, "indices");
        ExpectSame(Bits(got.values), Bits(want.values), "values");
        auto residual = (*dev)->ResidualToHost();
        ASSERT_TRUE(residual.ok()) << residual.status();
        ExpectSame(Bits(*residual), Bits(Residual(cpu)), "residual");
      }
      EXPECT_EQ((*dev)->stats().calls, cpu.stats().calls);
      EXPECT_EQ((*dev)->stats().elements_out, cpu.stats().elements_out);
      auto norm = (*dev)->ResidualNorm();
      ASSERT_TRUE(norm.ok());
      EXPECT_NEAR(*norm, cpu.ResidualNorm(), 1e-9 * cpu.ResidualNorm());
    }
  }
}

TEST_F(DeviceErrorFeedbackTest, NonFiniteSumIsRefusedAsOnTheCpu) {
  auto dev = DeviceErrorFeedback::Create(sizes_);
  ASSERT_TRUE(dev.ok()) << dev.status();
  ErrorFeedback cpu(sizes_);
  std::vector<std::vector<float>> g;
  std::vector<std::unique_ptr<DeviceArray<float>>> dg;
  std::vector<const float*> pointers;
  std::vector<size_t> k;
  for (size_t t = 0; t < sizes_.size(); ++t) {
    g.push_back(RandomNormal(sizes_[t], 70 + t));
    if (t == 3) g.back()[777] = std::numeric_limits<float>::quiet_NaN();
    dg.push_back(std::make_unique<DeviceArray<float>>(g.back()));
    pointers.push_back(dg.back()->get());
    k.push_back(std::min<size_t>(sizes_[t], 2));
  }
  // The CPU loop that stops at the first error, as a worker's would.
  SparseSelection want;
  absl::Status want_status;
  for (size_t t = 0; t < sizes_.size() && want_status.ok(); ++t) {
    want_status = cpu.Compress(t, g[t], k[t], {}, &want);
  }
  ASSERT_FALSE(want_status.ok());
  SparseSelection got = {{1}, {1.0f}};
  const absl::Status status = (*dev)->Compress(pointers, k, {}, &got);
  EXPECT_EQ(status, want_status);  // same code, same message
  EXPECT_EQ(got.size(), 0u);
  auto residual = (*dev)->ResidualToHost();
  ASSERT_TRUE(residual.ok());
  ExpectSame(Bits(*residual), Bits(Residual(cpu)), "residual");
}

TEST_F(DeviceErrorFeedbackTest, ReturnUnsentAddsUndeliveredPairsBack) {
  auto dev = DeviceErrorFeedback::Create(sizes_);
  ASSERT_TRUE(dev.ok()) << dev.status();
  ErrorFeedback cpu(sizes_);
  const SparseSelection unsent = {{0, 2, 5003, 105005, 145006},
                                  {1.0f, -2.0f, 0.5f, 4.0f, -8.0f}};
  ASSERT_TRUE(cpu.ReturnUnsent(unsent).ok());
  ASSERT_TRUE((*dev)->ReturnUnsent(unsent).ok());
  auto residual = (*dev)->ResidualToHost();
  ASSERT_TRUE(residual.ok());
  ExpectSame(Bits(*residual), Bits(Residual(cpu)), "residual");
  // The CPU's errors, and nothing changed.
  const SparseSelection outside = {{0, 145007}, {1.0f, 1.0f}};
  EXPECT_EQ((*dev)->ReturnUnsent(outside), cpu.ReturnUnsent(outside));
  const SparseSelection ragged = {{0, 1}, {1.0f}};
  EXPECT_EQ((*dev)->ReturnUnsent(ragged), cpu.ReturnUnsent(ragged));
  residual = (*dev)->ResidualToHost();
  ASSERT_TRUE(residual.ok());
  ExpectSame(Bits(*residual), Bits(Residual(cpu)), "residual");
}

TEST_F(DeviceErrorFeedbackTest, CheckpointsRoundTripThroughTheCpuClass) {
  auto dev = DeviceErrorFeedback::Create(sizes_);
  ASSERT_TRUE(dev.ok()) << dev.status();
  const SparseSelection some = {{1, 4999, 60000}, {0.5f, -1.5f, 2.0f}};
  ASSERT_TRUE((*dev)->ReturnUnsent(some).ok());
  auto host = (*dev)->ToHost();
  ASSERT_TRUE(host.ok()) << host.status();
  auto cpu = ErrorFeedback::Deserialize(host->Serialize());
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto other = DeviceErrorFeedback::Create(sizes_);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->LoadFrom(*cpu).ok());
  auto residual = (*other)->ResidualToHost();
  ASSERT_TRUE(residual.ok());
  ExpectSame(Bits(*residual), Bits(Residual(*cpu)), "residual");
  EXPECT_EQ((*residual)[60000], 2.0f);
  EXPECT_EQ((*residual)[4999], -1.5f);
  EXPECT_EQ((*other)->LoadFrom(ErrorFeedback({3, 5000})).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(DeviceErrorFeedbackTest, RefusesBadArgumentsAndChangesNothing) {
  auto dev = DeviceErrorFeedback::Create({10, 20});
  ASSERT_TRUE(dev.ok()) << dev.status();
  const std::vector<const float*> g = {nullptr, nullptr};
  SparseSelection out;
  const std::vector<size_t> one_k = {1};
  EXPECT_EQ((*dev)->Compress(g, one_k, {}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<size_t> too_big = {1, 21};
  const absl::Status s = (*dev)->Compress(g, too_big, {}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "k = 21 exceeds tensor 1's size 20");
  EXPECT_EQ((*dev)->stats().calls, 0u);
}

}  // namespace
}  // namespace cddp::cuda::testing
