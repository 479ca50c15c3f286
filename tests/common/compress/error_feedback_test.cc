// Tests for error-feedback compression: the residual bookkeeping (what was
// not sent is kept and added to the next gradient), the identity
// sum(sent) + residual == sum(gradients), and the checkpoint format.
#include "common/compress/error_feedback.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/compress/float_formats.h"
#include "common/record_file.h"

namespace cddp::common {
namespace {

std::vector<float> RandomVector(size_t n, std::mt19937_64& rng,
                                float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(ErrorFeedbackTest, FirstStepSendsTopKAndKeepsTheRest) {
  ErrorFeedback ef({5});
  SparseSelection out;
  const std::vector<float> g = {1.0f, -4.0f, 0.5f, 3.0f, -0.1f};
  ASSERT_TRUE(ef.Compress(0, g, 2, {}, &out).ok());
  EXPECT_EQ(out.indices, (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(out.values, (std::vector<float>{-4.0f, 3.0f}));
  const std::vector<float> want_residual = {1.0f, 0.0f, 0.5f, 0.0f, -0.1f};
  EXPECT_EQ(std::vector<float>(ef.residual().begin(), ef.residual().end()),
            want_residual);
}

TEST(ErrorFeedbackTest, CompensateAddsTheResidualToTheNextGradient) {
  ErrorFeedback ef({4});
  SparseSelection out;
  ASSERT_TRUE(
      ef.Compress(0, std::vector<float>{0.9f, 2.0f, 0.0f, 0.0f}, 1, {}, &out)
          .ok());
  EXPECT_EQ(out.indices, (std::vector<uint32_t>{1}));
  out.clear();
  // 0.9 stayed in the residual; with 0.5 more it beats the new 1.0.
  ASSERT_TRUE(
      ef.Compress(0, std::vector<float>{0.5f, 0.0f, 1.0f, 0.0f}, 1, {}, &out)
          .ok());
  EXPECT_EQ(out.indices, (std::vector<uint32_t>{0}));
  EXPECT_FLOAT_EQ(out.values[0], 1.4f);
  EXPECT_FLOAT_EQ(ef.residual()[2], 1.0f);  // update stored what was not sent
}

TEST(ErrorFeedbackTest, ManyTensorsProduceOneAscendingFlatSelection) {
  ErrorFeedback ef({3, 4, 2});
  EXPECT_EQ(ef.total_size(), 9u);
  EXPECT_EQ(ef.tensor_offset(2), 7u);
  SparseSelection out;
  ASSERT_TRUE(ef.Compress(0, std::vector<float>{1, 9, 1}, 1, {}, &out).ok());
  ASSERT_TRUE(ef.Compress(1, std::vector<float>{8, 1, 1, 7}, 2, {}, &out).ok());
  ASSERT_TRUE(ef.Compress(2, std::vector<float>{5, 6}, 2, {}, &out).ok());
  EXPECT_EQ(out.indices, (std::vector<uint32_t>{1, 3, 6, 7, 8}));
  EXPECT_EQ(out.values, (std::vector<float>{9, 8, 7, 5, 6}));
  EXPECT_EQ(ef.stats().calls, 3u);
  EXPECT_EQ(ef.stats().elements_in, 9u);
  EXPECT_EQ(ef.stats().elements_out, 5u);
}

TEST(ErrorFeedbackTest, SizePreservedAndBadArgumentsRefused) {
  ErrorFeedback ef({4});
  SparseSelection out;
  EXPECT_EQ(ef.Compress(1, std::vector<float>(4), 1, {}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ef.Compress(0, std::vector<float>(3), 1, {}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ef.Compress(0, std::vector<float>(4), 5, {}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.size(), 0u);
  EXPECT_EQ(ef.residual().size(), 4u);
}

TEST(ErrorFeedbackTest, NonFiniteGradientIsReportedNotAccumulated) {
  ErrorFeedback ef({20'000});
  std::mt19937_64 rng(3);
  SparseSelection out;
  std::vector<float> g = RandomVector(20'000, rng);
  ASSERT_TRUE(ef.Compress(0, g, 10, {}, &out).ok());
  const std::vector<float> before(ef.residual().begin(), ef.residual().end());
  std::vector<float> bad(20'000, 0.0f);
  bad[12'345] = NAN;
  out.clear();
  const absl::Status s = ef.Compress(0, bad, 10, {}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("element 12345"), std::string::npos)
      << s;
  EXPECT_EQ(out.size(), 0u);
  // bad holds zeros elsewhere, so the rollback is exact here.
  for (size_t i = 0; i < before.size(); ++i) {
    if (i == 12'345) continue;
    ASSERT_EQ(ef.residual()[i], before[i]) << i;
  }
  EXPECT_FALSE(std::isnan(ef.residual()[12'345]) &&
               !std::isnan(before[12'345]));
}

// sum(sent) + residual == sum(gradients), for both selectors, every value
// type, and sizes below and above the sampling cut-off. Sums are kept in
// double so the check tests the bookkeeping, not float rounding.
class IdentityTest
    : public testing::TestWithParam<std::tuple<Selector, ValueType, size_t>> {};

TEST_P(IdentityTest, HoldsOverHundredSteps) {
  const auto [selector, value_type, n] = GetParam();
  std::mt19937_64 rng(n);
  ErrorFeedback ef({n});
  std::vector<double> grad_sum(n, 0.0), sent_sum(n, 0.0);
  const size_t k = TopKCount(n, 0.01);
  for (int step = 0; step < 100; ++step) {
    const auto g = RandomVector(n, rng, 1e-2f);
    for (size_t i = 0; i < n; ++i) grad_sum[i] += g[i];
    SparseSelection out;
    ASSERT_TRUE(ef.Compress(0, g, k, {selector, value_type}, &out).ok());
    ASSERT_EQ(out.size(), k);
    for (size_t j = 0; j < out.size(); ++j) {
      EXPECT_EQ(RoundToValueType(out.values[j], value_type), out.values[j]);
      sent_sum[out.indices[j]] += out.values[j];
    }
  }
  double max_err = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; ++i) {
    max_err = std::max(max_err,
                       std::abs(sent_sum[i] + ef.residual()[i] - grad_sum[i]));
    scale = std::max(scale, std::abs(grad_sum[i]));
  }
  // Only the fp32 `r += g` roundings remain: ~100 steps * 2^-24 * |r|.
  EXPECT_LT(max_err, 1e-5 * scale + 1e-7);
}

INSTANTIATE_TEST_SUITE_P(
    SelectorsTypesSizes, IdentityTest,
    testing::Combine(testing::Values(Selector::kExact, Selector::kFast),
                     testing::Values(ValueType::kFp32, ValueType::kFp16,
                                     ValueType::kBf16),
                     testing::Values(size_t{1}, size_t{1000}, size_t{100'000})),
    [](const auto& info) {
      return absl::StrCat(
          std::get<0>(info.param) == Selector::kExact ? "exact" : "fast", "_",
          std::string(ValueTypeName(std::get<1>(info.param))), "_n",
          std::get<2>(info.param));
    });

TEST(ErrorFeedbackTest, FastAndExactSelectorsSendTheSameBytes) {
  std::mt19937_64 rng(11);
  const size_t n = 300'000;
  ErrorFeedback fast({n}), exact({n});
  for (int step = 0; step < 20; ++step) {
    const auto g = RandomVector(n, rng);
    SparseSelection a, b;
    ASSERT_TRUE(fast.Compress(0, g, 300, {Selector::kFast}, &a).ok());
    ASSERT_TRUE(exact.Compress(0, g, 300, {Selector::kExact}, &b).ok());
    ASSERT_EQ(a.indices, b.indices);
    ASSERT_EQ(a.values, b.values);
  }
}

TEST(ErrorFeedbackTest, ReturnUnsentPutsUndeliveredValuesBack) {
  ErrorFeedback ef({4});
  SparseSelection out;
  ASSERT_TRUE(ef.Compress(0, std::vector<float>{1, 5, 2, 0}, 1, {}, &out).ok());
  ASSERT_TRUE(ef.ReturnUnsent(out).ok());
  EXPECT_EQ(ef.residual()[1], 5.0f);
  SparseSelection bad;
  bad.indices = {9};
  bad.values = {1.0f};
  EXPECT_EQ(ef.ReturnUnsent(bad).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrorFeedbackTest, SerializationRoundTrip) {
  std::mt19937_64 rng(5);
  ErrorFeedback ef({100, 7, 3000});
  SparseSelection out;
  for (size_t t = 0; t < 3; ++t) {
    ASSERT_TRUE(
        ef.Compress(t, RandomVector(ef.tensor_size(t), rng), 2, {}, &out).ok());
  }
  auto back = ErrorFeedback::Deserialize(ef.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->num_tensors(), 3u);
  EXPECT_EQ(back->tensor_size(1), 7u);
  EXPECT_TRUE(std::equal(ef.residual().begin(), ef.residual().end(),
                         back->residual().begin(), back->residual().end()));
}

TEST(ErrorFeedbackTest, CorruptOrTruncatedCheckpointIsRefused) {
  ErrorFeedback ef({64, 64});
  std::mt19937_64 rng(9);
  SparseSelection out;
  ASSERT_TRUE(ef.Compress(0, RandomVector(64, rng), 4, {}, &out).ok());
  const std::string good = ef.Serialize();
  // Every truncation.
  for (size_t len = 0; len < good.size(); len += 7) {
    EXPECT_FALSE(ErrorFeedback::Deserialize(good.substr(0, len)).ok()) << len;
  }
  // Every single-byte flip.
  for (size_t pos = 0; pos < good.size(); ++pos) {
    std::string bad = good;
    bad[pos] ^= 0x20;
    EXPECT_FALSE(ErrorFeedback::Deserialize(bad).ok()) << pos;
  }
  // A well-formed record whose payload lies about its sizes.
  std::string payload;
  AppendU64(1, &payload);
  AppendU64(1'000'000, &payload);  // claims a million floats, has none
  EXPECT_EQ(ErrorFeedback::Deserialize(MakeRecord("RESD", 1, payload))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      ErrorFeedback::Deserialize(MakeRecord("RESD", 2, "")).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST(ErrorFeedbackTest, FromResidualTakesTheValuesAndStepsOnFromThem) {
  auto ef = ErrorFeedback::FromResidual({2, 3}, {1, -2, 0.5f, 4, -8});
  ASSERT_TRUE(ef.ok()) << ef.status();
  EXPECT_EQ(ef->num_tensors(), 2u);
  EXPECT_EQ(ef->tensor_offset(1), 2u);
  EXPECT_EQ(std::vector<float>(ef->residual(1).begin(), ef->residual(1).end()),
            (std::vector<float>{0.5f, 4, -8}));
  SparseSelection out;
  ASSERT_TRUE(ef->Compress(1, std::vector<float>{0, 0, 1}, 1, {}, &out).ok());
  EXPECT_EQ(out.indices, (std::vector<uint32_t>{4}));
  EXPECT_EQ(out.values, (std::vector<float>{-7}));
  // A checkpoint of it reads back the same.
  auto back = ErrorFeedback::Deserialize(ef->Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(
      std::vector<float>(back->residual().begin(), back->residual().end()),
      std::vector<float>(ef->residual().begin(), ef->residual().end()));
}

TEST(ErrorFeedbackTest, FromResidualRefusesMismatchedSizesAndNonFinite) {
  EXPECT_EQ(ErrorFeedback::FromResidual({2, 3}, {1, 2, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFeedback::FromResidual({2}, {1, NAN}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFeedback::FromResidual({1}, {INFINITY}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ErrorFeedback::FromResidual({}, {}).ok());
}

}  // namespace
}  // namespace cddp::common
