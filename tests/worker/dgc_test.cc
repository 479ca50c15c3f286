// Tests for worker/dgc.h: momentum correction, factor masking and clipping
// ahead of error feedback, against a straightforward reference written from
// the paper's algorithm (dense loops, a full sort for the Top-K); the
// density warm-up schedule; and the refusals.
#include "worker/dgc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "common/compress/error_feedback.h"

namespace cddp::worker {
namespace {

// DGC over a flat vector the slow, obvious way. Tensor boundaries matter
// only for the Top-K (per tensor), so the reference keeps them too.
struct ReferenceDgc {
  std::vector<size_t> sizes;
  DgcOptions options;
  std::vector<float> u, v;  // velocity, residual

  ReferenceDgc(std::vector<size_t> s, DgcOptions o)
      : sizes(std::move(s)), options(o) {
    const size_t n = std::accumulate(sizes.begin(), sizes.end(), size_t{0});
    u.assign(n, 0.0f);
    v.assign(n, 0.0f);
  }

  // One step; returns the flat indices sent (ascending) and their values.
  std::pair<std::vector<uint32_t>, std::vector<float>> Step(
      const std::vector<float>& g, const std::vector<size_t>& k) {
    double sq = 0;
    for (float x : g) sq += static_cast<double>(x) * x;
    const double norm = std::sqrt(sq);
    const float scale = options.clip_norm > 0 && norm > options.clip_norm
                            ? static_cast<float>(options.clip_norm / norm)
                            : 1.0f;
    const float m = static_cast<float>(options.momentum);
    for (size_t i = 0; i < g.size(); ++i) {
      u[i] = m * u[i] + scale * g[i];
      v[i] += u[i];
    }
    std::vector<uint32_t> sent;
    size_t base = 0;
    for (size_t t = 0; t < sizes.size(); ++t) {
      std::vector<uint32_t> order(sizes[t]);
      std::iota(order.begin(), order.end(), static_cast<uint32_t>(base));
      std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return std::fabs(v[a]) > std::fabs(v[b]);
      });
      sent.insert(sent.end(), order.begin(), order.begin() + k[t]);
      base += sizes[t];
    }
    std::sort(sent.begin(), sent.end());
    std::vector<float> values;
    for (uint32_t i : sent) {
      values.push_back(v[i]);
      v[i] = 0;
      if (options.momentum_masking) u[i] = 0;
    }
    return {sent, values};
  }
};

std::vector<float> RandomGradient(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> g(n);
  for (float& x : g) x = dist(rng);
  return g;
}

// Runs `steps` steps of MomentumCorrection + ErrorFeedback and of the
// reference on the same gradients; the selections must agree exactly and
// the values to float rounding.
void ExpectMatchesReference(DgcOptions options, float gradient_scale) {
  const std::vector<size_t> sizes = {300, 1000, 7};
  const std::vector<size_t> k = {5, 12, 7};
  MomentumCorrection dgc(sizes, {"a", "b", "c"}, options);
  common::ErrorFeedback ef(sizes);
  ReferenceDgc ref(sizes, options);
  std::mt19937 rng(7);
  std::vector<const float*> corrected;
  for (int step = 0; step < 25; ++step) {
    const std::vector<float> g = RandomGradient(1307, rng, gradient_scale);
    const float* grads[] = {g.data(), g.data() + 300, g.data() + 1300};
    ASSERT_TRUE(dgc.Apply(grads, &corrected).ok());
    common::SparseSelection sel;
    for (size_t t = 0; t < sizes.size(); ++t) {
      ASSERT_TRUE(
          ef.Compress(t, {corrected[t], sizes[t]}, k[t], {}, &sel).ok());
    }
    dgc.MaskSent(sel);
    const auto [indices, values] = ref.Step(g, k);
    ASSERT_EQ(sel.indices, indices) << "step " << step;
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_NEAR(sel.values[i], values[i],
                  1e-5f * std::fabs(values[i]) + 1e-7f);
    }
    // Without momentum the velocity is only scratch (the clipped gradient).
    for (size_t i = 0; options.momentum > 0 && i < ref.u.size(); ++i) {
      ASSERT_NEAR(dgc.velocity()[i], ref.u[i],
                  1e-5f * std::fabs(ref.u[i]) + 1e-7f)
          << "step " << step << " element " << i;
    }
  }
}

TEST(DgcTest, MomentumCorrectionWithMaskingMatchesTheReference) {
  ExpectMatchesReference({.momentum = 0.9, .momentum_masking = true}, 1.0f);
}

TEST(DgcTest, MomentumCorrectionWithoutMaskingMatchesTheReference) {
  ExpectMatchesReference({.momentum = 0.9, .momentum_masking = false}, 1.0f);
}

TEST(DgcTest, ClippingMatchesTheReference) {
  // Gradients of norm ~36 clipped to 5, with and without momentum.
  ExpectMatchesReference({.momentum = 0.0, .clip_norm = 5.0}, 1.0f);
  ExpectMatchesReference({.momentum = 0.5, .clip_norm = 5.0}, 1.0f);
}

TEST(DgcTest, WithoutMomentumOrClippingTheGradientPassesUnchanged) {
  MomentumCorrection dgc({4}, {"w"}, {});
  const std::vector<float> g = {1.5f, -2, 0, 3e30f};
  const float* grads[] = {g.data()};
  std::vector<const float*> corrected;
  ASSERT_TRUE(dgc.Apply(grads, &corrected).ok());
  EXPECT_EQ(std::vector<float>(corrected[0], corrected[0] + 4), g);
  EXPECT_EQ(dgc.last_clip_scale(), 1.0);
}

TEST(DgcTest, ClippingScalesTheWholeGradientToTheNorm) {
  MomentumCorrection dgc({2, 1}, {"a", "b"}, {.clip_norm = 1.0});
  const std::vector<float> a = {3, 0}, b = {4};  // norm 5 over both tensors
  const float* grads[] = {a.data(), b.data()};
  std::vector<const float*> corrected;
  ASSERT_TRUE(dgc.Apply(grads, &corrected).ok());
  EXPECT_DOUBLE_EQ(dgc.last_clip_scale(), 0.2);
  EXPECT_FLOAT_EQ(corrected[0][0], 0.6f);
  EXPECT_FLOAT_EQ(corrected[1][0], 0.8f);
}

TEST(DgcTest, AMissingGradientIsZeroAndTheVelocityDecays) {
  MomentumCorrection dgc({2}, {"w"}, {.momentum = 0.5});
  const std::vector<float> g = {2, -4};
  const float* first[] = {g.data()};
  const float* none[] = {nullptr};
  std::vector<const float*> corrected;
  ASSERT_TRUE(dgc.Apply(first, &corrected).ok());
  ASSERT_TRUE(dgc.Apply(none, &corrected).ok());
  EXPECT_EQ(corrected[0][0], 1.0f);
  EXPECT_EQ(corrected[0][1], -2.0f);
}

TEST(DgcTest, ANonFiniteGradientIsRefusedNamingTheTensorAndChangesNothing) {
  MomentumCorrection dgc({2, 2}, {"conv.weight", "fc.bias"}, {.momentum = 0.9});
  const std::vector<float> ok = {1, 2}, bad = {1, std::nanf("")};
  std::vector<const float*> corrected;
  const float* good[] = {ok.data(), ok.data()};
  ASSERT_TRUE(dgc.Apply(good, &corrected).ok());
  const std::vector<float> before(dgc.velocity().begin(), dgc.velocity().end());
  const float* grads[] = {ok.data(), bad.data()};
  absl::Status s = dgc.Apply(grads, &corrected);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("fc.bias"), std::string::npos) << s;
  EXPECT_EQ(std::vector<float>(dgc.velocity().begin(), dgc.velocity().end()),
            before);
  const float* too_few[] = {ok.data()};
  EXPECT_EQ(dgc.Apply(too_few, &corrected).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DgcTest, LoadVelocityChecksSizeAndValues) {
  MomentumCorrection dgc({3}, {"w"}, {.momentum = 0.9});
  EXPECT_EQ(dgc.LoadVelocity({1, 2}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(dgc.LoadVelocity({1, INFINITY, 2}).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(dgc.LoadVelocity({1, 2, 3}).ok());
  EXPECT_EQ(std::vector<float>(dgc.velocity().begin(), dgc.velocity().end()),
            (std::vector<float>{1, 2, 3}));
  ASSERT_TRUE(dgc.LoadVelocity({}).ok());  // a checkpoint without velocity
  EXPECT_EQ(std::vector<float>(dgc.velocity().begin(), dgc.velocity().end()),
            (std::vector<float>{0, 0, 0}));
}

TEST(DgcTest, OptionsOutOfRangeAreRefusedNamingTheFlag) {
  EXPECT_TRUE(ValidateDgcOptions({}).ok());
  for (double m : {-0.1, 1.0, std::nan("")}) {
    absl::Status s = ValidateDgcOptions({.momentum = m});
    EXPECT_NE(s.message().find("--dgc_momentum"), std::string::npos) << m;
  }
  EXPECT_NE(ValidateDgcOptions({.momentum_masking = false})
                .message()
                .find("--nomomentum_masking"),
            std::string::npos);
  EXPECT_TRUE(
      ValidateDgcOptions({.momentum = 0.9, .momentum_masking = false}).ok());
  for (double c : {-1.0, HUGE_VAL, std::nan("")}) {
    absl::Status s = ValidateDgcOptions({.clip_norm = c});
    EXPECT_NE(s.message().find("--clip_norm"), std::string::npos) << c;
  }
}

TEST(DensityScheduleTest, DecaysExponentiallyFromStartToTarget) {
  const DensitySchedule s{.target = 0.001, .warmup_steps = 100, .start = 0.1};
  EXPECT_DOUBLE_EQ(s.At(0), 0.1);
  EXPECT_NEAR(s.At(50), 0.01, 1e-12);  // the geometric midpoint
  EXPECT_NEAR(s.At(25), 0.1 * std::pow(0.01, 0.25), 1e-12);
  EXPECT_DOUBLE_EQ(s.At(100), 0.001);
  EXPECT_DOUBLE_EQ(s.At(10'000), 0.001);
  for (uint64_t step = 1; step <= 100; ++step) {
    EXPECT_LT(s.At(step), s.At(step - 1)) << step;
  }
  const DensitySchedule off{.target = 0.01, .warmup_steps = 0};
  EXPECT_DOUBLE_EQ(off.At(0), 0.01);
}

TEST(DensityScheduleTest, BadSchedulesAreRefusedNamingTheFlag) {
  EXPECT_TRUE(ValidateDensitySchedule({.target = 0.01}).ok());
  EXPECT_NE(ValidateDensitySchedule({.target = 0.01, .warmup_steps = -1})
                .message()
                .find("--density_warmup_steps"),
            std::string::npos);
  for (double start : {0.001, 1.5}) {
    absl::Status s = ValidateDensitySchedule(
        {.target = 0.01, .warmup_steps = 10, .start = start});
    EXPECT_NE(s.message().find("--density_warmup_start"), std::string::npos)
        << start;
  }
}

}  // namespace
}  // namespace cddp::worker
