// cddp-worker: parses flags into TrainerOptions and runs the training loop.
// See worker/trainer.h. cddp-launch starts these for a local cluster.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "common/metrics_http_server.h"
#include "worker/trainer.h"

ABSL_FLAG(std::string, model, "simple_cnn",
          "simple_cnn (28x28 images) | resnet18 | resnet50 (32x32x3)");
ABSL_FLAG(std::string, dataset, "mnist", "mnist | fashion-mnist | cifar10");
ABSL_FLAG(std::string, data_dir, "data",
          "directory with the dataset files (or a <dataset>/ folder in it)");
ABSL_FLAG(int, epochs, 1, "passes over this worker's share of the data");
ABSL_FLAG(int64_t, batch_size, 64, "examples per step on this worker");
ABSL_FLAG(bool, compress, true,
          "error-feedback Top-K compression (--nocompress: send everything)");
ABSL_FLAG(double, ratio, 0.01, "fraction of each tensor sent per step");
ABSL_FLAG(int64_t, min_compress_numel, 1000,
          "tensors with fewer elements are sent whole");
ABSL_FLAG(std::string, value_type, "fp32", "wire values: fp32 | fp16 | bf16");
ABSL_FLAG(std::string, index_encoding, "delta",
          "wire indices: delta (delta-varint) | absolute (uint32)");
ABSL_FLAG(std::string, servers, "",
          "comma-separated host:port of the parameter servers, shard order");
ABSL_FLAG(uint32_t, worker_id, 0, "this worker's id, 0..num_workers-1");
ABSL_FLAG(uint32_t, num_workers, 1, "workers in the job");
ABSL_FLAG(uint64_t, seed, 1, "seed of the model init and the data order");
ABSL_FLAG(int64_t, eval_every, 0,
          "worker 0 evaluates on the test set every N steps (0: at the end)");
ABSL_FLAG(int64_t, eval_limit, 0, "evaluate on the first N test examples");
ABSL_FLAG(int64_t, train_limit, 0, "train on the first N examples (0: all)");
ABSL_FLAG(int64_t, max_steps, 0, "stop after N steps (0: --epochs decides)");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "where to keep this worker's checkpoint (empty: none)");
ABSL_FLAG(int64_t, checkpoint_every, 100, "steps between checkpoints");
ABSL_FLAG(int, threads, 0, "LibTorch threads (0: cores / num_workers)");
ABSL_FLAG(std::string, device, "auto",
          "cpu | cuda | auto: where the model trains and the gradients are "
          "compressed. cuda: the model, the batches and the residuals on the "
          "current CUDA device (pick one per worker with "
          "CUDA_VISIBLE_DEVICES); only the selected pairs come to the host. "
          "It needs a build with -DCDDP_WITH_CUDA=ON against a LibTorch with "
          "CUDA (Debian's is CPU-only) and a visible device; without them "
          "--device cuda fails saying which is missing. auto: cuda when all "
          "of that is there, else cpu (the start-up line says which and "
          "why)");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port for Prometheus /metrics (empty: no metrics endpoint)");
ABSL_FLAG(int64_t, progress_every, 20,
          "steps between progress lines when stdout is not a terminal");
ABSL_FLAG(int, reconnect_timeout_s, 120,
          "how long to keep re-joining unreachable servers before failing");

namespace {

int Usage(const std::string& msg) {
  std::fprintf(stderr, "cddp-worker: %s (see --help)\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Training worker of compressed-ddp: trains a model on its share of the "
      "data\nand exchanges compressed gradients with the parameter servers.\n"
      "Usage: cddp-worker --servers=h:p[,h:p...] --worker_id=I "
      "--num_workers=W [flags]");
  absl::ParseCommandLine(argc, argv);
  cddp::worker::TrainerOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.dataset = absl::GetFlag(FLAGS_dataset);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.epochs = absl::GetFlag(FLAGS_epochs);
  o.batch_size = absl::GetFlag(FLAGS_batch_size);
  o.compress = absl::GetFlag(FLAGS_compress);
  o.ratio = absl::GetFlag(FLAGS_ratio);
  o.min_compress_numel = absl::GetFlag(FLAGS_min_compress_numel);
  const auto vt = cddp::common::ParseValueType(absl::GetFlag(FLAGS_value_type));
  if (!vt.ok()) return Usage("--value_type: " + std::string(vt.status().message()));
  o.value_type = *vt;
  const auto ie =
      cddp::common::ParseIndexEncoding(absl::GetFlag(FLAGS_index_encoding));
  if (!ie.ok()) {
    return Usage("--index_encoding: " + std::string(ie.status().message()));
  }
  o.index_encoding = *ie;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_servers), ',', absl::SkipEmpty())) {
    o.servers.emplace_back(s);
  }
  if (o.servers.empty()) return Usage("--servers is required");
  o.worker_id = absl::GetFlag(FLAGS_worker_id);
  o.num_workers = absl::GetFlag(FLAGS_num_workers);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.eval_every = absl::GetFlag(FLAGS_eval_every);
  o.eval_limit = absl::GetFlag(FLAGS_eval_limit);
  o.train_limit = absl::GetFlag(FLAGS_train_limit);
  o.max_steps = absl::GetFlag(FLAGS_max_steps);
  o.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  o.checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  o.threads = absl::GetFlag(FLAGS_threads);
  const auto device =
      cddp::worker::ParseDeviceRequest(absl::GetFlag(FLAGS_device));
  if (!device.ok()) {
    return Usage("--device: " + std::string(device.status().message()));
  }
  o.device = *device;
  o.progress_every = std::max<int64_t>(1, absl::GetFlag(FLAGS_progress_every));
  o.reconnect_timeout = absl::Seconds(absl::GetFlag(FLAGS_reconnect_timeout_s));

  // Signals go to a watcher thread that asks the trainer to stop after the
  // current step (it then checkpoints and exits).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<cddp::common::MetricsHttpServer> exposer;
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (!metrics_listen.empty()) {
    auto started = cddp::common::MetricsHttpServer::Start(metrics_listen, registry);
    if (!started.ok()) {
      std::fprintf(stderr, "cddp-worker: %s\n",
                   std::string(started.status().message()).c_str());
      return 1;
    }
    exposer = std::move(*started);
    o.registry = registry.get();
  }

  auto trainer = cddp::worker::Trainer::Create(o);
  if (!trainer.ok()) {
    if (absl::IsInvalidArgument(trainer.status())) {
      return Usage(std::string(trainer.status().message()));
    }
    // Not a flag error: e.g. --device cuda on a machine or build without it.
    std::fprintf(stderr, "cddp-worker: %s\n",
                 std::string(trainer.status().message()).c_str());
    return 1;
  }
  cddp::worker::Trainer* t = trainer->get();
  std::thread([signals, t]() mutable {
    int sig = 0;
    if (sigwait(&signals, &sig) == 0) {
      std::fprintf(stderr, "cddp-worker: signal %d, stopping after this step\n",
                   sig);
      t->RequestStop();
    }
  }).detach();

  absl::StatusOr<cddp::worker::TrainResult> r = t->Run();
  if (!r.ok()) {
    std::fprintf(stderr, "cddp-worker %u: %s\n", o.worker_id,
                 r.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "RESULT worker=%u steps=%llu test_accuracy=%.4f test_loss=%.4f "
      "final_loss=%.4f uplink_wire_bytes=%llu uplink_dense_bytes=%llu "
      "downlink_bytes=%llu seconds=%.1f params_match_servers=%d "
      "params_crc32=%08x stopped_early=%d\n",
      o.worker_id, static_cast<unsigned long long>(r->steps), r->test_accuracy,
      r->test_loss, r->final_loss,
      static_cast<unsigned long long>(r->uplink_wire_bytes),
      static_cast<unsigned long long>(r->uplink_dense_bytes),
      static_cast<unsigned long long>(r->downlink_bytes), r->seconds,
      r->params_match_servers ? 1 : 0, r->params_crc32,
      r->stopped_early ? 1 : 0);
  std::fflush(stdout);
  if (!r->params_match_servers) {
    std::fprintf(stderr,
                 "cddp-worker %u: final parameters differ from the servers'\n",
                 o.worker_id);
    return 3;
  }
  return 0;
}
