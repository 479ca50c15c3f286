// Tests for worker/models.h: parameter counts, output shapes, seeded
// initialisation, and the model's gradients through the flat layout.
#include "worker/torch/models.h"

#include <gtest/gtest.h>
#include <torch/nn.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "worker/torch/dataset.h"
#include "worker/torch/flat_layout.h"

namespace cddp::worker {
namespace {

std::shared_ptr<Classifier> Make(const std::string& name, uint64_t seed = 1) {
  ModelOptions options;
  options.seed = seed;
  absl::StatusOr<std::shared_ptr<Classifier>> m = MakeModel(name, options);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

std::vector<float> Flat(const Classifier& model) {
  absl::StatusOr<FlatLayout> layout = FlatLayout::Create(model.parameters());
  EXPECT_TRUE(layout.ok());
  std::vector<float> flat(layout->total_size());
  EXPECT_TRUE(layout->GatherParameters(model.parameters(), flat).ok());
  return flat;
}

TEST(ModelsTest, SimpleCnn) {
  std::shared_ptr<Classifier> m = Make("simple_cnn");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->num_parameter_elements(), 1199882);
  EXPECT_EQ(m->parameters().size(), 8u);
  EXPECT_EQ(m->parameter_names(),
            (std::vector<std::string>{
                "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  m->eval();
  const torch::Tensor out = m->forward(torch::randn({3, 1, 28, 28}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(m->input_shape().channels, 1);
  EXPECT_EQ(m->input_shape().rows, 28);
}

TEST(ModelsTest, ResNet18) {
  std::shared_ptr<Classifier> m = Make("resnet18");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->num_parameter_elements(), 11173962);
  m->eval();
  EXPECT_EQ(m->forward(torch::randn({2, 3, 32, 32})).sizes(),
            (std::vector<int64_t>{2, 10}));
}

TEST(ModelsTest, ResNet50) {
  std::shared_ptr<Classifier> m = Make("ResNet-50");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->model_name(), "resnet50");
  EXPECT_EQ(m->num_parameter_elements(), 23520842);
  m->train();
  EXPECT_EQ(m->forward(torch::randn({2, 3, 32, 32})).sizes(),
            (std::vector<int64_t>{2, 10}));
}

TEST(ModelsTest, OptionsAndErrors) {
  EXPECT_EQ(MakeModel("vgg16").status().code(),
            absl::StatusCode::kInvalidArgument);
  ModelOptions o;
  o.num_classes = 0;
  EXPECT_EQ(MakeModel("resnet18", o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.num_classes = 100;
  o.in_channels = 3;
  o.image_side = 32;
  absl::StatusOr<std::shared_ptr<Classifier>> m = MakeModel("simplecnn", o);
  ASSERT_TRUE(m.ok()) << m.status();
  (*m)->eval();
  EXPECT_EQ((*m)->forward(torch::randn({1, 3, 32, 32})).sizes(),
            (std::vector<int64_t>{1, 100}));
  // A wrong input shape throws c10::Error (callers turn it into a Status).
  EXPECT_THROW((*m)->forward(torch::randn({1, 1, 28, 28})), c10::Error);
}

TEST(ModelsTest, SameSeedSameParametersWhateverTheGlobalRng) {
  for (const std::string name : {"simple_cnn", "resnet18"}) {
    torch::manual_seed(1);
    const std::vector<float> a = Flat(*Make(name, 7));
    torch::manual_seed(2);  // LibTorch's RNG must not matter
    torch::randn({1000});
    const std::vector<float> b = Flat(*Make(name, 7));
    const std::vector<float> c = Flat(*Make(name, 8));
    EXPECT_EQ(a, b) << name;
    EXPECT_NE(a, c) << name;
  }
}

TEST(ModelsTest, InitialisationScale) {
  std::shared_ptr<Classifier> m = Make("resnet18");
  ASSERT_NE(m, nullptr);
  for (const auto& item : m->named_parameters()) {
    const torch::Tensor& p = item.value();
    if (item.key() == "conv1.weight") {
      // He-normal, fan_out = 64 * 9.
      EXPECT_NEAR(p.std().item<double>(), std::sqrt(2.0 / 576), 0.005);
    } else if (item.key() == "bn1.weight") {
      EXPECT_TRUE(torch::equal(p, torch::ones_like(p)));
    } else if (item.key() == "fc.weight") {
      EXPECT_LE(p.abs().max().item<double>(), 1 / std::sqrt(512.0));
    }
  }
}

// One real training step's gradients go through the flat layout and back.
TEST(ModelsTest, GradientsThroughFlatLayout) {
  std::shared_ptr<Classifier> m = Make("simple_cnn");
  ASSERT_NE(m, nullptr);
  const std::vector<torch::Tensor> params = m->parameters();
  absl::StatusOr<FlatLayout> layout =
      FlatLayout::Create(params, m->parameter_names());
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->total_size(), 1199882u);
  m->train();
  const torch::Tensor loss = torch::nn::functional::cross_entropy(
      m->forward(torch::randn({4, 1, 28, 28})),
      torch::tensor({1, 2, 3, 4}, torch::kLong));
  loss.backward();
  std::vector<float> grads(layout->total_size());
  ASSERT_TRUE(layout->GatherGradients(params, grads).ok());
  for (size_t t = 0; t < params.size(); ++t) {
    const torch::Tensor g = params[t].grad().reshape(-1);
    const float* flat = grads.data() + layout->offset(t);
    EXPECT_TRUE(torch::equal(
        g, torch::from_blob(const_cast<float*>(flat), {g.numel()})))
        << layout->name(t);
  }
  // Apply "parameters minus gradient" through the flat vector.
  std::vector<float> values(layout->total_size());
  ASSERT_TRUE(layout->GatherParameters(params, values).ok());
  for (size_t i = 0; i < values.size(); ++i) values[i] -= grads[i];
  ASSERT_TRUE(layout->ScatterParameters(values, params).ok());
  std::vector<float> after(layout->total_size());
  ASSERT_TRUE(layout->GatherParameters(params, after).ok());
  EXPECT_EQ(after, values);
}

// Not run by default (minutes of CPU): does the whole data -> model -> flat
// gradient -> flat parameter path learn? Run with
//   cddp_worker_test --gtest_also_run_disabled_tests --gtest_filter='*Learns*'
// Plain SGD with momentum through the flat buffers, as the servers will.
double TrainAndEvaluate(const std::string& model_name,
                        const std::string& dataset, int64_t steps,
                        int64_t in_channels, int64_t side) {
  DatasetOptions data_options;
  data_options.synthetic_train_count = 20000;
  data_options.synthetic_test_count = 2000;
  absl::StatusOr<Dataset> train =
      Dataset::Load(dataset, CDDP_DATA_DIR, Split::kTrain, data_options);
  absl::StatusOr<Dataset> test =
      Dataset::Load(dataset, CDDP_DATA_DIR, Split::kTest, data_options);
  if (!train.ok() || !test.ok()) return -1;
  std::printf("%s\n%s\n", train->description().c_str(),
              test->description().c_str());
  ModelOptions model_options;
  model_options.in_channels = in_channels;
  model_options.image_side = side;
  model_options.seed = 3;
  std::shared_ptr<Classifier> model = *MakeModel(model_name, model_options);
  const std::vector<torch::Tensor> params = model->parameters();
  FlatLayout layout = *FlatLayout::Create(params);
  WorkerSamplerOptions sampler;
  sampler.batch_size = 64;
  sampler.seed = 3;
  BatchIterator it = *BatchIterator::Create(*train, sampler);
  std::vector<float> grad(layout.total_size()), value(layout.total_size()),
      velocity(layout.total_size(), 0.0f);
  EXPECT_TRUE(layout.GatherParameters(params, value).ok());
  model->train();
  for (int64_t step = 0; step < steps; ++step) {
    Batch batch = *it.Next();
    model->zero_grad();
    torch::nn::functional::cross_entropy(model->forward(batch.images),
                                         batch.labels)
        .backward();
    EXPECT_TRUE(layout.GatherGradients(params, grad).ok());
    for (size_t i = 0; i < grad.size(); ++i) {
      velocity[i] = 0.9f * velocity[i] + grad[i];
      value[i] -= 0.01f * velocity[i];
    }
    EXPECT_TRUE(layout.ScatterParameters(value, params).ok());
  }
  model->eval();
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < test->size(); begin += 500) {
    Batch batch = *test->Slice(begin, std::min(begin + 500, test->size()));
    correct += model->forward(batch.images)
                   .argmax(1)
                   .eq(batch.labels)
                   .sum()
                   .item<int64_t>();
  }
  const double accuracy = static_cast<double>(correct) / test->size();
  std::printf("%s on %s: %lld steps -> test accuracy %.4f\n",
              model_name.c_str(), dataset.c_str(),
              static_cast<long long>(steps), accuracy);
  return accuracy;
}

TEST(ModelsTest, DISABLED_SimpleCnnLearnsMnist) {
  const double accuracy = TrainAndEvaluate("simple_cnn", "mnist", 600, 1, 28);
  if (accuracy < 0) GTEST_SKIP() << "no MNIST under " << CDDP_DATA_DIR;
  EXPECT_GT(accuracy, 0.95);
}

TEST(ModelsTest, DISABLED_SimpleCnnLearnsSyntheticCifar) {
  EXPECT_GT(TrainAndEvaluate("simple_cnn", "cifar10", 300, 3, 32), 0.8);
}

}  // namespace
}  // namespace cddp::worker
