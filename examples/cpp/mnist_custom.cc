// A model of your own on MNIST, trained through compressed-ddp's C++ API.
//   cddp-launch --tls_dir=build/certs --num_workers=2 --momentum=0 \
//     --downlink=sparse --dgc_momentum=0.9 -- ./mnist_custom data/mnist \
//     [max_steps]
// (scripts/make_certs.sh build/certs makes the certificates; or
// --plaintext)
#include <cddp/cddp.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

struct Net : torch::nn::Module {  // not one of cddp-worker's built-ins
  torch::nn::Linear fc1{register_module("fc1", torch::nn::Linear(784, 128))};
  torch::nn::Linear fc2{register_module("fc2", torch::nn::Linear(128, 10))};
  torch::Tensor forward(torch::Tensor x) {
    return fc2(torch::relu(fc1(x.flatten(1))));
  }
};

int Fail(const absl::Status& status, int exit_code) {
  std::fprintf(stderr, "%s\n", status.ToString().c_str());
  return exit_code;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MNIST_DIR [MAX_STEPS]\n", argv[0]);
    return 2;
  }
  const uint64_t max_steps = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  auto options = cddp::SyncOptionsFromEnvironment();  // set by cddp-launch
  if (!options.ok()) return Fail(options.status(), 2);
  auto model = std::make_shared<Net>();
  auto sync = cddp::ParameterSync::Create(*model, *options);  // joins
  if (!sync.ok()) return Fail(sync.status(), 1);

  auto data = torch::data::datasets::MNIST(argv[1]).map(
      torch::data::transforms::Stack<>());
  torch::data::samplers::DistributedRandomSampler sampler(
      data.size().value(), options->num_workers, options->worker_id);
  auto loader = torch::data::make_data_loader(std::move(data), sampler, 64);
  double last_loss = 0;
  for (auto& batch : *loader) {
    model->zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(batch.data),
                                                     batch.target);
    loss.backward();
    auto stats = (*sync)->Step();  // instead of optimizer.step()
    if (!stats.ok()) return Fail(stats.status(), 1);
    last_loss = loss.item<double>();
    if (stats->step % 50 == 0 || stats->step == max_steps) {
      std::printf("[worker %u] step %llu loss %.4f, sent %.2f%% of dense\n",
                  options->worker_id, (unsigned long long)stats->step,
                  last_loss, 100.0 * stats->bytes_sent / stats->dense_bytes);
    }
    if (stats->step == max_steps) break;
  }
  auto match = (*sync)->Finish(/*test_accuracy=*/-1, last_loss);
  if (!match.ok()) return Fail(match.status(), 1);
  return *match ? 0 : 3;  // 3: the parameters differ from the servers'
}
