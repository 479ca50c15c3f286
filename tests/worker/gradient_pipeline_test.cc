// GradientPipeline::CompressRange, what --overlap_backward compresses with:
// the ranges of a step, in any order, send the pairs and leave the
// residuals and DGC's velocity of one Compress, bit for bit; clipping and
// CUDA cannot go by range; bad ranges and NaN gradients are refused.
#include "worker/gradient_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "tests/support/status_matchers.h"

namespace cddp::worker {
namespace {

const std::vector<size_t> kSizes = {1500, 40, 3000, 7, 2200};

std::unique_ptr<GradientPipeline> Make(double dgc_momentum,
                                       double clip_norm = 0) {
  SyncOptions o;
  o.ratio = 0.05;
  o.min_compress_numel = 100;  // tensors 1 and 3 go whole
  o.dgc_momentum = dgc_momentum;
  o.clip_norm = clip_norm;
  std::vector<std::string> names;
  for (size_t t = 0; t < kSizes.size(); ++t) {
    names.push_back("p" + std::to_string(t));
  }
  auto p = GradientPipeline::Create(o, false, kSizes, names);
  EXPECT_OK(p.status());
  return std::move(*p);
}

std::vector<std::vector<float>> Gradients(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> g;
  for (size_t n : kSizes) {
    g.emplace_back(n);
    for (float& v : g.back()) v = normal(rng);
  }
  return g;
}

std::vector<const float*> Pointers(const std::vector<std::vector<float>>& g) {
  std::vector<const float*> p;
  for (const auto& t : g) p.push_back(t.data());
  p[3] = nullptr;  // a parameter the pass did not reach: zero
  return p;
}

void ExpectRangesMatchOneCompress(double dgc_momentum) {
  auto whole = Make(dgc_momentum);
  auto ranged = Make(dgc_momentum);
  ASSERT_OK(ranged->CompressesByRange());
  for (uint32_t step = 0; step < 4; ++step) {
    const auto g = Gradients(step);
    const auto ptrs = Pointers(g);
    common::SparseSelection want;
    ASSERT_OK(whole->Compress(ptrs, step, &want));
    // Top down, as a backward pass hands them over: [3, 5), [1, 3), [0, 1).
    common::SparseSelection got, part;
    for (auto [first, end] :
         {std::pair<size_t, size_t>{3, 5}, {1, 3}, {0, 1}}) {
      ASSERT_OK(ranged->CompressRange(first, end, ptrs, step, &part));
      part.Append(got);  // parts go in front: ascending again
      got = part;
    }
    EXPECT_EQ(got.indices, want.indices) << "step " << step;
    EXPECT_EQ(got.values, want.values) << "step " << step;
    EXPECT_EQ(ranged->density(), whole->density());
  }
  EXPECT_EQ(*ranged->ResidualNorm(), *whole->ResidualNorm());
}

TEST(GradientPipelineTest, RangesInAnyOrderMatchOneCompressBitForBit) {
  ExpectRangesMatchOneCompress(0);
}

TEST(GradientPipelineTest, RangesMatchOneCompressWithMomentumCorrection) {
  ExpectRangesMatchOneCompress(0.9);
}

TEST(GradientPipelineTest, ClippingCannotGoByRange) {
  auto p = Make(0, /*clip_norm=*/1.0);
  EXPECT_EQ(p->CompressesByRange().code(),
            absl::StatusCode::kFailedPrecondition);
  const auto g = Gradients(1);
  common::SparseSelection out;
  EXPECT_EQ(p->CompressRange(0, 1, Pointers(g), 0, &out).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(GradientPipelineTest, BadRangesAndNonFiniteGradientsAreRefused) {
  auto p = Make(0.9);
  auto g = Gradients(1);
  common::SparseSelection out;
  EXPECT_EQ(p->CompressRange(2, 1, Pointers(g), 0, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p->CompressRange(0, 6, Pointers(g), 0, &out).code(),
            absl::StatusCode::kInvalidArgument);
  g[2][17] = std::numeric_limits<float>::quiet_NaN();
  const absl::Status nan = p->CompressRange(2, 5, Pointers(g), 0, &out);
  EXPECT_EQ(nan.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(nan.message().find("p2"), std::string::npos) << nan;
  // Nothing changed: the range compresses as on a fresh pipeline.
  g[2][17] = 0.5f;
  auto fresh = Make(0.9);
  common::SparseSelection want;
  ASSERT_OK(p->CompressRange(2, 5, Pointers(g), 0, &out));
  ASSERT_OK(fresh->CompressRange(2, 5, Pointers(g), 0, &want));
  EXPECT_EQ(out.indices, want.indices);
  EXPECT_EQ(out.values, want.values);
}

}  // namespace
}  // namespace cddp::worker
