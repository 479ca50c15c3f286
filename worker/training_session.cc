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
#include "cddp/cddp.h"
#include "common/seconds.h"
#include "common/status_macros.h"
#include "worker/api/parameter_sync_internal.h"
#include "worker/device_choice.h"
#include "worker/torch/dataset.h"
#include "worker/torch/models.h"
#include "worker/torch/torch_error.h"

namespace cddp::worker {
namespace {

using Clock = std::chrono::steady_clock;

// Test images per forward pass. Measured with this model on this LibTorch
// (one thread, BENCHMARKS.md §4): 1000 at a time took 2-6x as long as 64 at
// a time (the convolutions' buffers stop fitting in the caches).
constexpr int64_t kEvalBatch = 64;

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
  std::unique_ptr<ParameterSync> sync;
  WorkerMetrics* metrics = nullptr;  // the sync's; null without a registry
  uint64_t total_steps = 0;
};

TrainingSession::TrainingSession(std::unique_ptr<State> state)
    : s_(std::move(state)) {}
TrainingSession::~TrainingSession() = default;

const SessionInfo& TrainingSession::info() const { return s_->info; }
uint64_t TrainingSession::step() const { return s_->sync->step(); }
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
  CDDP_RETURN_IF_ERROR(session->Initialise(std::move(factory)));
  return session;
}

absl::Status TrainingSession::Initialise(ParameterClientFactory factory) {
  State& s = *s_;
  const TrainerOptions& o = s.options;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  s.info.threads =
      o.threads > 0 ? o.threads
                    : std::max(1, cores / static_cast<int>(o.sync.num_workers));
  at::set_num_threads(s.info.threads);
  torch::manual_seed(o.seed * 1000 + o.sync.worker_id);  // dropout masks
  s.info.cuda = s.device_choice.cuda;
  s.info.device_reason = s.device_choice.reason;
  s.device = torch::Device(s.info.cuda ? torch::kCUDA : torch::kCPU);

  CDDP_RETURN_IF_ERROR(LoadData());
  CDDP_RETURN_IF_ERROR(BuildModel());
  std::vector<NamedTensor> parameters;
  const std::vector<std::string> names = s.model->parameter_names();
  const std::vector<torch::Tensor> tensors = s.model->parameters();
  for (size_t t = 0; t < tensors.size(); ++t) {
    parameters.push_back({names[t], tensors[t]});
  }
  CDDP_ASSIGN_OR_RETURN(
      s.sync, internal::CreateParameterSync(std::move(parameters), o.sync,
                                            std::move(factory), s.stop));
  s.metrics = internal::MetricsOf(*s.sync);
  s.info.num_parameters = s.sync->num_parameters();
  s.info.num_tensors = s.sync->names().size();
  s.info.resumed_from = s.sync->resumed_from();
  CDDP_RETURN_IF_ERROR(SeekData());
  s.info.first_step = s.sync->step();
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
  if (o.sync.worker_id == 0) {
    DatasetOptions test_options = data_options;
    test_options.limit = o.eval_limit;
    CDDP_ASSIGN_OR_RETURN(s.test, Dataset::Load(o.dataset, o.data_dir,
                                                Split::kTest, test_options));
  }
  WorkerSamplerOptions sampler;
  sampler.worker_id = o.sync.worker_id;
  sampler.num_workers = o.sync.num_workers;
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
  return absl::OkStatus();
}

absl::Status TrainingSession::Resync() {
  CDDP_RETURN_IF_ERROR(s_->sync->Resync());
  return SeekData();
}

// The data position follows the servers' step, so every worker reads the
// batch of the round it pushes, also after a restart.
absl::Status TrainingSession::SeekData() {
  const int64_t per_epoch = s_->info.batches_per_epoch;
  const int64_t step = static_cast<int64_t>(s_->sync->step());
  return s_->batches->Seek({step / per_epoch, step % per_epoch});
}

absl::StatusOr<StepReport> TrainingSession::RunStep() {
  State& s = *s_;
  StepReport r;
  r.pushed_step = s.sync->step();
  CDDP_RETURN_IF_ERROR(TrainOnBatch(&r));
  CDDP_ASSIGN_OR_RETURN(const StepStats sent, s.sync->Step());
  r.push_status = sent.push_status;
  r.step = sent.step;
  r.density = sent.density;
  r.bytes_sent = sent.bytes_sent;
  r.dense_bytes = sent.dense_bytes;
  r.bytes_received = sent.bytes_received;
  r.phase_seconds[static_cast<int>(Phase::kCompress)] = sent.compress_seconds;
  r.phase_seconds[static_cast<int>(Phase::kPushPull)] = sent.push_pull_seconds;
  r.phase_seconds[static_cast<int>(Phase::kApply)] = sent.apply_seconds;
  const DataPosition next = s.batches->position();
  if (r.step != static_cast<uint64_t>(next.epoch * s.info.batches_per_epoch +
                                      next.batch)) {
    // The servers moved on without us (or a failed push rejoined them).
    CDDP_RETURN_IF_ERROR(SeekData());
  }
  if (r.push_status.ok()) RecordMetrics(r);
  return r;
}

// Data, forward and backward of one step, into `r`.
absl::Status TrainingSession::TrainOnBatch(StepReport* r) {
  State& s = *s_;
  auto t0 = Clock::now();
  auto lap = [&](Phase p) {
    const auto now = Clock::now();
    r->phase_seconds[static_cast<int>(p)] += common::Seconds(now - t0);
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
    return TorchError(absl::StrCat("training step ", s.sync->step()), e);
  }
  lap(Phase::kBackward);
  return absl::OkStatus();
}

// What ParameterSync does not record itself: the training phases and loss.
void TrainingSession::RecordMetrics(const StepReport& r) {
  WorkerMetrics* m = s_->metrics;
  if (m == nullptr) return;
  for (Phase p : {Phase::kData, Phase::kForward, Phase::kBackward}) {
    m->phase_seconds[static_cast<int>(p)]->Observe(
        r.phase_seconds[static_cast<int>(p)]);
  }
  m->loss->Set(r.loss);
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
  if (s.metrics != nullptr) {
    s.metrics->test_accuracy->Set(ev.accuracy);
    s.metrics->test_loss->Set(ev.loss);
  }
  return ev;
}

absl::Status TrainingSession::SaveCheckpoint() {
  const DataPosition at = s_->batches->position();
  return s_->sync->SaveCheckpoint(at.epoch, at.batch);
}

absl::StatusOr<ServerCheck> TrainingSession::CheckAgainstServers() {
  ServerCheck check;
  CDDP_ASSIGN_OR_RETURN(check.params_match_servers,
                        s_->sync->MatchesServers(&check.params_crc32));
  check.shards_at_one_step = s_->sync->shards_at_one_step();
  return check;
}

}  // namespace cddp::worker
