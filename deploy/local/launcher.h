// Runs a whole job on this machine: S parameter servers and W workers as
// separate processes on loopback, their output streamed with a prefix, and
// everything shut down cleanly at the end, on an interrupt, or as soon as
// one process fails (reporting its exit status and its last lines).
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

namespace cddp::worker {

struct LaunchOptions {
  std::string server_binary;  // path to cddp-server
  std::string worker_binary;  // path to cddp-worker
  uint32_t num_servers = 2;
  uint32_t num_workers = 2;
  std::string host = "127.0.0.1";
  std::vector<std::string> server_flags;  // added to every server's argv
  std::vector<std::string> worker_flags;  // added to every worker's argv
  bool metrics = true;          // give every process a /metrics port
  std::string checkpoint_dir;   // servers and workers checkpoint under it
  bool quiet = false;           // only the summary, not the processes' lines
};

// What each worker reported on its RESULT line.
struct WorkerReport {
  bool seen = false;
  double test_accuracy = -1;
  uint64_t uplink_wire_bytes = 0;
  uint64_t uplink_dense_bytes = 0;
  uint64_t steps = 0;
  std::string params_crc32;
  bool params_match_servers = false;
};

struct LaunchResult {
  int exit_code = 0;  // 0 ok, 1 a process failed, 130 interrupted
  double seconds = 0;
  std::vector<WorkerReport> workers;
  std::vector<std::string> metrics_endpoints;
  std::string failure;  // what failed, when exit_code != 0
};

// Runs the job to the end. INTERNAL if a process cannot be started or no
// free port is found; a process that fails is reported in the result.
absl::StatusOr<LaunchResult> RunLocalCluster(const LaunchOptions& options,
                                             const std::atomic<bool>& interrupted);

// `count` distinct TCP ports that can be bound on `host` now, chosen below
// the ephemeral range. RESOURCE_EXHAUSTED if there are not enough.
absl::StatusOr<std::vector<int>> PickFreePorts(const std::string& host,
                                               int count);

}  // namespace cddp::worker

#endif  // CDDP_DEPLOY_LOCAL_LAUNCHER_H_
