// cddp-worker: parses flags (worker/worker_flags.h, common/job_flags.h)
// into TrainerOptions and runs the training loop (worker/trainer.h); at the
// end it prints one summary line and, with --result_file, writes the result
// there. cddp-launch starts these for a local cluster.
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/job_flags.h"
#include "common/metrics_http_server.h"
#include "common/program_flags.h"
#include "common/stop_signals.h"
#include "worker/trainer.h"
#include "worker/worker_flags.h"

namespace {

int Usage(const std::string& msg) {
  std::fprintf(stderr, "cddp-worker: %s (see --help)\n", msg.c_str());
  return 2;
}

// The one human line at the end of a run.
std::string Summary(uint32_t worker_id, const cddp::worker::TrainResult& r) {
  std::string line = absl::StrFormat("cddp-worker %u: finished at step %u",
                                     worker_id, r.steps);
  if (r.stopped_early) absl::StrAppend(&line, " (stopped early)");
  if (r.test_accuracy >= 0) {
    absl::StrAppendFormat(&line, ", test accuracy %.2f%% (loss %.4f)",
                          100.0 * r.test_accuracy, r.test_loss);
  }
  absl::StrAppendFormat(
      &line,
      ", last batch loss %.4f, uplink %.2f MB on the wire vs %.2f MB dense, "
      "downlink %.2f MB, %.1f s, parameters %s the servers' (crc32 %08x)",
      r.final_loss, r.uplink_wire_bytes / 1e6, r.uplink_dense_bytes / 1e6,
      r.downlink_bytes / 1e6, r.seconds,
      r.params_match_servers ? "equal to" : "DIFFER from", r.params_crc32);
  if (!r.shards_at_one_step) {
    absl::StrAppend(&line, "; the shards ended at DIFFERENT steps");
  }
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  cddp::common::ParseProgramFlags(
      argc, argv,
      "Training worker of compressed-ddp: trains a model on its share of the "
      "data\nand exchanges compressed gradients with the parameter servers.\n"
      "Usage: cddp-worker --servers=h:p[,h:p...] --worker_id=I "
      "--num_workers=W [flags]");
  if (auto s = cddp::common::ValidateJobFlags(); !s.ok()) {
    return Usage(std::string(s.message()));
  }
  cddp::worker::TrainerOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.dataset = absl::GetFlag(FLAGS_dataset);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.epochs = absl::GetFlag(FLAGS_epochs);
  o.batch_size = absl::GetFlag(FLAGS_batch_size);
  o.sync.compress = absl::GetFlag(FLAGS_compress);
  o.sync.ratio = absl::GetFlag(FLAGS_ratio);
  o.sync.min_compress_numel = absl::GetFlag(FLAGS_min_compress_numel);
  o.sync.dgc_momentum = absl::GetFlag(FLAGS_dgc_momentum);
  o.sync.momentum_masking = absl::GetFlag(FLAGS_momentum_masking);
  o.sync.clip_norm = absl::GetFlag(FLAGS_clip_norm);
  o.sync.overlap_backward = absl::GetFlag(FLAGS_overlap_backward);
  o.sync.density_warmup_steps = absl::GetFlag(FLAGS_density_warmup_steps);
  o.sync.density_warmup_start = absl::GetFlag(FLAGS_density_warmup_start);
  o.sync.value_type = absl::GetFlag(FLAGS_value_type);
  o.sync.index_encoding = absl::GetFlag(FLAGS_index_encoding);
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_servers), ',', absl::SkipEmpty())) {
    o.sync.servers.emplace_back(s);
  }
  if (o.sync.servers.empty()) return Usage("--servers is required");
  o.sync.worker_id = absl::GetFlag(FLAGS_worker_id);
  const cddp::common::TlsOptions tls = cddp::common::TlsOptionsFromFlags();
  o.sync.tls_cert = tls.cert_file;
  o.sync.tls_key = tls.key_file;
  o.sync.tls_ca = tls.ca_file;
  o.sync.plaintext = tls.plaintext;
  if (tls.plaintext) {
    std::fprintf(stderr,
                 "cddp-worker: WARNING: --plaintext: gradients and parameters "
                 "cross the network unencrypted and unauthenticated\n");
  }
  o.sync.num_workers = absl::GetFlag(FLAGS_num_workers);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.eval_every = absl::GetFlag(FLAGS_eval_every);
  o.eval_limit = absl::GetFlag(FLAGS_eval_limit);
  o.train_limit = absl::GetFlag(FLAGS_train_limit);
  o.max_steps = absl::GetFlag(FLAGS_max_steps);
  o.sync.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  o.checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  o.threads = absl::GetFlag(FLAGS_threads);
  const auto device =
      cddp::worker::ParseDeviceRequest(absl::GetFlag(FLAGS_device));
  if (!device.ok()) {
    return Usage("--device: " + std::string(device.status().message()));
  }
  o.device = *device;
  o.progress_every = std::max<int64_t>(1, absl::GetFlag(FLAGS_progress_every));
  o.sync.reconnect_timeout =
      absl::Seconds(absl::GetFlag(FLAGS_reconnect_timeout_s));

  // SIGTERM/SIGINT, on whatever thread they land (LibTorch starts threads
  // before main), go to a watcher thread that asks the trainer to stop after
  // the current step; it then checkpoints and exits 0.
  if (auto s = cddp::common::InstallStopSignalHandlers(); !s.ok()) {
    std::fprintf(stderr, "cddp-worker: %s\n", std::string(s.message()).c_str());
    return 1;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<cddp::common::MetricsHttpServer> exposer;
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (!metrics_listen.empty()) {
    auto started =
        cddp::common::MetricsHttpServer::Start(metrics_listen, registry);
    if (!started.ok()) {
      std::fprintf(stderr, "cddp-worker: %s\n",
                   std::string(started.status().message()).c_str());
      return 1;
    }
    exposer = std::move(*started);
    o.sync.registry = registry.get();
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
  std::thread([t] {
    const int sig = cddp::common::WaitForStopSignal();
    std::fprintf(stderr, "cddp-worker: signal %d, stopping after this step\n",
                 sig);
    t->RequestStop();
  }).detach();

  absl::StatusOr<cddp::worker::TrainResult> r = t->Run();
  if (!r.ok()) {
    std::fprintf(stderr, "cddp-worker %u: %s\n", o.sync.worker_id,
                 r.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", Summary(o.sync.worker_id, *r).c_str());
  std::fflush(stdout);
  if (const std::string path = absl::GetFlag(FLAGS_result_file);
      !path.empty()) {
    if (auto s = cddp::worker::WriteWorkerResult(path, o.sync.worker_id, *r);
        !s.ok()) {
      std::fprintf(stderr, "cddp-worker %u: --result_file: %s\n",
                   o.sync.worker_id, std::string(s.message()).c_str());
      return 1;
    }
  }
  if (!r->params_match_servers) {
    std::fprintf(stderr,
                 "cddp-worker %u: final parameters differ from the servers'\n",
                 o.sync.worker_id);
    return 3;
  }
  if (!r->shards_at_one_step) {
    std::fprintf(stderr,
                 "cddp-worker %u: the shards ended at different steps (one "
                 "resumed from an older checkpoint and had not caught up)\n",
                 o.sync.worker_id);
    return 4;
  }
  return 0;
}
