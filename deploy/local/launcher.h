// Runs a whole job on this machine: S parameter servers and W workers as
// separate processes on loopback, their output streamed with a prefix, and
// everything shut down cleanly at the end or on an interrupt. It supervises
// them as Kubernetes or compose would: a process that fails is restarted
// with the same command (servers and workers resume from their checkpoints
// when the job has a checkpoint directory), up to a restart budget for the
// whole job; past it, or at once for a usage error (exit status 2, a bad
// flag), the job stops, reporting the failed process's exit status and last
// lines.
//
// No LibTorch; it only starts the cddp-server and cddp-worker binaries.
// RunLocalCluster is called from one thread; `interrupted` may be set from
// another (the launcher's signal watcher).
#ifndef CDDP_DEPLOY_LOCAL_LAUNCHER_H_
#define CDDP_DEPLOY_LOCAL_LAUNCHER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace cddp::local {

struct LaunchOptions {
  std::string server_binary;  // path to cddp-server
  std::string worker_binary;  // path to cddp-worker
  uint32_t num_servers = 2;
  uint32_t num_workers = 2;
  std::string host = "127.0.0.1";
  // Mutual TLS: a directory laid out as scripts/make_certs.sh makes it
  // (ca.crt, server-<s>.crt/.key, worker-<w>.crt/.key); each process gets
  // its own certificate. Empty: the processes get no TLS flags (then
  // --plaintext must be among the forwarded flags).
  std::string tls_dir;
  // Added to every server's / worker's argv after the flags the launcher
  // sets for each process (forwarded_flags.h builds them).
  std::vector<std::string> server_flags;
  std::vector<std::string> worker_flags;
  // A user's worker program and its arguments (argv[0] a path or a name in
  // PATH), run instead of worker_binary: it learns its role from the
  // environment (cddp/options.h's SyncOptionsFromEnvironment): CDDP_SERVERS,
  // CDDP_WORKER_ID and RANK, CDDP_NUM_WORKERS and WORLD_SIZE, LOCAL_RANK,
  // CDDP_RESULT_FILE, and each of worker_flags' "--name=value" as
  // CDDP_NAME=value. Its result file is optional; it gets no metrics port.
  std::vector<std::string> worker_command;
  // More "NAME=value" entries for a worker_command's environment (the
  // launcher's main adds the build tree's Python package to PYTHONPATH and
  // a per-worker OMP_NUM_THREADS).
  std::vector<std::string> worker_env;
  bool metrics = true;  // give every process a /metrics port
  // Restarts of failed processes allowed for the whole job (0: the first
  // failure stops the job), each after restart_delay_ms.
  uint32_t max_restarts = 5;
  uint32_t restart_delay_ms = 1000;
  // Where the launcher counts its restarts (cddp_launch_restarts_total,
  // one series per process); optional, outlives the run.
  prometheus::Registry* registry = nullptr;
  bool quiet = false;  // only the summary, not the processes' lines
};

// What a worker wrote to its --result_file (the format is in
// worker/worker_flags.h).
struct WorkerReport {
  bool seen = false;  // the file was read
  double test_accuracy = -1;
  uint64_t uplink_wire_bytes = 0;
  uint64_t uplink_dense_bytes = 0;
  uint64_t downlink_bytes = 0;  // serialized reply bytes received
  uint64_t steps = 0;
  std::string params_crc32;
  bool params_match_servers = false;
  // Every shard stood at one step at the end (absent in a file: true).
  bool shards_at_one_step = true;
};

// Reads a worker's result file. NOT_FOUND if there is none; INVALID_ARGUMENT
// (naming the path and the key) for a missing or malformed entry.
absl::StatusOr<WorkerReport> ReadWorkerReport(const std::string& path);

struct LaunchResult {
  int exit_code = 0;  // 0 ok, 1 a process failed, 130 interrupted
  double seconds = 0;
  std::vector<WorkerReport> workers;
  std::vector<std::string> metrics_endpoints;
  uint32_t restarts = 0;  // processes restarted after a failure
  std::string failure;    // what failed, when exit_code != 0
};

// Runs the job to the end. Each worker gets --result_file in a temporary
// directory that is removed at the end; a cddp-worker that exits 0 without
// writing it fails the job (a worker_command's exit 0 is enough). INTERNAL if a
// process cannot be started or the directory cannot be made, RESOURCE_EXHAUSTED
// if no free port is found; a process that fails is reported in the result.
absl::StatusOr<LaunchResult> RunLocalCluster(
    const LaunchOptions& options, const std::atomic<bool>& interrupted);

// OK when `dir` holds every certificate and key a job of `servers` servers
// and `workers` workers needs (LaunchOptions::tls_dir); NOT_FOUND naming the
// first missing file and how to make it otherwise.
absl::Status CheckTlsDir(const std::string& dir, uint32_t servers,
                         uint32_t workers);

// `count` distinct TCP ports that can be bound on `host` now, chosen below
// the ephemeral range. RESOURCE_EXHAUSTED if there are not enough.
absl::StatusOr<std::vector<int>> PickFreePorts(const std::string& host,
                                               int count);

}  // namespace cddp::local

#endif  // CDDP_DEPLOY_LOCAL_LAUNCHER_H_
