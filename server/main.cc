// cddp-server: serves one shard of the flat parameter vector. Parses flags
// (server/server_flags.h, common/job_flags.h) into ServerOptions, serves
// metrics, resumes from / writes checkpoints with --checkpoint_dir, and on
// SIGTERM/SIGINT finishes the open round, checkpoints and exits.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/compress/sparse.h"
#include "common/job_flags.h"
#include "common/metrics_http_server.h"
#include "common/program_flags.h"
#include "common/stop_signals.h"
#include "server/server.h"
#include "server/server_flags.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "cddp-server: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  cddp::common::ParseProgramFlags(
      argc, argv,
      "Serves one shard of a compressed-ddp parameter vector.\n"
      "Example: cddp-server --listen=0.0.0.0:50051 --shard_index=0 "
      "--num_shards=2 --num_workers=4 --optimizer=sgd --lr=0.1 "
      "--metrics_listen=0.0.0.0:9100");
  if (auto s = cddp::common::ValidateJobFlags(); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  // Each round allocates and frees multi-MiB buffers (decoded pushes,
  // encoded replies). Keep freed memory in the heap rather than returning it
  // to the kernel, so rounds do not page-fault it back in every time.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  cddp::server::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  auto& shard = options.shard;
  shard.shard_index = absl::GetFlag(FLAGS_shard_index);
  shard.num_shards = absl::GetFlag(FLAGS_num_shards);
  shard.num_workers = absl::GetFlag(FLAGS_num_workers);
  shard.round_timeout = absl::GetFlag(FLAGS_round_timeout);
  shard.reply_timeout = absl::GetFlag(FLAGS_reply_timeout);
  const int threads = absl::GetFlag(FLAGS_aggregation_threads);
  if (threads < 0) {
    return Fail("--aggregation_threads must be >= 0 (0: one per core)");
  }
  shard.threads = threads > 0
                      ? threads
                      : static_cast<int>(std::clamp(
                            std::thread::hardware_concurrency(), 1u, 8u));
  const auto kind =
      cddp::server::ParseOptimizerKind(absl::GetFlag(FLAGS_optimizer));
  if (!kind.ok()) {
    return Fail(absl::StrCat("--optimizer: ", kind.status().message()));
  }
  shard.optimizer.kind = *kind;
  shard.optimizer.lr = static_cast<float>(absl::GetFlag(FLAGS_lr));
  shard.optimizer.momentum = static_cast<float>(absl::GetFlag(FLAGS_momentum));
  shard.optimizer.nesterov = absl::GetFlag(FLAGS_nesterov);
  shard.optimizer.weight_decay =
      static_cast<float>(absl::GetFlag(FLAGS_weight_decay));
  shard.optimizer.beta1 = static_cast<float>(absl::GetFlag(FLAGS_adam_beta1));
  shard.optimizer.beta2 = static_cast<float>(absl::GetFlag(FLAGS_adam_beta2));
  shard.optimizer.epsilon =
      static_cast<float>(absl::GetFlag(FLAGS_adam_epsilon));
  const std::string downlink = absl::GetFlag(FLAGS_downlink);
  const auto mode = cddp::server::ParseDownlinkMode(downlink);
  if (!mode.ok()) {
    return Fail(absl::StrCat("--downlink ", mode.status().message()));
  }
  shard.downlink = *mode;
  const auto density =
      cddp::server::ParseDownlinkDensity(absl::GetFlag(FLAGS_downlink_density));
  if (!density.ok()) {
    return Fail(
        absl::StrCat("--downlink_density ", density.status().message()));
  }
  shard.downlink_density = *density;
  const auto downlink_values =
      cddp::common::ParseValueType(absl::GetFlag(FLAGS_downlink_value_type));
  if (!downlink_values.ok()) {
    return Fail(absl::StrCat("--downlink_value_type: ",
                             downlink_values.status().message()));
  }
  shard.downlink_value_type = *downlink_values;

  // SIGTERM/SIGINT (on any thread) wake the wait below.
  if (auto s = cddp::common::InstallStopSignalHandlers(); !s.ok()) {
    return Fail(std::string(s.message()));
  }

  options.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  options.on_checkpoint_failure = [](uint64_t step, const absl::Status& s) {
    std::fprintf(stderr, "cddp-server: checkpoint at step %llu failed: %s\n",
                 static_cast<unsigned long long>(step), s.ToString().c_str());
  };
  options.checkpoint_every =
      static_cast<uint64_t>(absl::GetFlag(FLAGS_checkpoint_every));
  options.registry = std::make_shared<prometheus::Registry>();
  options.tls = cddp::common::TlsOptionsFromFlags();
  auto server = cddp::server::Server::Create(options);
  if (!server.ok()) {
    return Fail(absl::StrCat("refusing to start: ", server.status().message()));
  }
  if (const auto& resumed = (*server)->resumed(); resumed.has_value()) {
    std::fprintf(stderr,
                 "cddp-server: shard %u resumed from checkpoint %s at step "
                 "%llu (%llu values, optimizer state included)\n",
                 shard.shard_index, resumed->path.c_str(),
                 static_cast<unsigned long long>(resumed->step),
                 static_cast<unsigned long long>(resumed->size));
  }
  std::unique_ptr<cddp::common::MetricsHttpServer> metrics_http;
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (!metrics_listen.empty()) {
    auto started = cddp::common::MetricsHttpServer::Start(metrics_listen,
                                                          options.registry);
    if (!started.ok()) {
      return Fail(
          absl::StrCat("--metrics_listen: ", started.status().message()));
    }
    metrics_http = std::move(*started);
  }
  if (auto s = (*server)->Start(); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  std::fprintf(stderr,
               "cddp-server: shard %u/%u serving on port %d (%s), %u workers, "
               "%s, %s downlink\n",
               shard.shard_index, shard.num_shards, (*server)->port(),
               options.tls.plaintext ? "plaintext" : "mutual TLS",
               shard.num_workers, shard.optimizer.DebugString().c_str(),
               downlink.c_str());
  if (options.tls.plaintext) {
    std::fprintf(stderr,
                 "cddp-server: WARNING: --plaintext: anyone who can reach "
                 "%s can join and push as any worker\n",
                 options.listen.c_str());
  }

  const int signal_number = cddp::common::WaitForStopSignal();
  std::fprintf(stderr, "cddp-server: signal %d, finishing the open round\n",
               signal_number);
  (*server)->Shutdown();
  std::fprintf(stderr, "cddp-server: stopped at step %llu\n",
               static_cast<unsigned long long>((*server)->state().step()));
  if (auto s = (*server)->last_checkpoint_status(); !s.ok()) {
    return Fail(absl::StrCat("last checkpoint failed: ", s.message()));
  }
  return 0;
}
