// Implementation of training_session.h. With worker/torch/, this is one of
// the few LibTorch translation units: keep it that way.
#include "worker/training_session.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/compress/topk.h"
#include "common/crc32.h"
#include "common/status_macros.h"
#include "worker/client/shard_client.h"
#include "worker/dgc.h"
#include "worker/gradient_compressor.h"
#include "worker/torch/dataset.h"
#include "worker/torch/flat_layout.h"
#include "worker/torch/models.h"
#include "worker/torch/torch_error.h"
#include "worker/worker_checkpoint.h"

namespace cddp::worker {
namespace {

using Clock = std::chrono::steady_clock;

// Test images per forward pass. Measured with this model on this LibTorch
// (one thread, BENCHMARKS.md §4): 1000 at a time took 2-6x as long as 64 at
// a time (the convolutions' buffers stop fitting in the caches).
constexpr int64_t kEvalBatch = 64;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// What LibTorch and the kernels offer for CUDA (probed only when wanted:
// it initialises the CUDA runtime).
CudaSupport ProbeCudaSupport() {
  CudaSupport s = ProbeKernelCudaSupport();
  s.torch_has_cuda = CDDP_TORCH_HAS_CUDA;  // worker/torch/CMakeLists.txt
  try {
    s.torch_sees_device = s.torch_has_cuda && torch::cuda::is_available();
  } catch (const c10::Error&) {
    s.torch_sees_device = false;
  }
  return s;
}

}  // namespace

absl::StatusOr<DeviceChoice> ChooseTrainingDevice(DeviceRequest request) {
  const CudaSupport support =
      request == DeviceRequest::kCpu ? CudaSupport{} : ProbeCudaSupport();
  return ChooseDevice(request, support);
}

ParameterClientFactory ShardClientFactory(const TrainerOptions& options) {
  ShardClientOptions client;
  client.server_addresses = options.servers;
  client.worker_id = options.worker_id;
  client.value_type = options.value_type;
  client.index_encoding = options.index_encoding;
  client.registry = options.registry;
  client.applies_momentum = options.dgc.momentum > 0;
  return [client](const common::ShardMap& shard_map)
             -> absl::StatusOr<std::unique_ptr<ParameterClient>> {
    CDDP_ASSIGN_OR_RETURN(std::unique_ptr<ShardClient> c,
                          ShardClient::Create(shard_map, client));
    return std::unique_ptr<ParameterClient>(std::move(c));
  };
}

struct TrainingSession::State {
  TrainerOptions options;
  DeviceChoice device_choice;
  const std::atomic<bool>* stop = nullptr;
  torch::Device device{torch::kCPU};
  SessionInfo info;

  std::optional<Dataset> train;
  std::optional<Dataset> test;  // worker 0 only
  std::optional<BatchIterator> batches;
  std::shared_ptr<Classifier> model;
  std::vector<at::Tensor> params;
  std::optional<FlatLayout> layout;
  std::optional<FlatParameters> flat;
  std::vector<uint64_t> tensor_sizes;

  std::unique_ptr<ParameterClient> client;
  std::unique_ptr<GradientCompressor> compressor;
  // DGC's momentum correction and clipping (dgc.h), when asked for.
  std::optional<MomentumCorrection> dgc;
  std::vector<const float*> corrected;  // what dgc hands the compressor
  DensitySchedule schedule;
  double density = 0;  // the density k_of was computed for
  std::unique_ptr<WorkerMetrics> metrics;

  uint64_t step = 0;
  uint64_t total_steps = 0;
  std::vector<size_t> k_of;  // Top-K budget per tensor, at `density`
  size_t k_total = 0;
  common::SparseSelection selection, undelivered;  // reused every step

  bool stopping() const { return stop != nullptr && stop->load(); }
};

TrainingSession::TrainingSession(std::unique_ptr<State> state)
    : s_(std::move(state)) {}
TrainingSession::~TrainingSession() = default;

const SessionInfo& TrainingSession::info() const { return s_->info; }
uint64_t TrainingSession::step() const { return s_->step; }
uint64_t TrainingSession::total_steps() const { return s_->total_steps; }
bool TrainingSession::has_test_set() const { return s_->test.has_value(); }

absl::StatusOr<std::unique_ptr<TrainingSession>> TrainingSession::Create(
    const TrainerOptions& options, const DeviceChoice& device,
    ParameterClientFactory factory, const std::atomic<bool>* stop) {
  CDDP_RETURN_IF_ERROR(ValidateTrainerOptions(options));
  auto state = std::make_unique<State>();
  state->device_choice = device;
  state->options = options;
  state->stop = stop;
  std::unique_ptr<TrainingSession> session(
      new TrainingSession(std::move(state)));
  CDDP_RETURN_IF_ERROR(session->Initialise(
      factory ? std::move(factory) : ShardClientFactory(options)));
  return session;
}

absl::Status TrainingSession::Initialise(ParameterClientFactory factory) {
  State& s = *s_;
  const TrainerOptions& o = s.options;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  s.info.threads = o.threads > 0
                       ? o.threads
                       : std::max(1, cores / static_cast<int>(o.num_workers));
  at::set_num_threads(s.info.threads);
  torch::manual_seed(o.seed * 1000 + o.worker_id);  // dropout masks
  s.info.cuda = s.device_choice.cuda;
  s.info.device_reason = s.device_choice.reason;
  s.device = torch::Device(s.info.cuda ? torch::kCUDA : torch::kCPU);

  CDDP_RETURN_IF_ERROR(LoadData());
  CDDP_RETURN_IF_ERROR(BuildModel());
  CDDP_ASSIGN_OR_RETURN(
      const common::ShardMap shard_map,
      common::ShardMap::Create(s.layout->total_size(),
                               static_cast<uint32_t>(o.servers.size())));
  CDDP_ASSIGN_OR_RETURN(s.client, factory(shard_map));
  if (o.registry != nullptr) {
    s.metrics = std::make_unique<WorkerMetrics>(*o.registry, o.worker_id);
  }
  CDDP_RETURN_IF_ERROR(BuildCompressor());
  CDDP_RETURN_IF_ERROR(Resync());
  s.info.first_step = s.step;
  return absl::OkStatus();
}

absl::Status TrainingSession::LoadData() {
  State& s = *s_;
  const TrainerOptions& o = s.options;
  DatasetOptions data_options;
  data_options.seed = o.seed;
  data_options.limit = o.train_limit;
  CDDP_ASSIGN_OR_RETURN(s.train, Dataset::Load(o.dataset, o.data_dir,
                                               Split::kTrain, data_options));
  s.info.train_description = s.train->description();
  if (o.worker_id == 0) {
    DatasetOptions test_options = data_options;
    test_options.limit = o.eval_limit;
    CDDP_ASSIGN_OR_RETURN(s.test, Dataset::Load(o.dataset, o.data_dir,
                                                Split::kTest, test_options));
  }
  WorkerSamplerOptions sampler;
  sampler.worker_id = o.worker_id;
  sampler.num_workers = o.num_workers;
  sampler.batch_size = o.batch_size;
  sampler.seed = o.seed;
  CDDP_ASSIGN_OR_RETURN(s.batches, BatchIterator::Create(*s.train, sampler));
  s.info.batches_per_epoch = s.batches->sampler().batches_per_epoch();
  s.total_steps = static_cast<uint64_t>(o.epochs * s.info.batches_per_epoch);
  if (o.max_steps > 0) {
    s.total_steps = std::min<uint64_t>(s.total_steps, o.max_steps);
  }
  s.info.total_steps = s.total_steps;
  return absl::OkStatus();
}

absl::Status TrainingSession::BuildModel() {
  State& s = *s_;
  ModelOptions model_options;
  model_options.num_classes = s.train->num_classes();
  model_options.in_channels = s.train->channels();
  model_options.image_side = s.train->rows();
  model_options.seed = s.options.seed;
  CDDP_ASSIGN_OR_RETURN(s.model, MakeModel(s.options.model, model_options));
  s.model->train();
  try {
    s.model->to(s.device);
  } catch (const c10::Error& e) {
    return TorchError(absl::StrCat("moving the model to ", s.device.str()), e);
  }
  s.params = s.model->parameters();
  CDDP_ASSIGN_OR_RETURN(
      s.layout, FlatLayout::Create(s.params, s.model->parameter_names()));
  absl::StatusOr<FlatParameters> flat =
      FlatParameters::Create(*s.layout, s.params, s.info.cuda);
  if (!flat.ok()) return flat.status();
  s.flat.emplace(std::move(*flat));
  s.info.num_parameters = s.layout->total_size();
  s.info.num_tensors = s.layout->num_tensors();
  s.tensor_sizes.assign(s.layout->sizes().begin(), s.layout->sizes().end());
  s.schedule = DensityScheduleOf(s.options);
  SetDensity(s.schedule.At(0));
  return absl::OkStatus();
}

// Top-K budget per tensor at `density`: small tensors (and everything
// without compression) are sent whole.
void TrainingSession::SetDensity(double density) {
  State& s = *s_;
  s.density = density;
  s.k_of.clear();
  s.k_total = 0;
  for (size_t t = 0; t < s.layout->num_tensors(); ++t) {
    const size_t size = s.layout->size(t);
    const bool whole = !s.options.compress ||
                       size < static_cast<size_t>(s.options.min_compress_numel);
    s.k_of.push_back(whole ? size : common::TopKCount(size, density));
    s.k_total += s.k_of.back();
  }
}

absl::Status TrainingSession::BuildCompressor() {
  State& s = *s_;
  std::vector<std::string> names(s.layout->num_tensors());
  for (size_t t = 0; t < names.size(); ++t) names[t] = s.layout->name(t);
  const DgcOptions& dgc = s.options.dgc;
  if (dgc.momentum > 0 || dgc.clip_norm > 0) {
    if (s.info.cuda) {
      return absl::FailedPreconditionError(
          "--dgc_momentum and --clip_norm run on CPU workers only in this "
          "version (use --device=cpu)");
    }
    s.dgc.emplace(s.layout->sizes(), names, dgc);
  }
  CDDP_ASSIGN_OR_RETURN(
      s.compressor,
      MakeGradientCompressor(s.info.cuda, s.layout->sizes(), std::move(names)));
  if (s.options.checkpoint_dir.empty()) return absl::OkStatus();
  std::vector<float> velocity;
  CDDP_ASSIGN_OR_RETURN(
      s.info.resumed_from,
      ResumeResiduals(s.options.checkpoint_dir, s.options.worker_id,
                      *s.compressor, &velocity));
  // A checkpoint without a velocity (momentum correction was off) starts
  // it at zero; one with a velocity while it is off now drops it.
  if (s.dgc.has_value() && dgc.momentum > 0) {
    if (absl::Status st = s.dgc->LoadVelocity(std::move(velocity)); !st.ok()) {
      return absl::Status(
          st.code(), absl::StrCat(WorkerCheckpointPath(s.options.checkpoint_dir,
                                                       s.options.worker_id),
                                  ": ", st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status TrainingSession::Resync() {
  State& s = *s_;
  const auto deadline =
      Clock::now() + absl::ToChronoSeconds(s.options.reconnect_timeout);
  absl::StatusOr<uint64_t> step;
  while (true) {
    CDDP_RETURN_IF_ERROR(s.flat->WaitForDevice());  // before values change
    step = s.client->Join(s.tensor_sizes, s.flat->values());
    if (step.ok()) break;
    const absl::Status& last = step.status();
    if (absl::IsFailedPrecondition(last) || absl::IsInvalidArgument(last) ||
        Clock::now() >= deadline || s.stopping()) {
      return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  CDDP_RETURN_IF_ERROR(s.flat->Publish());
  s.step = *step;
  return SeekData();
}

// The data position follows the servers' step, so every worker reads the
// batch of the round it pushes, also after a restart.
absl::Status TrainingSession::SeekData() {
  const int64_t per_epoch = s_->info.batches_per_epoch;
  const int64_t step = static_cast<int64_t>(s_->step);
  return s_->batches->Seek({step / per_epoch, step % per_epoch});
}

absl::StatusOr<StepReport> TrainingSession::RunStep() {
  State& s = *s_;
  StepReport r;
  r.pushed_step = s.step;
  CDDP_RETURN_IF_ERROR(TrainOnBatch(&r));
  auto t0 = Clock::now();
  CDDP_RETURN_IF_ERROR(s.flat->WaitForDevice());  // before values change
  // Each shard is pushed at its own step (a shard restarted from an older
  // checkpoint lags behind by a fixed number of rounds).
  absl::StatusOr<PushPullResult> pushed =
      s.client->PushPull(s.selection, s.flat->values(), &s.undelivered);
  r.phase_seconds[static_cast<int>(Phase::kPushPull)] =
      Seconds(Clock::now() - t0);
  if (!pushed.ok()) {
    // Nothing is lost: what did not reach a shard goes back into the
    // residual; the caller resynchronises.
    CDDP_RETURN_IF_ERROR(s.compressor->ReturnUnsent(s.undelivered));
    if (s.metrics) s.metrics->resyncs->Increment();
    r.push_status = pushed.status();
    r.step = s.step;
    return r;
  }
  t0 = Clock::now();
  s.step = pushed->step;
  CDDP_RETURN_IF_ERROR(s.flat->Publish());
  const DataPosition next = s.batches->position();
  if (s.step != static_cast<uint64_t>(next.epoch * s.info.batches_per_epoch +
                                      next.batch)) {
    CDDP_RETURN_IF_ERROR(SeekData());  // the servers moved on without us
  }
  r.phase_seconds[static_cast<int>(Phase::kApply)] = Seconds(Clock::now() - t0);
  r.step = s.step;
  r.bytes_sent = pushed->bytes_sent;
  r.bytes_received = pushed->bytes_received;
  r.dense_bytes = uint64_t{s.layout->total_size()} * sizeof(float);
  RecordMetrics(r);
  return r;
}

// Data, forward, backward and compression of one step, into `r`.
absl::Status TrainingSession::TrainOnBatch(StepReport* r) {
  State& s = *s_;
  auto t0 = Clock::now();
  auto lap = [&](Phase p) {
    const auto now = Clock::now();
    r->phase_seconds[static_cast<int>(p)] += Seconds(now - t0);
    t0 = now;
  };
  DataPosition at;
  CDDP_ASSIGN_OR_RETURN(Batch batch, s.batches->Next(&at));
  r->epoch = at.epoch;
  r->samples = batch.labels.size(0);
  lap(Phase::kData);
  try {
    s.model->zero_grad();
    torch::Tensor logits = s.model->forward(batch.images.to(s.device));
    torch::Tensor loss =
        torch::nn::functional::cross_entropy(logits, batch.labels.to(s.device));
    lap(Phase::kForward);
    loss.backward();
    r->loss = loss.item<double>();
  } catch (const c10::Error& e) {
    return TorchError(absl::StrCat("training step ", s.step), e);
  }
  CDDP_ASSIGN_OR_RETURN(std::span<const float* const> grads,
                        s.flat->Gradients());
  lap(Phase::kBackward);
  if (absl::Status st = Compress(grads); !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("step ", s.step, ", ", st.message()));
  }
  r->density = static_cast<double>(s.k_total) /
               static_cast<double>(s.layout->total_size());
  lap(Phase::kCompress);
  return absl::OkStatus();
}

// The step's budget (the warm-up schedule), DGC's correction when on, then
// error feedback into s.selection.
absl::Status TrainingSession::Compress(
    std::span<const float* const> gradients) {
  State& s = *s_;
  if (const double d = s.schedule.At(s.step); d != s.density) SetDensity(d);
  const common::CompressOptions options{common::Selector::kFast,
                                        s.options.value_type};
  if (!s.dgc.has_value()) {
    return s.compressor->Compress(gradients, s.k_of, options, &s.selection);
  }
  CDDP_RETURN_IF_ERROR(s.dgc->Apply(gradients, &s.corrected));
  CDDP_RETURN_IF_ERROR(
      s.compressor->Compress(s.corrected, s.k_of, options, &s.selection));
  s.dgc->MaskSent(s.selection);
  return absl::OkStatus();
}

void TrainingSession::RecordMetrics(const StepReport& r) {
  WorkerMetrics* m = s_->metrics.get();
  if (m == nullptr) return;
  for (int p = 0; p < kNumPhases; ++p) {
    m->phase_seconds[p]->Observe(r.phase_seconds[p]);
  }
  m->steps->Increment();
  m->step->Set(static_cast<double>(r.step));
  m->loss->Set(r.loss);
  m->selected_fraction->Set(r.density);
  m->uplink_wire_bytes->Increment(static_cast<double>(r.bytes_sent));
  m->uplink_dense_bytes->Increment(static_cast<double>(r.dense_bytes));
  if (r.step % 10 == 0) {
    // Off the hot path: a pass over the residual (a device sync on CUDA).
    absl::StatusOr<double> norm = s_->compressor->ResidualNorm();
    if (norm.ok()) m->residual_norm->Set(*norm);
  }
}

absl::StatusOr<Evaluation> TrainingSession::Evaluate() {
  State& s = *s_;
  if (!s.test.has_value()) {
    return absl::FailedPreconditionError(
        "only worker 0 loads the test set and evaluates");
  }
  torch::NoGradGuard no_grad;
  s.model->eval();
  double loss_sum = 0;
  int64_t correct = 0;
  const Dataset& data = *s.test;
  try {
    for (int64_t begin = 0; begin < data.size(); begin += kEvalBatch) {
      CDDP_ASSIGN_OR_RETURN(
          Batch b,
          data.Slice(begin, std::min(data.size(), begin + kEvalBatch)));
      const torch::Tensor labels = b.labels.to(s.device);
      const torch::Tensor logits = s.model->forward(b.images.to(s.device));
      loss_sum +=
          torch::nn::functional::cross_entropy(
              logits, labels,
              torch::nn::functional::CrossEntropyFuncOptions().reduction(
                  torch::kSum))
              .item<double>();
      correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    }
  } catch (const c10::Error& e) {
    s.model->train();
    return TorchError("evaluation", e);
  }
  s.model->train();
  const double n = static_cast<double>(data.size());
  const Evaluation ev{loss_sum / n, static_cast<double>(correct) / n};
  if (s.metrics) {
    s.metrics->test_accuracy->Set(ev.accuracy);
    s.metrics->test_loss->Set(ev.loss);
  }
  return ev;
}

absl::Status TrainingSession::SaveCheckpoint() {
  if (s_->options.checkpoint_dir.empty()) return absl::OkStatus();
  const bool velocity = s_->dgc.has_value() && s_->options.dgc.momentum > 0;
  return SaveResiduals(
      s_->options.checkpoint_dir, s_->options.worker_id, s_->step,
      s_->batches->position(), *s_->compressor,
      velocity ? s_->dgc->velocity() : std::span<const float>());
}

absl::StatusOr<ServerCheck> TrainingSession::CheckAgainstServers() {
  State& s = *s_;
  // What the model computes with, read back from its parameters (on CUDA
  // from the device), against a fresh pull.
  std::vector<float> ours(s.layout->total_size());
  CDDP_RETURN_IF_ERROR(s.flat->WaitForDevice());
  CDDP_RETURN_IF_ERROR(s.layout->GatherParameters(s.params, ours));
  std::vector<float> servers(ours.size());
  CDDP_RETURN_IF_ERROR(s.client->Pull(servers).status());
  ServerCheck check;
  check.params_match_servers = std::memcmp(servers.data(), ours.data(),
                                           ours.size() * sizeof(float)) == 0;
  check.params_crc32 =
      common::Crc32(std::as_bytes(std::span<const float>(ours)));
  if (s.metrics) {
    CDDP_ASSIGN_OR_RETURN(const double norm, s.compressor->ResidualNorm());
    s.metrics->residual_norm->Set(norm);
  }
  return check;
}

}  // namespace cddp::worker
