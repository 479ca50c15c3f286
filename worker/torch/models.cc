// Implementation of models.h: SimpleCNN, CIFAR ResNet-18/50, deterministic
// initialisation and the factory.
#include "worker/torch/models.h"

#include <c10/util/Exception.h>
#include <torch/nn.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/data/rng.h"
#include "worker/torch/torch_error.h"

namespace cddp::worker {
namespace {

namespace nn = torch::nn;

nn::Conv2d Conv(int64_t in, int64_t out, int64_t k, int64_t stride,
                int64_t padding, bool bias) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, k).stride(stride).padding(padding).bias(bias));
}

class SimpleCnn : public Classifier {
 public:
  SimpleCnn(Shape input, int64_t num_classes)
      : Classifier("simple_cnn", input, num_classes) {
    const int64_t side = (input.rows - 4) / 2;  // two valid 3x3, one pool
    conv1_ = register_module("conv1", Conv(input.channels, 32, 3, 1, 0, true));
    conv2_ = register_module("conv2", Conv(32, 64, 3, 1, 0, true));
    fc1_ = register_module("fc1", nn::Linear(64 * side * side, 128));
    fc2_ = register_module("fc2", nn::Linear(128, num_classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(conv1_(x));
    x = torch::relu(conv2_(x));
    x = torch::max_pool2d(x, 2);
    x = torch::dropout(x, 0.25, is_training());
    x = torch::flatten(x, 1);
    x = torch::relu(fc1_(x));
    x = torch::dropout(x, 0.5, is_training());
    return fc2_(x);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

// ResNet's two block kinds. `expansion` = output channels / planes.
class BasicBlock : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t in, int64_t planes, int64_t stride) {
    conv1_ = register_module("conv1", Conv(in, planes, 3, stride, 1, false));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", Conv(planes, planes, 3, 1, 1, false));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    if (stride != 1 || in != planes) {
      shortcut_ = register_module(
          "shortcut", nn::Sequential(Conv(in, planes, 1, stride, 0, false),
                                     nn::BatchNorm2d(planes)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor out = torch::relu(bn1_(conv1_(x)));
    out = bn2_(conv2_(out));
    out += shortcut_ ? shortcut_->forward(x) : x;
    return torch::relu(out);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential shortcut_{nullptr};
};

class Bottleneck : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride) {
    const int64_t out = kExpansion * planes;
    conv1_ = register_module("conv1", Conv(in, planes, 1, 1, 0, false));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ =
        register_module("conv2", Conv(planes, planes, 3, stride, 1, false));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    conv3_ = register_module("conv3", Conv(planes, out, 1, 1, 0, false));
    bn3_ = register_module("bn3", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut_ = register_module(
          "shortcut", nn::Sequential(Conv(in, out, 1, stride, 0, false),
                                     nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor out = torch::relu(bn1_(conv1_(x)));
    out = torch::relu(bn2_(conv2_(out)));
    out = bn3_(conv3_(out));
    out += shortcut_ ? shortcut_->forward(x) : x;
    return torch::relu(out);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  nn::Sequential shortcut_{nullptr};
};

template <typename Block>
class ResNet : public Classifier {
 public:
  ResNet(std::string name, const std::vector<int64_t>& blocks, Shape input,
         int64_t num_classes)
      : Classifier(std::move(name), input, num_classes) {
    conv1_ = register_module("conv1", Conv(input.channels, 64, 3, 1, 1, false));
    bn1_ = register_module("bn1", nn::BatchNorm2d(64));
    int64_t in = 64;
    const int64_t planes[4] = {64, 128, 256, 512};
    for (int stage = 0; stage < 4; ++stage) {
      nn::Sequential layer;
      for (int64_t b = 0; b < blocks[stage]; ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        layer->push_back(std::make_shared<Block>(in, planes[stage], stride));
        in = planes[stage] * Block::kExpansion;
      }
      layers_[stage] = register_module(absl::StrCat("layer", stage + 1), layer);
    }
    fc_ = register_module("fc", nn::Linear(in, num_classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(bn1_(conv1_(x)));
    for (nn::Sequential& layer : layers_) x = layer->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1});
    return fc_(torch::flatten(x, 1));
  }

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  nn::Sequential layers_[4] = {nn::Sequential(nullptr), nn::Sequential(nullptr),
                               nn::Sequential(nullptr),
                               nn::Sequential(nullptr)};
  nn::Linear fc_{nullptr};
};

// Fills a float32 CPU tensor from `draw()`, one value per element.
template <typename Draw>
void Fill(torch::Tensor& t, Draw draw) {
  torch::Tensor c = t.contiguous();
  float* p = c.data_ptr<float>();
  for (int64_t i = 0, n = c.numel(); i < n; ++i) {
    p[i] = static_cast<float>(draw());
  }
  if (!c.is_same(t)) t.copy_(c);
}

// See the file comment of models.h. One generator, walked through the
// modules in their fixed order, so the values depend only on the seed.
void Initialize(Classifier& model, uint64_t seed, bool he_conv) {
  torch::NoGradGuard no_grad;
  SplitMix64 rng(MixSeed(seed, 0x494e4954 /* "INIT" */));
  auto uniform = [&](double bound) {
    return [&rng, bound] { return bound * (2 * rng.Uniform() - 1); };
  };
  for (const std::shared_ptr<nn::Module>& m : model.modules(false)) {
    if (auto* conv = m->as<nn::Conv2dImpl>()) {
      const int64_t k = conv->weight.size(2) * conv->weight.size(3);
      const int64_t fan_in = conv->weight.size(1) * k;
      const int64_t fan_out = conv->weight.size(0) * k;
      if (he_conv) {
        const double std = std::sqrt(2.0 / static_cast<double>(fan_out));
        Fill(conv->weight, [&] { return std * rng.Normal(); });
      } else {
        Fill(conv->weight, uniform(1 / std::sqrt(double(fan_in))));
      }
      if (conv->bias.defined()) {
        Fill(conv->bias, uniform(1 / std::sqrt(double(fan_in))));
      }
    } else if (auto* fc = m->as<nn::LinearImpl>()) {
      const double bound = 1 / std::sqrt(double(fc->weight.size(1)));
      Fill(fc->weight, uniform(bound));
      if (fc->bias.defined()) Fill(fc->bias, uniform(bound));
    } else if (auto* bn = m->as<nn::BatchNorm2dImpl>()) {
      bn->weight.fill_(1);
      bn->bias.fill_(0);
    }
  }
}

std::string Canonical(const std::string& name) {
  std::string s;
  for (char ch : name) {
    if (ch != '-' && ch != '_') {
      s.push_back(
          static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    }
  }
  if (s == "simplecnn") return "simple_cnn";
  return s;
}

}  // namespace

std::vector<std::string> Classifier::parameter_names() const {
  std::vector<std::string> names;
  for (const auto& item : named_parameters()) names.push_back(item.key());
  return names;
}

int64_t Classifier::num_parameter_elements() const {
  int64_t n = 0;
  for (const torch::Tensor& p : parameters()) n += p.numel();
  return n;
}

std::vector<std::string> ModelNames() {
  return {"simple_cnn", "resnet18", "resnet50"};
}

absl::StatusOr<std::shared_ptr<Classifier>> MakeModel(
    const std::string& name, const ModelOptions& options) {
  const std::string model = Canonical(name);
  const bool cnn = model == "simple_cnn";
  if (!cnn && model != "resnet18" && model != "resnet50") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown model '", name, "' (want ",
                     absl::StrJoin(ModelNames(), ", "), ")"));
  }
  Classifier::Shape shape;
  shape.channels = options.in_channels > 0 ? options.in_channels : cnn ? 1 : 3;
  shape.rows = shape.cols = options.image_side > 0 ? options.image_side
                            : cnn                  ? 28
                                                   : 32;
  const int64_t min_side = cnn ? 6 : 8;
  if (options.num_classes < 1 || shape.channels > 64 || shape.rows < min_side ||
      shape.rows > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad options for ", model, ": ", options.num_classes,
                     " classes, ", shape.channels, " channels, side ",
                     shape.rows, " (min ", min_side, ")"));
  }
  try {
    std::shared_ptr<Classifier> net;
    if (cnn) {
      net = std::make_shared<SimpleCnn>(shape, options.num_classes);
    } else if (model == "resnet18") {
      net = std::make_shared<ResNet<BasicBlock>>(
          model, std::vector<int64_t>{2, 2, 2, 2}, shape, options.num_classes);
    } else {
      net = std::make_shared<ResNet<Bottleneck>>(
          model, std::vector<int64_t>{3, 4, 6, 3}, shape, options.num_classes);
    }
    Initialize(*net, options.seed, /*he_conv=*/!cnn);
    return net;
  } catch (const c10::Error& e) {
    return TorchError(absl::StrCat("building ", model), e);
  }
}

}  // namespace cddp::worker
