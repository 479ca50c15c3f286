// The worker's training loop. This is the one LibTorch translation unit of
// the loop (with models.cc, dataset.cc, flat_layout.cc): keep it that way.
#include "worker/trainer.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/compress/error_feedback.h"
#include "common/wire/shard_map.h"
#include "common/status_macros.h"
#include "common/compress/topk.h"
#include "worker/torch/dataset.h"
#include "worker/torch/flat_layout.h"
#include "worker/gradient_compressor.h"
#include "worker/torch/models.h"
#include "worker/client/shard_client.h"
#include "worker/worker_metrics.h"

namespace cddp::worker {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

uint32_t Crc32(std::span<const float> v) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(v.data());
  size_t left = v.size_bytes();
  while (left > 0) {
    const size_t len = std::min<size_t>(left, 1u << 30);
    crc = crc32(crc, p, static_cast<uInt>(len));
    p += len;
    left -= len;
  }
  return static_cast<uint32_t>(crc);
}

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
};

// Loss and accuracy of `model` (on `device`) on `data` (in batches, no
// autograd).
absl::StatusOr<Evaluation> Evaluate(Classifier& model, const Dataset& data,
                                    const torch::Device& device) {
  constexpr int64_t kBatch = 1000;
  torch::NoGradGuard no_grad;
  model.eval();
  double loss_sum = 0;
  int64_t correct = 0;
  try {
    for (int64_t begin = 0; begin < data.size(); begin += kBatch) {
      CDDP_ASSIGN_OR_RETURN(
          Batch b, data.Slice(begin, std::min(data.size(), begin + kBatch)));
      const torch::Tensor labels = b.labels.to(device);
      torch::Tensor logits = model.forward(b.images.to(device));
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, labels,
                      torch::nn::functional::CrossEntropyFuncOptions()
                          .reduction(torch::kSum))
                      .item<double>();
      correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    }
  } catch (const c10::Error& e) {
    model.train();
    return absl::InternalError(absl::StrCat("evaluation: ", e.what_without_backtrace()));
  }
  model.train();
  const double n = static_cast<double>(data.size());
  return Evaluation{loss_sum / n, static_cast<double>(correct) / n};
}

// What LibTorch and the kernels offer for CUDA (probed only when wanted:
// it initialises the CUDA runtime).
CudaSupport ProbeCudaSupport() {
  CudaSupport s = ProbeKernelCudaSupport();
  s.torch_has_cuda = CDDP_TORCH_HAS_CUDA;  // worker/CMakeLists.txt
  try {
    s.torch_sees_device = s.torch_has_cuda && torch::cuda::is_available();
  } catch (const c10::Error&) {
    s.torch_sees_device = false;
  }
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    TrainerOptions options) {
  auto bad = [](const std::string& msg) {
    return absl::InvalidArgumentError(msg);
  };
  if (options.epochs < 1) return bad("--epochs must be >= 1");
  if (options.batch_size < 1) return bad("--batch_size must be >= 1");
  if (!(options.ratio > 0 && options.ratio <= 1)) {
    return bad("--ratio must be in (0, 1]");
  }
  if (options.min_compress_numel < 0) {
    return bad("--min_compress_numel must be >= 0");
  }
  if (options.servers.empty()) return bad("--servers lists no server");
  if (options.num_workers < 1) return bad("--num_workers must be >= 1");
  if (options.worker_id >= options.num_workers) {
    return bad(absl::StrCat("--worker_id ", options.worker_id,
                            " must be below --num_workers ",
                            options.num_workers));
  }
  if (options.threads < 0) return bad("--threads must be >= 0");
  if (options.checkpoint_every < 1) return bad("--checkpoint_every must be >= 1");
  if (options.eval_every < 0 || options.max_steps < 0 ||
      options.train_limit < 0 || options.eval_limit < 0) {
    return bad("--eval_every, --max_steps and the limits must be >= 0");
  }
  const CudaSupport support = options.device == DeviceRequest::kCpu
                                  ? CudaSupport{}
                                  : ProbeCudaSupport();
  CDDP_ASSIGN_OR_RETURN(DeviceChoice device,
                        ChooseDevice(options.device, support));
  return std::unique_ptr<Trainer>(
      new Trainer(std::move(options), std::move(device)));
}

Trainer::Trainer(TrainerOptions options, DeviceChoice device)
    : options_(std::move(options)), device_(std::move(device)) {}
Trainer::~Trainer() = default;

absl::StatusOr<TrainResult> Trainer::Run() {
  const TrainerOptions& o = options_;
  const std::string tag = absl::StrCat("[worker ", o.worker_id, "] ");
  const auto t_start = Clock::now();
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const int threads = o.threads > 0
                          ? o.threads
                          : std::max(1, cores / static_cast<int>(o.num_workers));
  at::set_num_threads(threads);
  torch::manual_seed(o.seed * 1000 + o.worker_id);  // dropout masks
  const bool cuda = device_.cuda;
  const torch::Device device(cuda ? torch::kCUDA : torch::kCPU);
  std::printf("%sdevice %s (%s)\n", tag.c_str(), cuda ? "cuda" : "cpu",
              device_.reason.c_str());

  // Data and model.
  DatasetOptions data_options;
  data_options.seed = o.seed;
  data_options.limit = o.train_limit;
  CDDP_ASSIGN_OR_RETURN(
      Dataset train, Dataset::Load(o.dataset, o.data_dir, Split::kTrain,
                                   data_options));
  std::printf("%s%s\n", tag.c_str(), train.description().c_str());
  std::optional<Dataset> test;
  if (o.worker_id == 0) {
    DatasetOptions test_options = data_options;
    test_options.limit = o.eval_limit;
    CDDP_ASSIGN_OR_RETURN(
        test, Dataset::Load(o.dataset, o.data_dir, Split::kTest, test_options));
  }
  ModelOptions model_options;
  model_options.num_classes = train.num_classes();
  model_options.in_channels = train.channels();
  model_options.image_side = train.rows();
  model_options.seed = o.seed;
  CDDP_ASSIGN_OR_RETURN(std::shared_ptr<Classifier> model,
                        MakeModel(o.model, model_options));
  model->train();
  try {
    model->to(device);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("moving the model to ",
                                            device.str(), ": ",
                                            e.what_without_backtrace()));
  }
  const std::vector<at::Tensor> params = model->parameters();
  CDDP_ASSIGN_OR_RETURN(FlatLayout layout,
                        FlatLayout::Create(params, model->parameter_names()));
  const size_t n = layout.total_size();
  CDDP_ASSIGN_OR_RETURN(FlatBuffers buffers, FlatBuffers::Create(layout, cuda));
  const std::span<float> flat = buffers.params();
  CDDP_RETURN_IF_ERROR(layout.GatherParameters(params, flat));

  // Cluster.
  CDDP_ASSIGN_OR_RETURN(
      common::ShardMap shard_map,
      common::ShardMap::Create(n, static_cast<uint32_t>(o.servers.size())));
  ShardClientOptions client_options;
  client_options.server_addresses = o.servers;
  client_options.worker_id = o.worker_id;
  client_options.value_type = o.value_type;
  client_options.index_encoding = o.index_encoding;
  client_options.registry = o.registry;
  CDDP_ASSIGN_OR_RETURN(std::unique_ptr<ShardClient> client,
                        ShardClient::Create(shard_map, client_options));
  std::unique_ptr<WorkerMetrics> metrics;
  if (o.registry != nullptr) {
    metrics = std::make_unique<WorkerMetrics>(*o.registry, o.worker_id);
  }

  // Residuals: from this worker's checkpoint when there is one.
  std::vector<std::string> names(layout.num_tensors());
  for (size_t t = 0; t < names.size(); ++t) names[t] = layout.name(t);
  CDDP_ASSIGN_OR_RETURN(
      std::unique_ptr<GradientCompressor> ef,
      MakeGradientCompressor(cuda, layout.sizes(), std::move(names)));
  if (!o.checkpoint_dir.empty()) {
    CDDP_ASSIGN_OR_RETURN(std::optional<uint64_t> resumed,
                          ResumeResiduals(o.checkpoint_dir, o.worker_id, *ef));
    if (resumed.has_value()) {
      std::printf("%sresumed residuals from checkpoint (step %llu)\n",
                  tag.c_str(), static_cast<unsigned long long>(*resumed));
    }
  }
  const std::vector<uint64_t> sizes(layout.sizes().begin(),
                                    layout.sizes().end());
  // Joins (or re-joins after a failure) and pulls the servers' values.
  auto join = [&]() -> absl::StatusOr<uint64_t> {
    const auto deadline = Clock::now() + absl::ToChronoSeconds(o.reconnect_timeout);
    absl::Status last;
    while (true) {
      CDDP_RETURN_IF_ERROR(buffers.WaitForDevice());  // before `flat` changes
      absl::StatusOr<uint64_t> step = client->Join(sizes, flat);
      if (step.ok()) {
        CDDP_RETURN_IF_ERROR(layout.ScatterParameters(flat, params));
        return step;
      }
      last = step.status();
      if (absl::IsFailedPrecondition(last) || absl::IsInvalidArgument(last) ||
          Clock::now() >= deadline || stop_.load()) {
        return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  };
  CDDP_ASSIGN_OR_RETURN(uint64_t step, join());

  WorkerSamplerOptions sampler_options;
  sampler_options.dataset_size = train.size();
  sampler_options.worker_id = o.worker_id;
  sampler_options.num_workers = o.num_workers;
  sampler_options.batch_size = o.batch_size;
  sampler_options.seed = o.seed;
  CDDP_ASSIGN_OR_RETURN(BatchIterator batches,
                        BatchIterator::Create(train, sampler_options));
  const int64_t per_epoch = batches.sampler().batches_per_epoch();
  // The data position follows the servers' step, so every worker reads the
  // batch of the round it pushes, also after a restart.
  auto seek = [&](uint64_t s) {
    return batches.Seek({static_cast<int64_t>(s) / per_epoch,
                         static_cast<int64_t>(s) % per_epoch});
  };
  CDDP_RETURN_IF_ERROR(seek(step));
  uint64_t total_steps = static_cast<uint64_t>(o.epochs * per_epoch);
  if (o.max_steps > 0) {
    total_steps = std::min<uint64_t>(total_steps, o.max_steps);
  }
  std::printf(
      "%smodel %s (%zu parameters in %zu tensors), %lld batches/epoch, "
      "steps %llu..%llu, %s, %d threads\n",
      tag.c_str(), o.model.c_str(), n, layout.num_tensors(),
      static_cast<long long>(per_epoch), static_cast<unsigned long long>(step),
      static_cast<unsigned long long>(total_steps),
      o.compress ? absl::StrFormat("ratio %g", o.ratio).c_str()
                 : "no compression",
      threads);

  // Budget k per tensor.
  std::vector<size_t> k_of(layout.num_tensors());
  size_t k_total = 0;
  for (size_t t = 0; t < layout.num_tensors(); ++t) {
    const size_t sz = layout.size(t);
    k_of[t] = (!o.compress || sz < static_cast<size_t>(o.min_compress_numel))
                  ? sz
                  : common::TopKCount(sz, o.ratio);
    k_total += k_of[t];
  }

  TrainResult result;
  common::SparseSelection selection, undelivered;
  const common::StepOptions step_options{common::Selector::kFast,
                                         o.value_type};
  const bool tty = isatty(STDOUT_FILENO);
  auto last_report = Clock::now();
  uint64_t samples_since_report = 0;
  auto save_checkpoint = [&]() -> absl::Status {
    if (o.checkpoint_dir.empty()) return absl::OkStatus();
    return SaveResiduals(o.checkpoint_dir, o.worker_id, step,
                         batches.position(), *ef);
  };
  auto evaluate = [&]() -> absl::Status {
    if (!test.has_value()) return absl::OkStatus();
    CDDP_ASSIGN_OR_RETURN(Evaluation ev, Evaluate(*model, *test, device));
    result.test_accuracy = ev.accuracy;
    result.test_loss = ev.loss;
    if (metrics) {
      metrics->test_accuracy->Set(ev.accuracy);
      metrics->test_loss->Set(ev.loss);
    }
    std::printf("%s%sEVAL step=%llu test_loss=%.4f test_accuracy=%.4f\n",
                tty ? "\n" : "", tag.c_str(),
                static_cast<unsigned long long>(step), ev.loss, ev.accuracy);
    std::fflush(stdout);
    return absl::OkStatus();
  };

  while (step < total_steps && !stop_.load()) {
    std::array<double, kNumPhases> phase{};
    auto t0 = Clock::now();
    auto lap = [&](Phase p) {
      const auto now = Clock::now();
      phase[static_cast<int>(p)] += Seconds(now - t0);
      t0 = now;
    };
    CDDP_ASSIGN_OR_RETURN(Batch batch, batches.Next());
    lap(Phase::kData);
    double loss_value = 0;
    try {
      model->zero_grad();
      torch::Tensor logits = model->forward(batch.images.to(device));
      torch::Tensor loss = torch::nn::functional::cross_entropy(
          logits, batch.labels.to(device));
      lap(Phase::kForward);
      loss.backward();
      loss_value = loss.item<double>();
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("training step ", step, ": ", e.what_without_backtrace()));
    }
    CDDP_ASSIGN_OR_RETURN(std::span<const float* const> grads,
                          buffers.Gradients(params));
    lap(Phase::kBackward);
    if (absl::Status s = ef->Step(grads, k_of, step_options, &selection);
        !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("step ", step, ", ", s.message()));
    }
    lap(Phase::kCompress);
    CDDP_RETURN_IF_ERROR(buffers.WaitForDevice());  // before `flat` changes
    // Each shard is pushed at its own step; `step` is the job's, the
    // largest of them (a shard restarted from an older checkpoint lags
    // behind by a fixed number of rounds and is pushed at its step).
    absl::StatusOr<ShardClient::PushPullResult> pushed =
        client->PushPull(selection, flat, &undelivered);
    lap(Phase::kPushPull);
    if (!pushed.ok()) {
      // Nothing is lost: what did not reach a shard goes back into the
      // residual; then re-join (which pulls) and carry on from the servers'
      // step.
      CDDP_RETURN_IF_ERROR(ef->Restore(undelivered));
      std::printf("%s%spush for step %llu failed (%s); resynchronising\n",
                  tty ? "\n" : "", tag.c_str(),
                  static_cast<unsigned long long>(step),
                  std::string(pushed.status().message()).c_str());
      if (metrics) metrics->resyncs->Increment();
      CDDP_ASSIGN_OR_RETURN(step, join());
      CDDP_RETURN_IF_ERROR(seek(step));
      continue;
    }
    step = pushed->step;
    CDDP_RETURN_IF_ERROR(layout.ScatterParameters(flat, params));
    lap(Phase::kApply);
    if (pushed->step != static_cast<uint64_t>(batches.position().epoch) *
                            per_epoch + batches.position().batch) {
      CDDP_RETURN_IF_ERROR(seek(step));  // the servers moved on without us
    }

    const uint64_t dense_bytes = uint64_t{n} * sizeof(float);
    result.uplink_wire_bytes += pushed->bytes_sent;
    result.uplink_dense_bytes += dense_bytes;
    result.downlink_bytes += pushed->bytes_received;
    result.final_loss = loss_value;
    samples_since_report += batch.labels.size(0);
    if (metrics) {
      for (int p = 0; p < kNumPhases; ++p) {
        metrics->phase_seconds[p]->Observe(phase[p]);
      }
      metrics->steps->Increment();
      metrics->step->Set(static_cast<double>(step));
      metrics->loss->Set(loss_value);
      metrics->selected_fraction->Set(static_cast<double>(k_total) / n);
      metrics->uplink_wire_bytes->Increment(pushed->bytes_sent);
      metrics->uplink_dense_bytes->Increment(dense_bytes);
      if (step % 10 == 0) {
        CDDP_ASSIGN_OR_RETURN(const double norm, ef->ResidualNorm());
        metrics->residual_norm->Set(norm);
      }
    }
    const bool report_now = tty || step % o.progress_every == 0 ||
                            step == total_steps;
    if (report_now) {
      const double dt = Seconds(Clock::now() - last_report);
      std::printf(
          "%s%sepoch %lld step %llu/%llu  %.0f samples/s  loss %.4f  "
          "sent %.2f MB vs dense %.2f MB (%.2f%%)%s",
          tty ? "\r" : "", tag.c_str(),
          static_cast<long long>(batches.position().epoch),
          static_cast<unsigned long long>(step),
          static_cast<unsigned long long>(total_steps),
          dt > 0 ? samples_since_report / dt : 0.0, loss_value,
          result.uplink_wire_bytes / 1e6, result.uplink_dense_bytes / 1e6,
          100.0 * result.uplink_wire_bytes /
              std::max<uint64_t>(1, result.uplink_dense_bytes),
          tty ? "" : "\n");
      std::fflush(stdout);
      last_report = Clock::now();
      samples_since_report = 0;
    }
    if (o.eval_every > 0 && step % o.eval_every == 0 && step < total_steps) {
      CDDP_RETURN_IF_ERROR(evaluate());
    }
    if (step % o.checkpoint_every == 0) CDDP_RETURN_IF_ERROR(save_checkpoint());
  }
  if (tty) std::printf("\n");
  result.stopped_early = stop_.load() && step < total_steps;
  CDDP_RETURN_IF_ERROR(save_checkpoint());
  if (!result.stopped_early) CDDP_RETURN_IF_ERROR(evaluate());

  // The servers hold the authority: check that we hold exactly their bits.
  std::vector<float> servers(n);
  CDDP_ASSIGN_OR_RETURN(uint64_t server_step, client->Pull(servers));
  (void)server_step;
  result.params_match_servers =
      std::memcmp(servers.data(), flat.data(), n * sizeof(float)) == 0;
  result.params_crc32 = Crc32(flat);
  result.steps = step;
  result.seconds = Seconds(Clock::now() - t_start);
  if (metrics) {
    CDDP_ASSIGN_OR_RETURN(const double norm, ef->ResidualNorm());
    metrics->residual_norm->Set(norm);
  }
  return result;
}

}  // namespace cddp::worker
