// cddp_compression_demo: runs the error-feedback Top-K compressor for a few
// steps on a gradient-like tensor and reports, per step, what was selected,
// the bytes it takes on the wire against the dense fp32 equivalent, and the
// time taken by the step and by the encoding. `scripts/run.sh` runs it.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "common/candidate_kernels.h"
#include "common/error_feedback.h"
#include "common/wire_codec.h"

ABSL_FLAG(uint64_t, n, 25'600'000,
          "elements in the tensor (default: ResNet-50's 25.6 M parameters)");
ABSL_FLAG(double, ratio, 0.01, "fraction of elements sent per step, (0, 1]");
ABSL_FLAG(int, steps, 5, "compression steps to run");
ABSL_FLAG(std::string, selector, "fast", "fast | exact (same result)");
ABSL_FLAG(std::string, value_type, "fp32", "wire value type: fp32|fp16|bf16");
ABSL_FLAG(std::string, index_encoding, "delta",
          "wire index encoding: delta (delta-varint) | absolute (uint32)");
ABSL_FLAG(uint64_t, seed, 1, "seed of the synthetic gradients");

namespace {

using cddp::common::IndexEncoding;

int Fail(const std::string& msg) {
  std::fprintf(stderr, "cddp_compression_demo: %s\n", msg.c_str());
  return 2;
}

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Demo of the compression core: error-feedback Top-K on a gradient-like "
      "tensor.\nUsage: cddp_compression_demo [--n=N] [--ratio=R] [--steps=S] "
      "...");
  absl::ParseCommandLine(argc, argv);
  const uint64_t n = absl::GetFlag(FLAGS_n);
  const double ratio = absl::GetFlag(FLAGS_ratio);
  const int steps = absl::GetFlag(FLAGS_steps);
  if (n == 0 || n > 0xffffffffu) return Fail("--n must be in [1, 2^32)");
  if (!(ratio > 0.0 && ratio <= 1.0)) return Fail("--ratio must be in (0, 1]");
  if (steps < 1) return Fail("--steps must be >= 1");
  cddp::common::StepOptions options;
  const std::string selector = absl::GetFlag(FLAGS_selector);
  if (selector == "exact") {
    options.selector = cddp::common::Selector::kExact;
  } else if (selector != "fast") {
    return Fail("--selector must be fast or exact");
  }
  const std::string vt = absl::GetFlag(FLAGS_value_type);
  const auto value_type = cddp::common::ParseValueType(vt);
  if (!value_type.ok()) return Fail(std::string(value_type.status().message()));
  options.value_type = *value_type;
  const auto index_encoding =
      cddp::common::ParseIndexEncoding(absl::GetFlag(FLAGS_index_encoding));
  if (!index_encoding.ok()) {
    return Fail(std::string(index_encoding.status().message()));
  }
  const IndexEncoding encoding = *index_encoding;

  std::printf("tensor: %llu floats (%.1f MB dense), ratio %g, selector %s, "
              "wire %s + %s indices, kernels %s\n",
              static_cast<unsigned long long>(n), n * 4 / 1e6, ratio,
              selector.c_str(), vt.c_str(),
              std::string(cddp::common::IndexEncodingName(encoding)).c_str(),
              cddp::common::CandidateKernelIsa());
  // Gradient-like: a Gaussian body with a heavy (Cauchy) tail, fresh each
  // step; the residual carries what was not sent.
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  std::normal_distribution<float> body(0.0f, 1e-3f);
  std::cauchy_distribution<float> tail(0.0f, 1e-3f);
  std::bernoulli_distribution is_tail(0.05);
  std::vector<float> grad(n);
  cddp::common::ErrorFeedback ef({n});
  const size_t k = cddp::common::TopKCount(n, ratio);
  cddp::common::SparseSelection sel;
  std::string indices, values;
  double total_step_ms = 0;
  for (int step = 0; step < steps; ++step) {
    for (auto& g : grad) g = is_tail(rng) ? tail(rng) : body(rng);
    sel.clear();
    const auto t0 = std::chrono::steady_clock::now();
    const absl::Status s = ef.Step(0, grad, k, options, &sel);
    const auto t1 = std::chrono::steady_clock::now();
    if (!s.ok()) return Fail(std::string(s.message()));
    const absl::Status e =
        cddp::common::EncodeChunk(sel, options.value_type, encoding, &indices,
                                  &values);
    const auto t2 = std::chrono::steady_clock::now();
    if (!e.ok()) return Fail(std::string(e.message()));
    const size_t wire = indices.size() + values.size();
    total_step_ms += Ms(t1 - t0);
    std::printf(
        "step %d: selected %zu of %llu (%.3f%%), wire %s bytes vs dense %s "
        "(%.2f%%, %.2f B/pair), step %.1f ms, encode %.1f ms, |residual| "
        "%.4g\n",
        step, sel.size(), static_cast<unsigned long long>(n),
        100.0 * sel.size() / n, absl::StrFormat("%d", wire).c_str(),
        absl::StrFormat("%d", n * 4).c_str(), 100.0 * wire / (n * 4.0),
        static_cast<double>(wire) / sel.size(), Ms(t1 - t0), Ms(t2 - t1),
        ef.ResidualNorm());
  }
  std::printf("mean error-feedback step: %.1f ms over %d steps\n",
              total_step_ms / steps, steps);
  return 0;
}
