// Implementation of cddp/cddp.h (ParameterSync) and
// parameter_sync_internal.h. A LibTorch unit: it holds the parameters as one
// flat vector (FlatParameters), the gradient pipeline (compression, DGC,
// checkpoints; no LibTorch) and the connection to the servers.
#include <torch/nn/module.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "cddp/cddp.h"
#include "common/compress/sparse.h"
#include "common/crc32.h"
#include "common/seconds.h"
#include "common/status_macros.h"
#include "worker/api/backward_overlap.h"
#include "worker/api/parameter_sync_internal.h"
#include "worker/client/shard_client.h"
#include "worker/gradient_pipeline.h"
#include "worker/torch/flat_layout.h"
#include "worker/torch/torch_error.h"
#include "worker/worker_result.h"

namespace cddp {
namespace {

using Clock = std::chrono::steady_clock;

// The trainable parameters (frozen ones are left alone), checked to be one
// tensor each and on one kind of device. INVALID_ARGUMENT naming the
// parameter otherwise.
absl::StatusOr<std::vector<NamedTensor>> Trainable(
    std::vector<NamedTensor> parameters, bool* cuda) {
  std::vector<NamedTensor> kept;
  absl::flat_hash_map<const void*, std::string> seen;
  for (size_t t = 0; t < parameters.size(); ++t) {
    NamedTensor& p = parameters[t];
    if (p.name.empty()) p.name = absl::StrCat("#", t);
    if (!p.tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", p.name, " is undefined"));
    }
    if (!p.tensor.requires_grad()) continue;
    const auto [at, fresh] =
        seen.emplace(p.tensor.unsafeGetTensorImpl(), p.name);
    if (!fresh) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", p.name, " is the same tensor as ",
                       at->second, " (list each parameter once)"));
    }
    kept.push_back(std::move(p));
  }
  if (kept.empty()) {
    return absl::InvalidArgumentError(
        "no trainable parameters (none has requires_grad)");
  }
  *cuda = kept[0].tensor.is_cuda();
  for (const NamedTensor& p : kept) {
    if (p.tensor.is_cuda() != *cuda ||
        !(p.tensor.is_cuda() || p.tensor.is_cpu())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter ", p.name, " is on ", p.tensor.device().str(), " but ",
          kept[0].name, " is on ", kept[0].tensor.device().str(),
          " (all parameters on the CPU, or all on one CUDA device)"));
    }
  }
  return kept;
}

}  // namespace

namespace internal {

struct SyncState {
  SyncOptions options;
  const std::atomic<bool>* stop = nullptr;
  std::vector<std::string> names;
  std::vector<at::Tensor> params;
  std::optional<worker::FlatLayout> layout;
  std::optional<worker::FlatParameters> flat;
  std::vector<uint64_t> tensor_sizes;
  std::unique_ptr<worker::ParameterClient> client;
  std::unique_ptr<worker::GradientPipeline> pipeline;
  std::unique_ptr<worker::WorkerMetrics> metrics;
  // With --overlap_backward; destroyed before the client and pipeline.
  std::unique_ptr<worker::BackwardOverlap> overlap;
  uint64_t step = 0;
  common::SparseSelection selection, undelivered;  // reused every step
  worker::TrainResult totals;                      // for Finish's result file
  Clock::time_point created = Clock::now();
  worker::StepTotals step_totals;  // adds to totals

  bool stopping() const { return stop != nullptr && stop->load(); }
};

class SyncAccess {
 public:
  static std::unique_ptr<ParameterSync> Make(std::unique_ptr<SyncState> s) {
    return std::unique_ptr<ParameterSync>(new ParameterSync(std::move(s)));
  }
  static SyncState& Of(ParameterSync& sync) { return *sync.s_; }
};

absl::StatusOr<std::unique_ptr<ParameterSync>> CreateParameterSync(
    std::vector<NamedTensor> parameters, SyncOptions options,
    worker::ParameterClientFactory factory, const std::atomic<bool>* stop) {
  CDDP_RETURN_IF_ERROR(ValidateSyncOptions(options));
  bool cuda = false;
  CDDP_ASSIGN_OR_RETURN(std::vector<NamedTensor> trainable,
                        Trainable(std::move(parameters), &cuda));
  auto s = std::make_unique<SyncState>();
  s->options = std::move(options);
  s->stop = stop;
  for (NamedTensor& p : trainable) {
    s->names.push_back(std::move(p.name));
    s->params.push_back(std::move(p.tensor));
  }
  CDDP_ASSIGN_OR_RETURN(s->layout,
                        worker::FlatLayout::Create(s->params, s->names));
  // Rebases the parameters onto the flat vector: from here on `layout` must
  // not move, so it lives in the state on the heap.
  absl::StatusOr<worker::FlatParameters> flat =
      worker::FlatParameters::Create(*s->layout, s->params, cuda);
  if (!flat.ok()) return flat.status();
  s->flat.emplace(std::move(*flat));
  s->tensor_sizes.assign(s->layout->sizes().begin(), s->layout->sizes().end());
  CDDP_ASSIGN_OR_RETURN(s->pipeline,
                        worker::GradientPipeline::Create(
                            s->options, cuda, s->layout->sizes(), s->names));
  CDDP_ASSIGN_OR_RETURN(const common::ShardMap shard_map,
                        common::ShardMap::Create(
                            s->layout->total_size(),
                            static_cast<uint32_t>(s->options.servers.size())));
  if (factory == nullptr) factory = worker::ShardClientFactory(s->options);
  CDDP_ASSIGN_OR_RETURN(s->client, factory(shard_map));
  if (s->options.registry != nullptr) {
    s->metrics = std::make_unique<worker::WorkerMetrics>(*s->options.registry,
                                                         s->options.worker_id);
  }
  if (s->options.overlap_backward) {
    CDDP_ASSIGN_OR_RETURN(
        s->overlap, worker::BackwardOverlap::Create(
                        s->params, {&*s->layout, &*s->flat, s->pipeline.get(),
                                    s->client.get(), &s->step}));
  }
  std::unique_ptr<ParameterSync> sync = SyncAccess::Make(std::move(s));
  CDDP_RETURN_IF_ERROR(sync->Resync());
  return sync;
}

worker::WorkerMetrics* MetricsOf(ParameterSync& sync) {
  return SyncAccess::Of(sync).metrics.get();
}

}  // namespace internal

namespace worker {

ParameterClientFactory ShardClientFactory(const SyncOptions& options) {
  ShardClientOptions client;
  client.server_addresses = options.servers;
  client.worker_id = options.worker_id;
  // Validated by ValidateSyncOptions.
  client.value_type = common::ParseValueType(options.value_type).value();
  client.index_encoding =
      common::ParseIndexEncoding(options.index_encoding).value();
  client.registry = options.registry;
  client.applies_momentum = options.dgc_momentum > 0;
  client.tls = {options.tls_cert, options.tls_key, options.tls_ca,
                options.plaintext};
  return [client](const common::ShardMap& shard_map)
             -> absl::StatusOr<std::unique_ptr<ParameterClient>> {
    CDDP_ASSIGN_OR_RETURN(std::unique_ptr<ShardClient> c,
                          ShardClient::Create(shard_map, client));
    return std::unique_ptr<ParameterClient>(std::move(c));
  };
}

}  // namespace worker

absl::StatusOr<std::unique_ptr<ParameterSync>> ParameterSync::Create(
    const torch::nn::Module& module, SyncOptions options) {
  std::vector<NamedTensor> parameters;
  try {
    for (const auto& item : module.named_parameters(/*recurse=*/true)) {
      parameters.push_back({item.key(), item.value()});
    }
  } catch (const c10::Error& e) {
    return worker::TorchError("reading the module's parameters", e);
  }
  return Create(std::move(parameters), std::move(options));
}

absl::StatusOr<std::unique_ptr<ParameterSync>> ParameterSync::Create(
    std::vector<NamedTensor> parameters, SyncOptions options) {
  return internal::CreateParameterSync(std::move(parameters),
                                       std::move(options), nullptr, nullptr);
}

ParameterSync::ParameterSync(std::unique_ptr<internal::SyncState> state)
    : s_(std::move(state)) {}
ParameterSync::~ParameterSync() = default;

uint64_t ParameterSync::step() const { return s_->step; }
size_t ParameterSync::num_parameters() const {
  return s_->layout->total_size();
}
const std::vector<std::string>& ParameterSync::names() const {
  return s_->names;
}
bool ParameterSync::on_cuda() const { return s_->params[0].is_cuda(); }
std::optional<uint64_t> ParameterSync::resumed_from() const {
  return s_->pipeline->resumed_from();
}
void ParameterSync::set_stop_flag(const std::atomic<bool>* stop) {
  s_->stop = stop;
}

absl::Status ParameterSync::Resync() {
  internal::SyncState& s = *s_;
  const auto deadline =
      Clock::now() + absl::ToChronoMilliseconds(s.options.reconnect_timeout);
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
  // Pushes whose calls broke are settled now: what their shards did not
  // count goes back into the residual, what they counted does not.
  s.undelivered.clear();
  s.client->TakeUncounted(&s.undelivered);
  return s.pipeline->ReturnUnsent(s.undelivered);
}

absl::StatusOr<StepStats> ParameterSync::Step() {
  internal::SyncState& s = *s_;
  StepStats r;
  r.pushed_step = s.step;
  auto t0 = Clock::now();
  absl::StatusOr<worker::PushPullResult> pushed;
  // A compression error after the overlapped round's pushes began: the
  // round is finished first, then the error returned.
  absl::Status compress_error;
  const auto done = [&](StepStats stats) -> absl::StatusOr<StepStats> {
    if (compress_error.ok()) return stats;
    return absl::Status(compress_error.code(),
                        absl::StrCat("step ", stats.pushed_step, ", ",
                                     compress_error.message()));
  };
  if (s.overlap != nullptr) {
    pushed =
        s.overlap->Finish(&s.undelivered, &compress_error, &r.compress_seconds);
    CDDP_RETURN_IF_ERROR(s.flat->CheckIntact());
  } else {
    CDDP_RETURN_IF_ERROR(s.flat->CheckIntact());
    CDDP_ASSIGN_OR_RETURN(std::span<const float* const> grads,
                          s.flat->Gradients());
    if (absl::Status st = s.pipeline->Compress(grads, s.step, &s.selection);
        !st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat("step ", s.step, ", ", st.message()));
    }
    r.compress_seconds = common::Seconds(Clock::now() - t0);
    t0 = Clock::now();
    CDDP_RETURN_IF_ERROR(s.flat->WaitForDevice());  // before values change
    // Each shard is pushed at its own step (a shard restarted from an older
    // checkpoint lags behind by a fixed number of rounds).
    pushed = s.client->PushPull(s.selection, s.flat->values(), &s.undelivered);
  }
  r.density = s.pipeline->density();
  r.push_pull_seconds = common::Seconds(Clock::now() - t0);
  if (!pushed.ok()) {
    // Nothing is lost or counted twice: what certainly did not reach a
    // shard goes back into the residual now, what may have is settled by
    // the Join of the resync, which takes the servers' values again.
    CDDP_RETURN_IF_ERROR(s.pipeline->ReturnUnsent(s.undelivered));
    if (s.metrics) s.metrics->resyncs->Increment();
    r.push_status = pushed.status();
    CDDP_RETURN_IF_ERROR(Resync());
    r.step = s.step;
    return done(r);
  }
  // Shards held back while another catches up: their pairs wait in the
  // residual.
  if (s.undelivered.size() > 0) {
    CDDP_RETURN_IF_ERROR(s.pipeline->ReturnUnsent(s.undelivered));
  }
  t0 = Clock::now();
  s.step = pushed->step;
  CDDP_RETURN_IF_ERROR(s.flat->Publish());
  r.apply_seconds = common::Seconds(Clock::now() - t0);
  r.step = s.step;
  r.bytes_sent = pushed->bytes_sent;
  r.bytes_received = pushed->bytes_received;
  r.dense_bytes = uint64_t{s.layout->total_size()} * sizeof(float);
  s.step_totals.Count(r.bytes_sent, r.dense_bytes, r.bytes_received, &s.totals);
  if (worker::WorkerMetrics* m = s.metrics.get()) {
    using worker::Phase;
    m->phase_seconds[static_cast<int>(Phase::kCompress)]->Observe(
        r.compress_seconds);
    m->phase_seconds[static_cast<int>(Phase::kPushPull)]->Observe(
        r.push_pull_seconds);
    m->phase_seconds[static_cast<int>(Phase::kApply)]->Observe(r.apply_seconds);
    m->steps->Increment();
    m->step->Set(static_cast<double>(r.step));
    m->selected_fraction->Set(r.density);
    m->uplink_wire_bytes->Increment(static_cast<double>(r.bytes_sent));
    m->uplink_dense_bytes->Increment(static_cast<double>(r.dense_bytes));
    if (r.step % 10 == 0) {
      // Off the hot path: a pass over the residual (a device sync on CUDA).
      absl::StatusOr<double> norm = s.pipeline->ResidualNorm();
      if (norm.ok()) m->residual_norm->Set(*norm);
    }
  }
  return done(r);
}

absl::Status ParameterSync::SaveCheckpoint(int64_t epoch, int64_t batch) {
  return s_->pipeline->SaveCheckpoint(s_->step, {epoch, batch});
}

absl::StatusOr<bool> ParameterSync::MatchesServers(uint32_t* crc32) {
  internal::SyncState& s = *s_;
  // What the model computes with, read back from its parameters (on CUDA
  // from the device), against a fresh pull.
  std::vector<float> ours(s.layout->total_size());
  CDDP_RETURN_IF_ERROR(s.flat->WaitForDevice());
  CDDP_RETURN_IF_ERROR(s.layout->GatherParameters(s.params, ours));
  std::vector<float> servers(ours.size());
  CDDP_RETURN_IF_ERROR(s.client->Pull(servers).status());
  s.totals.shards_at_one_step = s.client->ShardsAtOneStep();
  if (crc32 != nullptr) {
    *crc32 = common::Crc32(std::as_bytes(std::span<const float>(ours)));
  }
  if (s.metrics) {
    CDDP_ASSIGN_OR_RETURN(const double norm, s.pipeline->ResidualNorm());
    s.metrics->residual_norm->Set(norm);
  }
  return std::memcmp(servers.data(), ours.data(),
                     ours.size() * sizeof(float)) == 0;
}

bool ParameterSync::shards_at_one_step() const {
  return s_->totals.shards_at_one_step;
}

absl::StatusOr<bool> ParameterSync::Finish(double test_accuracy,
                                           double final_loss) {
  internal::SyncState& s = *s_;
  worker::TrainResult& r = s.totals;
  CDDP_ASSIGN_OR_RETURN(r.params_match_servers,
                        MatchesServers(&r.params_crc32));
  if (s.options.result_file.empty()) return r.params_match_servers;
  r.steps = s.step;
  r.test_accuracy = test_accuracy;
  r.final_loss = final_loss;
  r.seconds = common::Seconds(Clock::now() - s.created);
  CDDP_RETURN_IF_ERROR(
      worker::WriteWorkerResult(s.options.result_file, s.options.worker_id, r));
  return r.params_match_servers;
}

}  // namespace cddp
