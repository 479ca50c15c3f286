// cddp-launch: runs a compressed-ddp job on this machine (S servers and W
// workers as local processes on loopback) and reports what it achieved.
// Flags fill LaunchOptions; the training flags follow the seed's train.py
// and are passed to the servers (optimizer) or the workers (model, data,
// compression) that own them.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "deploy/local/launcher.h"

ABSL_FLAG(uint32_t, num_servers, 2, "parameter-server shards");
ABSL_FLAG(uint32_t, num_workers, 2, "workers");
// Model, data, compression: passed to every worker.
ABSL_FLAG(std::string, model, "simple_cnn", "simple_cnn | resnet18 | resnet50");
ABSL_FLAG(std::string, dataset, "mnist", "mnist | fashion-mnist | cifar10");
ABSL_FLAG(std::string, data_dir, "data", "where the datasets are");
ABSL_FLAG(int, epochs, 1, "passes over the training set");
ABSL_FLAG(int64_t, batch_size, 64, "examples per step per worker");
ABSL_FLAG(bool, compress, true, "Top-K compression (--nocompress: dense)");
ABSL_FLAG(double, ratio, 0.01, "fraction of each tensor sent per step");
ABSL_FLAG(std::string, value_type, "fp32", "wire values: fp32 | fp16 | bf16");
ABSL_FLAG(uint64_t, seed, 1, "seed of model init and data order");
ABSL_FLAG(int64_t, eval_every, 0, "evaluate every N steps (0: at the end)");
ABSL_FLAG(int64_t, eval_limit, 0, "evaluate on the first N test examples");
ABSL_FLAG(int64_t, train_limit, 0, "train on the first N examples (0: all)");
ABSL_FLAG(int64_t, max_steps, 0, "stop after N steps (0: --epochs decides)");
ABSL_FLAG(int, threads, 0, "LibTorch threads per worker (0: cores/workers)");
ABSL_FLAG(std::string, device, "auto",
          "cpu | cuda | auto: where the workers train (see cddp-worker --help)");
// Optimizer: passed to every server.
ABSL_FLAG(std::string, optimizer, "sgd", "sgd | adam (run on the servers)");
ABSL_FLAG(double, lr, 0.05, "learning rate");
ABSL_FLAG(double, momentum, 0.9, "SGD momentum");
ABSL_FLAG(double, weight_decay, 0.0, "L2 weight decay");
ABSL_FLAG(std::string, downlink, "dense", "dense | sparse server replies");
ABSL_FLAG(std::string, round_timeout, "60s", "close a round after this long");
// The job.
ABSL_FLAG(std::string, checkpoint_dir, "",
          "servers and workers checkpoint here (empty: no checkpoints)");
ABSL_FLAG(int64_t, checkpoint_every, 100, "rounds between checkpoints");
ABSL_FLAG(bool, metrics, true, "give every process a Prometheus endpoint");
ABSL_FLAG(std::string, bin_dir, "",
          "where cddp-server and cddp-worker are (default: next to this)");
ABSL_FLAG(bool, quiet, false, "print only the summary");
// The deployment tests run the container images' entrypoint scripts in place
// of the binaries, so that what the images run is what the tests exercise.
ABSL_FLAG(std::string, server_command, "",
          "run this instead of cddp-server (same flags; e.g. the image's "
          "entrypoint script)");
ABSL_FLAG(std::string, worker_command, "",
          "run this instead of cddp-worker (same flags)");
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
  for (const fs::path& p : {fs::path(dir) / name,
                            fs::path(dir) / ".." / ".." / build_folder / name}) {
    if (fs::exists(p)) return fs::canonical(p).string();
  }
  return (fs::path(dir) / name).string();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs a compressed-ddp training job on this machine: parameter "
      "servers\nand workers as local processes on loopback.\n"
      "Usage: cddp-launch [--num_servers=2 --num_workers=2 --model=simple_cnn "
      "--dataset=mnist --ratio=0.01 --epochs=1 ...]");
  absl::ParseCommandLine(argc, argv);
  using cddp::worker::LaunchOptions;
  LaunchOptions o;
  o.num_servers = absl::GetFlag(FLAGS_num_servers);
  o.num_workers = absl::GetFlag(FLAGS_num_workers);
  if (o.num_servers < 1 || o.num_workers < 1) {
    std::fprintf(stderr, "cddp-launch: need at least one server and worker\n");
    return 2;
  }
  std::string bin_dir = absl::GetFlag(FLAGS_bin_dir);
  if (bin_dir.empty()) {
    bin_dir = std::filesystem::read_symlink("/proc/self/exe")
                  .parent_path()
                  .string();
  }
  o.server_binary = FindBinary(bin_dir, "cddp-server", "server");
  o.worker_binary = FindBinary(bin_dir, "cddp-worker", "worker");
  if (!absl::GetFlag(FLAGS_server_command).empty()) {
    o.server_binary = absl::GetFlag(FLAGS_server_command);
  }
  if (!absl::GetFlag(FLAGS_worker_command).empty()) {
    o.worker_binary = absl::GetFlag(FLAGS_worker_command);
  }
  for (const auto& b : {o.server_binary, o.worker_binary}) {
    if (access(b.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "cddp-launch: %s not found or not executable "
                   "(--bin_dir, --server_command, --worker_command)\n", b.c_str());
      return 2;
    }
  }
  o.metrics = absl::GetFlag(FLAGS_metrics);
  o.quiet = absl::GetFlag(FLAGS_quiet);
  o.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  const int64_t checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  o.server_flags = {
      absl::StrCat("--optimizer=", absl::GetFlag(FLAGS_optimizer)),
      absl::StrCat("--lr=", absl::GetFlag(FLAGS_lr)),
      absl::StrCat("--momentum=", absl::GetFlag(FLAGS_momentum)),
      absl::StrCat("--weight_decay=", absl::GetFlag(FLAGS_weight_decay)),
      absl::StrCat("--downlink=", absl::GetFlag(FLAGS_downlink)),
      absl::StrCat("--round_timeout=", absl::GetFlag(FLAGS_round_timeout))};
  if (absl::GetFlag(FLAGS_optimizer) != "sgd") o.server_flags.erase(o.server_flags.begin() + 2);
  o.worker_flags = {
      absl::StrCat("--model=", absl::GetFlag(FLAGS_model)),
      absl::StrCat("--dataset=", absl::GetFlag(FLAGS_dataset)),
      absl::StrCat("--data_dir=", absl::GetFlag(FLAGS_data_dir)),
      absl::StrCat("--epochs=", absl::GetFlag(FLAGS_epochs)),
      absl::StrCat("--batch_size=", absl::GetFlag(FLAGS_batch_size)),
      absl::GetFlag(FLAGS_compress) ? "--compress" : "--nocompress",
      absl::StrCat("--ratio=", absl::GetFlag(FLAGS_ratio)),
      absl::StrCat("--value_type=", absl::GetFlag(FLAGS_value_type)),
      absl::StrCat("--seed=", absl::GetFlag(FLAGS_seed)),
      absl::StrCat("--eval_every=", absl::GetFlag(FLAGS_eval_every)),
      absl::StrCat("--eval_limit=", absl::GetFlag(FLAGS_eval_limit)),
      absl::StrCat("--train_limit=", absl::GetFlag(FLAGS_train_limit)),
      absl::StrCat("--max_steps=", absl::GetFlag(FLAGS_max_steps)),
      absl::StrCat("--threads=", absl::GetFlag(FLAGS_threads)),
      absl::StrCat("--device=", absl::GetFlag(FLAGS_device)),
      absl::StrCat("--checkpoint_every=", checkpoint_every)};
  if (!o.checkpoint_dir.empty()) {
    o.server_flags.push_back(absl::StrCat("--checkpoint_every=", checkpoint_every));
  }
  for (const auto& a : absl::GetFlag(FLAGS_server_args)) o.server_flags.push_back(a);
  for (const auto& a : absl::GetFlag(FLAGS_worker_args)) o.worker_flags.push_back(a);

  // Ctrl-C / SIGTERM: a watcher thread flags the interrupt; the launcher
  // then stops the workers (they checkpoint) and the servers.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals]() mutable {
    int sig = 0;
    if (sigwait(&signals, &sig) == 0) g_interrupted.store(true);
  }).detach();

  auto result = cddp::worker::RunLocalCluster(o, g_interrupted);
  if (!result.ok()) {
    std::fprintf(stderr, "cddp-launch: %s\n", result.status().ToString().c_str());
    return 1;
  }
  const auto& r = *result;
  uint64_t wire = 0, dense = 0;
  bool identical = true, match = true;
  for (const auto& w : r.workers) {
    wire += w.uplink_wire_bytes;
    dense += w.uplink_dense_bytes;
    identical &= w.seen && w.params_crc32 == r.workers[0].params_crc32;
    match &= w.params_match_servers;
  }
  std::printf("\n==== cddp-launch summary ====\n");
  if (r.exit_code != 0) std::printf("job FAILED: %s\n", r.failure.c_str());
  if (!r.workers.empty() && r.workers[0].seen) {
    std::printf("final test accuracy: %.2f%% (worker 0, %llu steps)\n",
                100.0 * r.workers[0].test_accuracy,
                static_cast<unsigned long long>(r.workers[0].steps));
  }
  std::printf("uplink: %.2f MB on the wire vs %.2f MB dense (%.2f%%, saving %.2f%%)\n",
              wire / 1e6, dense / 1e6, dense ? 100.0 * wire / dense : 0.0,
              dense ? 100.0 * (1.0 - static_cast<double>(wire) / dense) : 0.0);
  if (r.exit_code == 0) {
    std::printf("workers' final parameters identical: %s; equal to the servers': %s\n",
                identical ? "yes" : "NO", match ? "yes" : "NO");
  }
  std::printf("wall time: %.1f s\n", r.seconds);
  for (const auto& e : r.metrics_endpoints) {
    std::printf("metrics (while running): %s\n", e.c_str());
  }
  if (r.exit_code != 0) return r.exit_code;
  return identical && match ? 0 : 3;
}
