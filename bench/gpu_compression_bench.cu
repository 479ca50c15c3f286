// cddp_gpu_bench: the CUDA compression kernels (common/cuda) on one
// ResNet-50-sized tensor (25.6 M floats) at 1 % and 0.1 %, against the
// floors measured in the same run:
//   d2d_copy        cudaMemcpyAsync of the tensor's bytes, device to device
//   rw_floor        r += g: the error-feedback step's own memory traffic
//                   (read r and g, write r) with nothing selected
//   topk_exact/fast top-k of a device array (EnqueueTopK)
//   ef_exact/fast   the full error-feedback step (EnqueueErrorFeedbackStep)
//   ef_fast+d2h     the fast step plus the copy of its pairs to pinned host
//                   memory (what DeviceErrorFeedback::Step does)
// Times are CUDA-event medians over --reps runs after --warmup runs; each
// step run starts from the same residual. bench/gpu_torch_topk.py prints
// torch.topk in the same format. Usage: cddp_gpu_bench --help.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/compress/cuda/compression_kernels.h"
#include "common/compress/topk.h"

namespace {

using cddp::common::Selector;

struct Flags {
  size_t n = 25'600'000;
  std::vector<double> densities = {0.01, 0.001};
  int reps = 20;
  int warmup = 3;
  std::string out;
  bool probe = false;
};

void Usage() {
  std::printf(
      "usage: cddp_gpu_bench [--n=25600000] [--densities=0.01,0.001]\n"
      "                      [--reps=20] [--warmup=3] [--out=FILE]\n"
      "       cddp_gpu_bench --probe\n"
      "Times the CUDA compression kernels against a device copy of the same\n"
      "bytes; prints a table and, with --out, writes it to FILE. --probe only\n"
      "says which device would be used. Exit status: 0 ok, 1 a fast/exact\n"
      "mismatch or a CUDA error, 2 bad flags, 3 no usable CUDA device.\n");
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (name == "--help" || name == "-h") {
      Usage();
      std::exit(0);
    } else if (name == "--probe") {
      f->probe = true;
    } else if (name == "--n") {
      f->n = std::stoull(value);
    } else if (name == "--reps") {
      f->reps = std::max(1, std::stoi(value));
    } else if (name == "--warmup") {
      f->warmup = std::max(0, std::stoi(value));
    } else if (name == "--out") {
      f->out = value;
    } else if (name == "--densities") {
      f->densities.clear();
      std::stringstream ss(value);
      for (std::string d; std::getline(ss, d, ',');) {
        f->densities.push_back(std::stod(d));
      }
    } else {
      std::fprintf(stderr, "unknown flag %s\n", arg.c_str());
      Usage();
      return false;
    }
  }
  return f->n > 0 && f->n < (size_t{1} << 32);
}

#define CHECK_CUDA(expr)                                              \
  do {                                                                \
    const cudaError_t e = (expr);                                     \
    if (e != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s: %s\n", #expr, cudaGetErrorString(e)); \
      std::exit(1);                                                   \
    }                                                                 \
  } while (0)

void CheckOk(const cddp::cuda::KernelStatus& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "kernel error: %s\n", s.message().c_str());
    std::exit(1);
  }
}

// Gradient-like values: a normal distribution from a hash of the index
// (Box-Muller), so 25.6 M of them take no host time.
__global__ void FillNormal(float* x, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull + seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float u1 = (static_cast<float>(z >> 40) + 1.0f) / 16777217.0f;
    const float u2 = static_cast<float>((z >> 16) & 0xffffff) / 16777216.0f;
    x[i] = scale * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
  }
}

__global__ void AddInto(float* r, const float* g, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    r[i] += g[i];
  }
}

struct Row {
  std::string name;
  double density = 0.0;  // 0: not a selection
  size_t k = 0;
  double median_us = 0.0;
  double min_us = 0.0;
};

// Median and minimum of `reps` timed runs of `run` after `warmup` untimed
// ones; `reset` (untimed) runs before each.
Row Time(const std::string& name, double density, size_t k, const Flags& f,
         cudaStream_t stream, const std::function<void()>& reset,
         const std::function<void()>& run) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  std::vector<double> us;
  for (int i = 0; i < f.warmup + f.reps; ++i) {
    if (reset) reset();
    CHECK_CUDA(cudaEventRecord(start, stream));
    run();
    CHECK_CUDA(cudaEventRecord(stop, stream));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0.0f;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    if (i >= f.warmup) us.push_back(1000.0 * ms);
  }
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  std::sort(us.begin(), us.end());
  return Row{name, density, k, us[us.size() / 2], us.front()};
}

template <typename T>
T* DeviceAlloc(size_t count) {
  void* p = nullptr;
  CHECK_CUDA(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)));
  return static_cast<T*>(p);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (!ParseFlags(argc, argv, &f)) return 2;
  std::string why;
  if (!cddp::cuda::DeviceAvailable(&why)) {
    std::fprintf(stderr, "no CUDA device: %s\n", why.c_str());
    return 3;
  }
  int device = 0, runtime = 0, driver = 0;
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDevice(&device));
  CHECK_CUDA(cudaGetDeviceProperties(&prop, device));
  CHECK_CUDA(cudaRuntimeGetVersion(&runtime));
  CHECK_CUDA(cudaDriverGetVersion(&driver));
  if (f.probe) {
    std::printf("%s (compute capability %d.%d, %d SMs, %.1f GiB)\n", prop.name,
                prop.major, prop.minor, prop.multiProcessorCount,
                prop.totalGlobalMem / 1073741824.0);
    return 0;
  }
  const size_t n = f.n;
  const size_t bytes = n * sizeof(float);

  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::unique_ptr<cddp::cuda::Workspace> ws;
  CheckOk(cddp::cuda::Workspace::Create(n, &ws));
  float* g = DeviceAlloc<float>(n);
  float* r0 = DeviceAlloc<float>(n);
  float* r = DeviceAlloc<float>(n);
  float* copy = DeviceAlloc<float>(n);
  FillNormal<<<1024, 256, 0, stream>>>(g, n, 1, 1.0f);
  FillNormal<<<1024, 256, 0, stream>>>(r0, n, 2, 0.3f);  // a residual
  CHECK_CUDA(cudaGetLastError());
  size_t k_max = 0;
  for (double d : f.densities) {
    k_max = std::max(k_max, cddp::common::TopKCount(n, d));
  }
  uint32_t* index = DeviceAlloc<uint32_t>(k_max);
  uint32_t* index_exact = DeviceAlloc<uint32_t>(k_max);
  float* value = DeviceAlloc<float>(k_max);
  auto* report = DeviceAlloc<cddp::cuda::StepReport>(1);
  void* pinned = nullptr;
  CHECK_CUDA(cudaMallocHost(&pinned, std::max<size_t>(k_max, 1) * 8));
  const auto reset_r = [&] {
    CHECK_CUDA(cudaMemcpyAsync(r, r0, bytes, cudaMemcpyDeviceToDevice, stream));
  };

  std::vector<Row> rows;
  rows.push_back(Time("d2d_copy", 0, 0, f, stream, nullptr, [&] {
    CHECK_CUDA(
        cudaMemcpyAsync(copy, g, bytes, cudaMemcpyDeviceToDevice, stream));
  }));
  rows.push_back(Time("rw_floor", 0, 0, f, stream, reset_r, [&] {
    AddInto<<<prop.multiProcessorCount * 8, 256, 0, stream>>>(r, g, n);
  }));
  std::vector<std::string> checks;
  for (double d : f.densities) {
    const size_t k = cddp::common::TopKCount(n, d);
    for (Selector sel : {Selector::kExact, Selector::kFast}) {
      const bool exact = sel == Selector::kExact;
      rows.push_back(Time(
          exact ? "topk_exact" : "topk_fast", d, k, f, stream, nullptr, [&] {
            CheckOk(cddp::cuda::EnqueueTopK(g, n, k, sel,
                                            exact ? index_exact : index,
                                            nullptr, *ws, stream));
          }));
    }
    std::vector<uint32_t> a(k), b(k);
    CHECK_CUDA(cudaMemcpy(a.data(), index, k * 4, cudaMemcpyDeviceToHost));
    CHECK_CUDA(
        cudaMemcpy(b.data(), index_exact, k * 4, cudaMemcpyDeviceToHost));
    checks.push_back("top-k fast == exact at density " + std::to_string(d) +
                     ": " + (a == b ? "yes" : "NO"));
    for (Selector sel : {Selector::kExact, Selector::kFast}) {
      cddp::cuda::StepArgs args;
      args.residual = r;
      args.gradient = g;
      args.n = n;
      args.k = k;
      args.selector = sel;
      args.out_index = index;
      args.out_value = value;
      args.report = report;
      const auto step = [&] {
        CheckOk(cddp::cuda::EnqueueErrorFeedbackStep(args, *ws, stream));
      };
      const bool exact = sel == Selector::kExact;
      rows.push_back(
          Time(exact ? "ef_exact" : "ef_fast", d, k, f, stream, reset_r, step));
      if (!exact) {
        rows.push_back(Time("ef_fast+d2h", d, k, f, stream, reset_r, [&] {
          step();
          CHECK_CUDA(cudaMemcpyAsync(pinned, index, k * 4,
                                     cudaMemcpyDeviceToHost, stream));
          CHECK_CUDA(cudaMemcpyAsync(static_cast<char*>(pinned) + k * 4, value,
                                     k * 4, cudaMemcpyDeviceToHost, stream));
        }));
      }
    }
  }

  char line[1024];
  std::string table;
  std::snprintf(line, sizeof line,
                "# cddp_gpu_bench: %s, %d SMs, CUDA runtime %d, driver %d\n"
                "# n = %zu floats (%.1f MB), median of %d runs after %d "
                "warm-ups\n",
                prop.name, prop.multiProcessorCount, runtime, driver, n,
                bytes / 1e6, f.reps, f.warmup);
  table += line;
  std::snprintf(line, sizeof line, "%-14s %8s %10s %12s %12s %9s\n", "name",
                "density", "k", "median_us", "min_us", "x_copy");
  table += line;
  const double copy_us = rows[0].median_us;
  for (const Row& row : rows) {
    char density[32] = "-";
    char k[32] = "-";
    if (row.density > 0) {
      std::snprintf(density, sizeof density, "%g%%", row.density * 100);
      std::snprintf(k, sizeof k, "%zu", row.k);
    }
    std::snprintf(line, sizeof line, "%-14s %8s %10s %12.1f %12.1f %9.2f\n",
                  row.name.c_str(), density, k, row.median_us, row.min_us,
                  row.median_us / copy_us);
    table += line;
  }
  for (const std::string& c : checks) table += "# " + c + "\n";
  std::fputs(table.c_str(), stdout);
  if (!f.out.empty()) {
    FILE* out = std::fopen(f.out.c_str(), "w");
    if (out == nullptr) {
      std::perror(f.out.c_str());
      return 1;
    }
    std::fputs(table.c_str(), out);
    std::fclose(out);
  }
  const bool all_match =
      std::all_of(checks.begin(), checks.end(), [](const std::string& c) {
        return c.find(": yes") != std::string::npos;
      });
  return all_match ? 0 : 1;
}
