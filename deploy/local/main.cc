// cddp-launch: runs a compressed-ddp job on this machine (S servers and W
// workers as local processes on loopback) and reports what it achieved.
// It takes every cddp-server and cddp-worker flag, with the programs' own
// defaults (it links their flag libraries), and forwards to each process
// the ones that differ from their defaults (forwarded_flags.h); its own
// flags below say how to launch.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "common/job_flags.h"
#include "common/metrics_http_server.h"
#include "common/program_flags.h"
#include "common/stop_signals.h"
#include "deploy/local/forwarded_flags.h"
#include "deploy/local/launcher.h"

ABSL_FLAG(uint32_t, num_servers, 2, "parameter-server shards");
ABSL_FLAG(bool, metrics, true, "give every process a Prometheus endpoint");
ABSL_FLAG(std::string, bin_dir, "",
          "where cddp-server and cddp-worker are (default: next to this)");
ABSL_FLAG(bool, quiet, false, "print only the summary");
ABSL_FLAG(uint32_t, max_restarts, 5,
          "restarts of failed servers and workers allowed for the whole job "
          "(each resumes from its checkpoint with --checkpoint_dir); 0: the "
          "first failure stops the job");
ABSL_FLAG(uint32_t, restart_delay_ms, 1000,
          "wait before restarting a failed process");
ABSL_FLAG(std::string, launch_metrics_listen, "",
          "host:port where cddp-launch serves its own /metrics "
          "(cddp_launch_restarts_total per process); empty: none");
// The deployment tests run the container images' entrypoint scripts in place
// of the binaries, so that what the images run is what the tests exercise.
ABSL_FLAG(std::string, server_command, "",
          "run this instead of cddp-server (same flags; e.g. the image's "
          "entrypoint script)");
ABSL_FLAG(std::string, worker_command, "",
          "run this instead of cddp-worker (same flags)");
ABSL_FLAG(std::string, tls_dir, "",
          "mutual TLS for the whole job: a directory made by "
          "scripts/make_certs.sh DIR --servers S --workers W (ca.crt, "
          "server-<s>.crt/.key, worker-<w>.crt/.key); each process gets its "
          "own certificate. Without it, --plaintext is required");
ABSL_FLAG(std::vector<std::string>, server_args, {},
          "extra flags for every server, comma-separated");
ABSL_FLAG(std::vector<std::string>, worker_args, {},
          "extra flags for every worker, comma-separated");

namespace {

std::atomic<bool> g_interrupted{false};

// `name` in `dir`, or where the build tree puts it relative to this
// program (build/deploy/local/cddp-launch, build/<folder>/<name>).
std::string FindBinary(const std::string& dir, const std::string& name,
                       const std::string& build_folder) {
  namespace fs = std::filesystem;
  for (const fs::path& p : {fs::path(dir) / name, fs::path(dir) / ".." / ".." /
                                                      build_folder / name}) {
    if (fs::exists(p)) return fs::canonical(p).string();
  }
  return (fs::path(dir) / name).string();
}

// For a user's worker command: the build tree's Python package (next to
// this program in build/deploy/local/) on PYTHONPATH, so `import cddp`
// works without installing; and, unless set, OMP_NUM_THREADS = cores /
// workers, so W workers on one machine do not each start a thread per core
// (what cddp-worker's --threads=0 does).
std::vector<std::string> WorkerCommandEnvironment(const std::string& bin_dir,
                                                  uint32_t num_workers) {
  namespace fs = std::filesystem;
  std::vector<std::string> env;
  const fs::path package = fs::path(bin_dir) / ".." / ".." / "python";
  if (fs::exists(package / "cddp")) {
    std::string path = fs::canonical(package).string();
    if (const char* old = std::getenv("PYTHONPATH"); old && *old) {
      path += std::string(":") + old;
    }
    env.push_back("PYTHONPATH=" + path);
  }
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    env.push_back(
        "OMP_NUM_THREADS=" +
        std::to_string(std::max(1u, cores / std::max(1u, num_workers))));
  }
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<char*> positional = cddp::common::ParseProgramFlags(
      argc, argv,
      "Runs a compressed-ddp training job on this machine: parameter "
      "servers\nand workers as local processes on loopback. Every "
      "cddp-server and cddp-worker\nflag is accepted (with the programs' "
      "defaults) and passed on to them.\n"
      "Usage: cddp-launch [--num_servers=2 --num_workers=2 --model=simple_cnn "
      "--dataset=mnist --ratio=0.01 --epochs=1 --lr=0.05 --momentum=0.9 "
      "...]\n   or: cddp-launch --flagfile=configs/distributed.flags\n"
      "   or: cddp-launch [flags] -- COMMAND [ARGS...]   (your own worker "
      "program,\n       e.g. -- python3 train.py: it reads its role from "
      "CDDP_SERVERS,\n       CDDP_WORKER_ID/RANK, CDDP_NUM_WORKERS/WORLD_SIZE "
      "and the worker flags\n       as CDDP_<FLAG>; see README)");
  using cddp::local::LaunchOptions;
  LaunchOptions o;
  o.num_servers = absl::GetFlag(FLAGS_num_servers);
  o.num_workers = absl::GetFlag(FLAGS_num_workers);
  if (o.num_servers < 1) {
    std::fprintf(stderr, "cddp-launch: --num_servers must be >= 1\n");
    return 2;
  }
  if (auto s = cddp::common::ValidateJobFlags(); !s.ok()) {
    std::fprintf(stderr, "cddp-launch: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  o.tls_dir = absl::GetFlag(FLAGS_tls_dir);
  if (o.tls_dir.empty() == !absl::GetFlag(FLAGS_plaintext)) {
    std::fprintf(stderr,
                 "cddp-launch: choose the job's transport security: "
                 "--tls_dir=DIR (mutual TLS; scripts/make_certs.sh DIR "
                 "makes one) or --plaintext, not %s\n",
                 o.tls_dir.empty() ? "neither" : "both");
    return 2;
  }
  if (!o.tls_dir.empty()) {
    if (auto s =
            cddp::local::CheckTlsDir(o.tls_dir, o.num_servers, o.num_workers);
        !s.ok()) {
      std::fprintf(stderr, "cddp-launch: --tls_dir: %s\n",
                   std::string(s.message()).c_str());
      return 2;
    }
  }
  absl::StatusOr<cddp::local::ForwardedFlags> forwarded =
      cddp::local::FlagsForProcesses();
  if (!forwarded.ok()) {
    std::fprintf(stderr, "cddp-launch: %s\n",
                 std::string(forwarded.status().message()).c_str());
    return 2;
  }
  std::string bin_dir = absl::GetFlag(FLAGS_bin_dir);
  if (bin_dir.empty()) {
    bin_dir =
        std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  }
  o.server_binary = FindBinary(bin_dir, "cddp-server", "server");
  o.worker_binary = FindBinary(bin_dir, "cddp-worker", "worker");
  if (!absl::GetFlag(FLAGS_server_command).empty()) {
    o.server_binary = absl::GetFlag(FLAGS_server_command);
  }
  if (!absl::GetFlag(FLAGS_worker_command).empty()) {
    o.worker_binary = absl::GetFlag(FLAGS_worker_command);
  }
  if (positional.size() > 1) {
    o.worker_env = WorkerCommandEnvironment(bin_dir, o.num_workers);
  }
  o.worker_command.assign(
      positional.begin() + std::min<size_t>(1, positional.size()),
      positional.end());
  for (const auto& b : {o.server_binary, o.worker_binary}) {
    if (b == o.worker_binary && !o.worker_command.empty()) continue;
    if (access(b.c_str(), X_OK) != 0) {
      std::fprintf(stderr,
                   "cddp-launch: %s not found or not executable "
                   "(--bin_dir, --server_command, --worker_command)\n",
                   b.c_str());
      return 2;
    }
  }
  o.metrics = absl::GetFlag(FLAGS_metrics);
  o.max_restarts = absl::GetFlag(FLAGS_max_restarts);
  o.restart_delay_ms = absl::GetFlag(FLAGS_restart_delay_ms);
  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<cddp::common::MetricsHttpServer> launch_metrics;
  if (const std::string at = absl::GetFlag(FLAGS_launch_metrics_listen);
      !at.empty()) {
    auto started = cddp::common::MetricsHttpServer::Start(at, registry);
    if (!started.ok()) {
      std::fprintf(stderr, "cddp-launch: --launch_metrics_listen: %s\n",
                   std::string(started.status().message()).c_str());
      return 2;
    }
    launch_metrics = std::move(*started);
    o.registry = registry.get();
  }
  o.quiet = absl::GetFlag(FLAGS_quiet);
  o.server_flags = std::move(forwarded->server);
  o.worker_flags = std::move(forwarded->worker);
  for (const auto& a : absl::GetFlag(FLAGS_server_args))
    o.server_flags.push_back(a);
  for (const auto& a : absl::GetFlag(FLAGS_worker_args))
    o.worker_flags.push_back(a);

  // Ctrl-C / SIGTERM: a watcher thread flags the interrupt; the launcher
  // then stops the workers (they checkpoint) and the servers.
  if (auto s = cddp::common::InstallStopSignalHandlers(); !s.ok()) {
    std::fprintf(stderr, "cddp-launch: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::thread([] {
    cddp::common::WaitForStopSignal();
    g_interrupted.store(true);
  }).detach();

  auto result = cddp::local::RunLocalCluster(o, g_interrupted);
  if (!result.ok()) {
    std::fprintf(stderr, "cddp-launch: %s\n",
                 result.status().ToString().c_str());
    return 1;
  }
  const auto& r = *result;
  uint64_t wire = 0, dense = 0, down = 0;
  bool identical = true, match = true, one_step = true;
  size_t reported = 0;
  for (const auto& w : r.workers) {
    wire += w.uplink_wire_bytes;
    dense += w.uplink_dense_bytes;
    down += w.downlink_bytes;
    identical &= w.seen && w.params_crc32 == r.workers[0].params_crc32;
    match &= w.params_match_servers;
    one_step &= w.shards_at_one_step;
    reported += w.seen ? 1 : 0;
  }
  // A worker command need not write a result file; then nothing is known.
  const bool unreported = !o.worker_command.empty() && reported == 0;
  std::printf("\n==== cddp-launch summary ====\n");
  if (r.exit_code != 0) std::printf("job FAILED: %s\n", r.failure.c_str());
  if (!r.workers.empty() && r.workers[0].seen &&
      r.workers[0].test_accuracy >= 0) {
    std::printf("final test accuracy: %.2f%% (worker 0, %llu steps)\n",
                100.0 * r.workers[0].test_accuracy,
                static_cast<unsigned long long>(r.workers[0].steps));
  }
  std::printf(
      "uplink: %.2f MB on the wire vs %.2f MB dense (%.2f%%, saving %.2f%%)\n",
      wire / 1e6, dense / 1e6, dense ? 100.0 * wire / dense : 0.0,
      dense ? 100.0 * (1.0 - static_cast<double>(wire) / dense) : 0.0);
  // A dense reply is the same size as a dense push: the whole model.
  std::printf(
      "downlink: %.2f MB on the wire vs %.2f MB dense (%.2f%%, saving "
      "%.2f%%)\n",
      down / 1e6, dense / 1e6, dense ? 100.0 * down / dense : 0.0,
      dense ? 100.0 * (1.0 - static_cast<double>(down) / dense) : 0.0);
  if (r.exit_code == 0 && unreported) {
    std::printf(
        "workers' results: not reported (the worker command wrote no "
        "CDDP_RESULT_FILE; cddp::ParameterSync::Finish writes it)\n");
  } else if (r.exit_code == 0) {
    std::printf(
        "workers' final parameters identical: %s; equal to the servers': %s\n",
        identical ? "yes" : "NO", match ? "yes" : "NO");
    if (identical && !r.workers.empty()) {  // to compare runs by
      std::printf("final parameters crc32: %s\n",
                  r.workers[0].params_crc32.c_str());
    }
    if (!one_step) {
      std::printf(
          "the shards ended at DIFFERENT steps: one resumed from an older "
          "checkpoint and had not caught up; the job is not finished\n");
    }
  }
  if (r.restarts > 0) {
    std::printf("restarts: %u failed process(es) restarted\n", r.restarts);
  }
  std::printf("wall time: %.1f s\n", r.seconds);
  for (const auto& e : r.metrics_endpoints) {
    std::printf("metrics (while running): %s\n", e.c_str());
  }
  if (r.exit_code != 0) return r.exit_code;
  return unreported || (identical && match && one_step) ? 0 : 3;
}
