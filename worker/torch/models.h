// The models the worker trains, built with LibTorch's C++ API:
//  - "simple_cnn": for 1x28x28 images (MNIST, Fashion-MNIST):
//      conv(1,32,3) relu conv(32,64,3) relu maxpool2 dropout(0.25)
//      fc(9216,128) relu dropout(0.5) fc(128,classes)   (1,199,882 params)
//  - "resnet18", "resnet50": the CIFAR variants for 3x32x32 images (3x3
//    stem, stride 1, no max-pool; four stages of Basic / Bottleneck blocks;
//    global average pool; fc)   (11,173,962 / 23,520,842 params)
//
// Every model is a Classifier: forward(x) gives logits; parameters() lists
// the trainable tensors in a fixed order (registration order, depth first)
// which is the FlatLayout order; train()/eval() switch dropout and batch
// norm. BatchNorm running statistics are buffers, not parameters: they are
// not part of the flat vector and stay local to each worker.
//
// Initialisation is drawn from our own generator keyed by the seed (not
// LibTorch's global one), so two workers with the same seed start
// bit-identical whatever else has used LibTorch's RNG: conv and fc layers of
// simple_cnn use LibTorch's defaults (U(+-1/sqrt(fan_in)) for weights and
// biases), ResNet convs He-normal (fan_out, ReLU), their fc the LibTorch
// default, batch norms weight 1 / bias 0.
//
// A Classifier is not thread-safe (forward in training mode mutates batch
// norm statistics); use one per thread.
#ifndef CDDP_WORKER_TORCH_MODELS_H_
#define CDDP_WORKER_TORCH_MODELS_H_

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace cddp::worker {

class Classifier : public torch::nn::Module {
 public:
  struct Shape {
    int64_t channels = 0;
    int64_t rows = 0;
    int64_t cols = 0;
  };

  Classifier(std::string name, Shape input, int64_t num_classes)
      : torch::nn::Module(name),
        model_name_(std::move(name)),
        input_(input),
        num_classes_(num_classes) {}

  // x: [B, channels, rows, cols] float32 -> logits [B, num_classes]. Throws
  // c10::Error on a shape mismatch (callers catch it at their edge).
  virtual torch::Tensor forward(torch::Tensor x) = 0;

  // The factory name ("simple_cnn", "resnet18", "resnet50").
  const std::string& model_name() const { return model_name_; }
  // The input this model was built for.
  Shape input_shape() const { return input_; }
  int64_t num_classes() const { return num_classes_; }
  // Names of parameters(), same order ("conv1.weight", "layer1.0.bn1.bias").
  std::vector<std::string> parameter_names() const;
  // Total number of trainable elements.
  int64_t num_parameter_elements() const;

 private:
  std::string model_name_;
  Shape input_;
  int64_t num_classes_;
};

struct ModelOptions {
  int64_t num_classes = 10;
  // 0: the model's default (simple_cnn 1x28x28, resnets 3x32x32). The
  // resnets accept any side >= 8 (global pooling); simple_cnn's fc1 is
  // sized for `image_side`.
  int64_t in_channels = 0;
  int64_t image_side = 0;
  uint64_t seed = 0;
};

// The model names MakeModel knows.
std::vector<std::string> ModelNames();

// Builds and initialises model `name` (one of ModelNames(); "simplecnn",
// "resnet-18" and "resnet-50" are accepted too).
// Errors: INVALID_ARGUMENT for an unknown name or bad options; INTERNAL if
// LibTorch throws.
absl::StatusOr<std::shared_ptr<Classifier>> MakeModel(
    const std::string& name, const ModelOptions& options = {});

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TORCH_MODELS_H_
