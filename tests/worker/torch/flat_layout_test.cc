// Tests for worker/flat_layout.h: offsets, gradient / parameter round trips,
// partial-range scatter, size and dtype mismatches (nothing written), the
// gradients' addresses and FlatParameters (the parameters as one flat
// vector), on the CPU and, where LibTorch sees one, on a CUDA device.
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

TEST(FlatParametersTest, OnTheCpuTheFlatVectorIsTheParameters) {
  std::vector<at::Tensor> p = Params();
  for (size_t t = 0; t < p.size(); ++t) {
    at::NoGradGuard no_grad;
    p[t].fill_(static_cast<float>(t + 1));
  }
  const at::TensorImpl* identity = p[1].unsafeGetTensorImpl();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  absl::StatusOr<FlatParameters> flat =
      FlatParameters::Create(*layout, p, false);
  ASSERT_TRUE(flat.ok()) << flat.status();
  ASSERT_EQ(flat->values().size(), 15u);
  // The values were kept, and the parameters are views of the flat vector.
  EXPECT_EQ(flat->values()[0], 1.0f);
  EXPECT_EQ(flat->values()[6], 2.0f);
  EXPECT_EQ(flat->values()[14], 3.0f);
  EXPECT_EQ(p[1].unsafeGetTensorImpl(), identity);  // the same parameter
  EXPECT_EQ(p[1].data_ptr<float>(), flat->values().data() + 6);
  EXPECT_EQ(p[1].sizes(), at::IntArrayRef({4}));
  EXPECT_TRUE(p[1].requires_grad());
  // A write into the flat vector is a write into the model.
  flat->values()[7] = 42.0f;
  ASSERT_TRUE(flat->Publish().ok());
  EXPECT_EQ(p[1][1].item<float>(), 42.0f);
}

TEST(FlatParametersTest, CpuGradientsAreHandedOverWhereBackwardLeftThem) {
  std::vector<at::Tensor> p = Params();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  absl::StatusOr<FlatParameters> flat =
      FlatParameters::Create(*layout, p, false);
  ASSERT_TRUE(flat.ok()) << flat.status();
  (p[1] * 3).sum().backward();
  p[2].mutable_grad() = at::full({10}, 2.0f).as_strided({1, 1, 5}, {10, 10, 2});
  ASSERT_FALSE(p[2].grad().is_contiguous());
  auto grads = flat->Gradients();
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 3u);
  EXPECT_EQ((*grads)[0], nullptr);  // no gradient: a zero gradient
  EXPECT_EQ((*grads)[1], p[1].grad().data_ptr<float>());  // no copy
  EXPECT_EQ((*grads)[1][3], 3.0f);
  ASSERT_NE((*grads)[2], nullptr);  // strided: a host copy
  EXPECT_NE((*grads)[2], p[2].grad().data_ptr<float>());
  for (int i = 0; i < 5; ++i) EXPECT_EQ((*grads)[2][i], 2.0f);
  EXPECT_TRUE(flat->WaitForDevice().ok());
}

TEST(FlatParametersTest, RefusesMismatchedGradientsAndParameters) {
  std::vector<at::Tensor> p = Params();
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(p);
  ASSERT_TRUE(layout.ok());
  std::vector<at::Tensor> fewer(p.begin(), p.begin() + 2);
  EXPECT_EQ(FlatParameters::Create(*layout, fewer, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlatParameters::Create(*layout, p, true).status().code(),
            absl::StatusCode::kInvalidArgument);  // not on a CUDA device
  absl::StatusOr<FlatParameters> flat =
      FlatParameters::Create(*layout, p, false);
  ASSERT_TRUE(flat.ok()) << flat.status();
  p[0].mutable_grad() = at::zeros({7});
  const auto grads = flat->Gradients();
  EXPECT_EQ(grads.status().code(), absl::StatusCode::kInvalidArgument);
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
  absl::StatusOr<FlatParameters> flat =
      FlatParameters::Create(*layout, p, true);
  ASSERT_TRUE(flat.ok()) << flat.status();
  const std::vector<float> values = Iota(15, 1);
  std::copy(values.begin(), values.end(), flat->values().begin());
  ASSERT_TRUE(flat->Publish().ok());
  ASSERT_TRUE(flat->WaitForDevice().ok());
  std::fill(flat->values().begin(), flat->values().end(), -1.0f);
  std::vector<float> back(15);
  ASSERT_TRUE(layout->GatherParameters(p, back).ok());
  EXPECT_EQ(back, values);

  ((p[0] * 2).sum() + p[1].sum()).backward();
  auto grads = flat->Gradients();
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_EQ((*grads)[0], p[0].grad().data_ptr<float>());  // device memory
  EXPECT_EQ((*grads)[2], nullptr);
}

}  // namespace
}  // namespace cddp::worker
