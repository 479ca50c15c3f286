// Tests for worker/flat_layout.h: offsets, gradient / parameter round trips,
// partial-range scatter, size and dtype mismatches (nothing written), the
// gradients' addresses and the host buffers (FlatBuffers), on the CPU and,
// where LibTorch sees one, on a CUDA device.
#include "worker/torch/flat_layout.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <numeric>
#include <vector>

#include "common/compress/error_feedback.h"

namespace cddp::worker {
namespace {

std::vector<at::Tensor> Params() {
  std::vector<at::Tensor> p = {at::zeros({2, 3}), at::zeros({4}),
                               at::zeros({1, 1, 5})};
  for (at::Tensor& t : p) t.set_requires_grad(true);
  return p;
}

std::vector<float> Iota(size_t n, float start) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(FlatLayoutTest, OffsetsMatchErrorFeedback) {
  absl::StatusOr<FlatLayout> layout =
      FlatLayout::Create(Params(), {"a", "b", "c"});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->num_tensors(), 3u);
  EXPECT_EQ(layout->total_size(), 15u);
  EXPECT_EQ(layout->sizes(), (std::vector<size_t>{6, 4, 5}));
  const common::ErrorFeedback ef(layout->sizes());
  for (size_t t = 0; t < 3; ++t) {
    EXPECT_EQ(layout->offset(t), ef.tensor_offset(t));
  }
  EXPECT_EQ(layout->name(1), "b");
}

TEST(FlatLayoutTest, GradientRoundTrip) {
  std::vector<at::Tensor> p = Params();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  // d/dp sum(p * w) = w: known gradients through real autograd; p[2] gets
  // none (unused), which must read as zeros.
  const at::Tensor w0 = at::arange(6, at::kFloat).reshape({2, 3});
  const at::Tensor w1 = at::arange(4, at::kFloat) + 100;
  ((p[0] * w0).sum() + (p[1] * w1).sum()).backward();
  std::vector<float> flat(15, -1.0f);
  ASSERT_TRUE(layout->GatherGradients(p, flat).ok());
  const std::vector<float> expected = {0,   1,   2, 3, 4, 5, 100, 101,
                                       102, 103, 0, 0, 0, 0, 0};
  EXPECT_EQ(flat, expected);

  // ... and the flat vector back into the parameters.
  ASSERT_TRUE(layout->ScatterParameters(flat, p).ok());
  EXPECT_TRUE(at::equal(p[0], w0));
  EXPECT_TRUE(at::equal(p[1], w1));
  EXPECT_TRUE(at::equal(p[2], at::zeros({1, 1, 5})));
  std::vector<float> back(15);
  ASSERT_TRUE(layout->GatherParameters(p, back).ok());
  EXPECT_EQ(back, expected);
}

TEST(FlatLayoutTest, ScatterRangeAcrossTensorBoundaries) {
  std::vector<at::Tensor> p = Params();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  // Shard-like pieces: [0, 4), [4, 11), [11, 15).
  ASSERT_TRUE(layout->ScatterRange(4, Iota(7, 4), p).ok());
  ASSERT_TRUE(layout->ScatterRange(0, Iota(4, 0), p).ok());
  ASSERT_TRUE(layout->ScatterRange(11, Iota(4, 11), p).ok());
  ASSERT_TRUE(layout->ScatterRange(15, {}, p).ok());
  std::vector<float> flat(15);
  ASSERT_TRUE(layout->GatherParameters(p, flat).ok());
  EXPECT_EQ(flat, Iota(15, 0));
  EXPECT_EQ(layout->ScatterRange(10, Iota(6, 0), p).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(layout->ScatterRange(16, {}, p).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FlatLayoutTest, NonContiguousParameters) {
  // A transposed view: the slow path must still honour element order.
  at::Tensor base = at::zeros({3, 2});
  std::vector<at::Tensor> p = {base.t()};
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  ASSERT_TRUE(layout->ScatterParameters(Iota(6, 1), p).ok());
  EXPECT_TRUE(at::equal(p[0], at::arange(1, 7, at::kFloat).reshape({2, 3})));
  std::vector<float> flat(6);
  ASSERT_TRUE(layout->GatherParameters(p, flat).ok());
  EXPECT_EQ(flat, Iota(6, 1));
}

TEST(FlatLayoutTest, MismatchesAreErrorsAndWriteNothing) {
  std::vector<at::Tensor> p = Params();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p, {"w", "b", "c"});
  ASSERT_TRUE(layout.ok());
  std::vector<float> flat(14, 1.0f);
  EXPECT_EQ(layout->ScatterParameters(flat, p).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(layout->GatherGradients(p, std::span<float>(flat)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> good(15, 1.0f);
  std::vector<at::Tensor> wrong = {p[0], at::zeros({5}), p[2]};
  absl::Status s = layout->ScatterParameters(good, wrong);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("parameter b"), std::string::npos) << s;
  EXPECT_TRUE(at::equal(p[0], at::zeros({2, 3})));  // nothing written
  EXPECT_FALSE(layout->ScatterParameters(good, {p[0], p[1]}).ok());
  EXPECT_FALSE(
      layout->ScatterParameters(good, {p[0], p[1], at::zeros({5}, at::kDouble)})
          .ok());

  EXPECT_FALSE(FlatLayout::Create({}).ok());
  EXPECT_FALSE(FlatLayout::Create({at::zeros({2}, at::kInt)}).ok());
  EXPECT_FALSE(FlatLayout::Create({at::Tensor()}).ok());
  EXPECT_FALSE(FlatLayout::Create(Params(), {"only one"}).ok());
  EXPECT_FALSE(FlatLayout::FromSizes({size_t{1} << 31, size_t{1} << 31}).ok());
}

TEST(FlatLayoutTest, GradientPointersAreWhereBackwardLeftThem) {
  std::vector<at::Tensor> p = Params();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p, {"a", "b", "c"});
  ASSERT_TRUE(layout.ok());
  ((p[0] * 2).sum() + p[1].sum()).backward();
  std::vector<const float*> ptrs;
  ASSERT_TRUE(layout->GradientPointers(p, &ptrs).ok());
  ASSERT_EQ(ptrs.size(), 3u);
  EXPECT_EQ(ptrs[0], p[0].grad().data_ptr<float>());
  EXPECT_EQ(ptrs[1], p[1].grad().data_ptr<float>());
  EXPECT_EQ(ptrs[2], nullptr);  // unused: no gradient
  // A strided gradient is refused, naming the parameter.
  p[0].mutable_grad() = at::zeros({3, 2}).t();
  const absl::Status s = layout->GradientPointers(p, &ptrs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gradient of a"), std::string::npos) << s;
}

TEST(FlatLayoutTest, CpuBuffersGatherGradientsWithZerosForNone) {
  std::vector<at::Tensor> p = Params();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  absl::StatusOr<FlatBuffers> buffers = FlatBuffers::Create(*layout, false);
  ASSERT_TRUE(buffers.ok()) << buffers.status();
  ASSERT_EQ(buffers->params().size(), 15u);
  for (float v : buffers->params()) EXPECT_EQ(v, 0.0f);
  (p[1] * 3).sum().backward();
  auto grads = buffers->Gradients(p);
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 3u);
  EXPECT_EQ((*grads)[0][5], 0.0f);  // host copies, zeros where none
  EXPECT_EQ((*grads)[1][0], 3.0f);
  EXPECT_EQ((*grads)[2][4], 0.0f);
  EXPECT_NE((*grads)[1], p[1].grad().data_ptr<float>());
  EXPECT_TRUE(buffers->WaitForDevice().ok());
}

TEST(FlatLayoutTest, CudaParametersTakePinnedValuesAndGiveDevicePointers) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "LibTorch sees no CUDA device (a CPU-only LibTorch, such "
                    "as Debian's, never does)";
  }
  std::vector<at::Tensor> p;
  for (const at::Tensor& t : Params()) {
    p.push_back(t.detach().to(at::kCUDA).set_requires_grad(true));
  }
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  absl::StatusOr<FlatBuffers> buffers = FlatBuffers::Create(*layout, true);
  ASSERT_TRUE(buffers.ok()) << buffers.status();
  const std::vector<float> values = Iota(15, 1);
  std::copy(values.begin(), values.end(), buffers->params().begin());
  ASSERT_TRUE(layout->ScatterParameters(buffers->params(), p).ok());
  ASSERT_TRUE(buffers->WaitForDevice().ok());
  std::fill(buffers->params().begin(), buffers->params().end(), -1.0f);
  std::vector<float> back(15);
  ASSERT_TRUE(layout->GatherParameters(p, back).ok());
  EXPECT_EQ(back, values);

  ((p[0] * 2).sum() + p[1].sum()).backward();
  auto grads = buffers->Gradients(p);
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_EQ((*grads)[0], p[0].grad().data_ptr<float>());  // device memory
  EXPECT_EQ((*grads)[2], nullptr);
}

}  // namespace
}  // namespace cddp::worker
