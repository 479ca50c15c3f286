// Tests of the training loop's compressor interface: the CPU compressor is
// common::ErrorFeedback step for step, its residuals go through worker
// checkpoints, and a build without CUDA kernels refuses a CUDA compressor.
// (The CUDA compressor itself runs in the GPU trainer test,
// tests/integration/device_test.cc.)
#include "worker/gradient_compressor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "worker/worker_checkpoint.h"

namespace cddp::worker {
namespace {

std::unique_ptr<GradientCompressor> Cpu(std::vector<size_t> sizes) {
  std::vector<std::string> names;
  for (size_t t = 0; t < sizes.size(); ++t) {
    names.push_back("p" + std::to_string(t));
  }
  auto c = MakeGradientCompressor(false, std::move(sizes), std::move(names));
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

std::string FreshDir(const std::string& name) {
  const auto dir = std::filesystem::path(testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(GradientCompressorTest, CpuMatchesErrorFeedbackStepForStep) {
  const std::vector<size_t> sizes = {6, 3};
  auto c = Cpu(sizes);
  EXPECT_FALSE(c->on_device());
  common::ErrorFeedback ref(sizes);
  const std::vector<size_t> k = {2, 3};
  for (int step = 0; step < 3; ++step) {
    std::vector<float> g0 = {1, -5, 2, 0.5f, 3, -1}, g1 = {4, -4, 1};
    for (float& v : g0) v *= static_cast<float>(step + 1);
    const std::vector<const float*> grads = {g0.data(), g1.data()};
    common::SparseSelection got, want;
    got.indices = {7};  // replaced, not appended to
    got.values = {7};
    ASSERT_TRUE(c->Compress(grads, k, {}, &got).ok());
    ASSERT_TRUE(ref.Compress(0, g0, k[0], {}, &want).ok());
    ASSERT_TRUE(ref.Compress(1, g1, k[1], {}, &want).ok());
    EXPECT_EQ(got.indices, want.indices) << "step " << step;
    EXPECT_EQ(got.values, want.values) << "step " << step;
  }
  auto norm = c->ResidualNorm();
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(*norm, ref.ResidualNorm());
}

TEST(GradientCompressorTest, NullGradientIsZeroAndReturnUnsentAddsBack) {
  auto c = Cpu({4, 2});
  const std::vector<float> g1 = {3, -1};
  const std::vector<const float*> grads = {nullptr, g1.data()};
  const std::vector<size_t> k = {1, 1};
  common::SparseSelection sel;
  ASSERT_TRUE(c->Compress(grads, k, {}, &sel).ok());
  // Tensor 0 had nothing (any pick is a zero); tensor 1 sends its 3.
  ASSERT_FALSE(sel.indices.empty());
  for (size_t i = 0; i + 1 < sel.size(); ++i) EXPECT_EQ(sel.values[i], 0.0f);
  EXPECT_EQ(sel.indices.back(), 4u);
  EXPECT_EQ(sel.values.back(), 3.0f);
  ASSERT_TRUE(c->ReturnUnsent(sel).ok());
  auto host = c->HostResiduals();
  ASSERT_TRUE(host.ok());
  EXPECT_EQ((*host)->residual(1)[0], 3.0f);
  EXPECT_EQ((*host)->residual(1)[1], -1.0f);
}

TEST(GradientCompressorTest, ErrorsNameTheTensor) {
  auto c = Cpu({2, 2});
  const std::vector<float> ok = {1, 2};
  const std::vector<float> bad = {1, std::numeric_limits<float>::quiet_NaN()};
  common::SparseSelection sel;
  const std::vector<const float*> grads = {ok.data(), bad.data()};
  const std::vector<size_t> k = {1, 1};
  const absl::Status s = c->Compress(grads, k, {}, &sel);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("p1: ", 0), 0u) << s;
  const std::vector<const float*> one = {ok.data()};
  EXPECT_EQ(c->Compress(one, k, {}, &sel).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GradientCompressorTest, ResidualsGoThroughWorkerCheckpoints) {
  const std::string dir = FreshDir("compressor_ckpt");
  auto a = Cpu({3, 2});
  const std::vector<float> g0 = {1, -2, 3}, g1 = {0.5f, -7};
  const std::vector<const float*> grads = {g0.data(), g1.data()};
  const std::vector<size_t> k = {1, 1};
  common::SparseSelection sel;
  ASSERT_TRUE(a->Compress(grads, k, {}, &sel).ok());
  ASSERT_TRUE(SaveResiduals(dir, 2, 9, {0, 9}, *a).ok());

  auto b = Cpu({3, 2});
  auto step = ResumeResiduals(dir, 2, *b);
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_TRUE(step->has_value());
  EXPECT_EQ(**step, 9u);
  const auto ra = *a->HostResiduals();
  const auto rb = *b->HostResiduals();
  ASSERT_EQ(rb->total_size(), 5u);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(ra->residual()[i], rb->residual()[i]);

  // Another model's layout is refused, naming the file; nothing changed.
  auto other = Cpu({2, 3});
  auto refused = ResumeResiduals(dir, 2, *other);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find(WorkerCheckpointPath(dir, 2)),
            std::string::npos)
      << refused.status();
  EXPECT_EQ(*(*other->HostResiduals())->residual().data(), 0.0f);

  auto none = ResumeResiduals(FreshDir("compressor_none"), 2, *b);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(GradientCompressorTest, CudaNeedsTheCudaBuild) {
  auto c = MakeGradientCompressor(true, {4}, {"w"});
#if CDDP_WITH_CUDA
  if (!c.ok()) {
    GTEST_SKIP() << "no usable CUDA device: " << c.status();
  }
  EXPECT_TRUE((*c)->on_device());
#else
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("-DCDDP_WITH_CUDA=ON"), std::string::npos)
      << c.status();
#endif
}

}  // namespace
}  // namespace cddp::worker
