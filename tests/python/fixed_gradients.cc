// One worker of the mixed-job test (tests/python/test_mixed_job.py), in C++
// on the public API: the same model, initial values and gradients as
// fixed_gradients.py. Prints "params crc32 XXXXXXXX" at the end.
#include <cddp/cddp.h>
#include <torch/torch.h>

#include <cstdio>

#include "common/crc32.h"

namespace {

constexpr int kSteps = 20;

// ((i * a + b) % 23 - 11) / 8 for i in [0, n): exact in float32.
torch::Tensor Exact(int64_t n, int64_t a, int64_t b) {
  torch::Tensor i = torch::arange(n, torch::kInt64);
  return ((i * a + b) % 23 - 11).to(torch::kFloat32) / 8;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "%s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  torch::Tensor weight =
      Exact(50 * 40, 3, 1).reshape({50, 40}).set_requires_grad(true);
  torch::Tensor bias = Exact(40, 5, 2).set_requires_grad(true);
  auto options = cddp::SyncOptionsFromEnvironment();
  if (!options.ok()) return Fail(options.status());
  auto sync = cddp::ParameterSync::Create({{"weight", weight}, {"bias", bias}},
                                          *options);
  if (!sync.ok()) return Fail(sync.status());
  const int64_t worker = options->worker_id;
  for (int s = 0; s < kSteps; ++s) {
    const int64_t step = static_cast<int64_t>((*sync)->step());
    weight.mutable_grad() =
        Exact(50 * 40, 7, step * 11 + worker * 5).reshape({50, 40});
    bias.mutable_grad() = Exact(40, 13, step * 3 + worker);
    auto stats = (*sync)->Step();
    if (!stats.ok()) return Fail(stats.status());
    if (!stats->push_status.ok()) return Fail(stats->push_status);
  }
  auto match = (*sync)->Finish();
  if (!match.ok()) return Fail(match.status());
  if (!*match) return Fail(absl::InternalError("differ from the servers'"));
  uint32_t crc = 0;
  for (const torch::Tensor& t : {weight, bias}) {
    const torch::Tensor c = t.detach().contiguous();
    crc = cddp::common::Crc32(
        std::span(static_cast<const std::byte*>(c.data_ptr()), c.nbytes()),
        crc);
  }
  std::printf("params crc32 %08x\n", crc);
  return 0;
}
