// A parameter server dies mid-run and comes back from its checkpoint: two
// cddp-server and two cddp-worker processes on loopback train SimpleCNN on
// a subset of MNIST with checkpoints every 10 rounds; server 1 is SIGKILLed
// once the workers passed step 45 (after it wrote a checkpoint), restarted
// with the same flags on the same port, resumes from its checkpoint (an
// older step than shard 0's), and both workers still reach the final step
// and exit cleanly (which includes holding exactly the servers' bits).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/key_value_file.h"
#include "deploy/local/launcher.h"
#include "deploy/local/subprocess.h"

namespace cddp {
namespace {

using local::Subprocess;
using Clock = std::chrono::steady_clock;

constexpr int kFinalStep = 120;

bool HaveMnist() {
  const std::string d = std::string(CDDP_DATA_DIR) + "/mnist/";
  return std::filesystem::exists(d + "train-labels-idx1-ubyte") ||
         std::filesystem::exists(d + "train-labels-idx1-ubyte.gz");
}

// Free ports below the ephemeral range (as cddp-launch picks them), so no
// outgoing connection takes one while its server is down.
std::vector<int> FreePorts(int count) {
  auto ports = local::PickFreePorts("127.0.0.1", count);
  return ports.ok() ? *ports : std::vector<int>{};
}

struct Proc {
  std::string name;
  std::vector<std::string> argv;
  std::optional<Subprocess> process;
  std::vector<std::string> lines;
  std::optional<int> status;  // raw wait status once exited

  bool Start() {
    auto p = Subprocess::Start(argv);
    if (!p.ok()) {
      lines.push_back("cannot start: " + p.status().ToString());
      return false;
    }
    process.emplace(std::move(*p));
    status.reset();
    return true;
  }
  void Drain() {
    if (process) process->ReadAvailable(&lines);
  }
  bool Saw(const std::string& needle) const {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::string Joined() const {
    std::string all = "---- " + name + " ----\n";
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
};

// Where worker `w` writes its --result_file.
std::string ResultFile(const std::string& dir, int w) {
  return dir + "/worker-" + std::to_string(w) + ".result";
}

// The largest "step N/" a worker's progress lines show.
int LastStep(const Proc& worker) {
  int best = -1;
  for (const auto& l : worker.lines) {
    const size_t at = l.find(" step ");
    if (at == std::string::npos || l.find('/', at) == std::string::npos) {
      continue;
    }
    best = std::max(best, std::atoi(l.c_str() + at + 6));
  }
  return best;
}

TEST(RestartTest, KilledServerResumesFromItsCheckpointAndTheRunFinishes) {
  if (!HaveMnist()) {
    GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR
                 << " (run scripts/setup.sh)";
  }
  const std::string dir =
      ::testing::TempDir() + "/cddp_restart_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  const std::vector<int> ports = FreePorts(2);
  ASSERT_EQ(ports.size(), 2u);
  std::vector<std::string> addresses;
  for (int p : ports) addresses.push_back("127.0.0.1:" + std::to_string(p));

  std::vector<Proc> procs(4);
  for (int s = 0; s < 2; ++s) {
    procs[s].name = "server " + std::to_string(s);
    procs[s].argv = {CDDP_SERVER_BIN,
                     "--listen=" + addresses[s],
                     "--plaintext",
                     "--shard_index=" + std::to_string(s),
                     "--num_shards=2",
                     "--num_workers=2",
                     "--lr=0.05",
                     "--checkpoint_dir=" + dir,
                     "--checkpoint_every=10"};
  }
  for (int w = 0; w < 2; ++w) {
    procs[2 + w].name = "worker " + std::to_string(w);
    procs[2 + w].argv = {CDDP_WORKER_BIN,
                         "--servers=" + addresses[0] + "," + addresses[1],
                         "--plaintext",
                         "--worker_id=" + std::to_string(w),
                         "--num_workers=2",
                         "--model=simple_cnn",
                         "--dataset=mnist",
                         std::string("--data_dir=") + CDDP_DATA_DIR,
                         "--train_limit=6400",
                         "--epochs=3",
                         "--max_steps=" + std::to_string(kFinalStep),
                         "--eval_limit=1000",
                         "--threads=1",
                         "--ratio=0.01",
                         "--checkpoint_dir=" + dir,
                         "--checkpoint_every=10",
                         "--progress_every=5",
                         "--reconnect_timeout_s=60",
                         "--result_file=" + ResultFile(dir, w)};
  }
  for (auto& p : procs) ASSERT_TRUE(p.Start()) << p.Joined();

  const std::string server1_ckpt = dir + "/server-1.ckpt";
  bool killed = false;
  const auto deadline = Clock::now() + std::chrono::seconds(100);
  while (Clock::now() < deadline &&
         !(procs[2].status.has_value() && procs[3].status.has_value())) {
    std::vector<pollfd> fds;
    for (auto& p : procs) {
      if (p.process && p.process->output_fd() >= 0) {
        fds.push_back({p.process->output_fd(), POLLIN, 0});
      }
    }
    poll(fds.data(), fds.size(), 100);
    for (auto& p : procs) {
      p.Drain();
      if (p.process && !p.status) p.status = p.process->Poll();
    }
    // A server that exits on its own is a failure: stop waiting.
    if (procs[0].status || procs[1].status) break;
    if (!killed && std::min(LastStep(procs[2]), LastStep(procs[3])) >= 45 &&
        std::filesystem::exists(server1_ckpt)) {
      procs[1].process->Signal(SIGKILL);
      procs[1].process->Wait(std::chrono::seconds(10));
      procs[1].Drain();
      procs[1].lines.push_back("==== SIGKILLed by the test, restarting ====");
      ASSERT_TRUE(procs[1].Start()) << procs[1].Joined();
      killed = true;
    }
  }
  std::string all;
  for (auto& p : procs) all += p.Joined();
  ASSERT_TRUE(killed) << "the workers never reached step 45\n" << all;

  // Both workers finished at the final step, exit 0 (3 would mean their
  // parameters differ from the servers').
  for (int w = 2; w < 4; ++w) {
    ASSERT_TRUE(procs[w].status.has_value()) << "still running\n" << all;
    EXPECT_TRUE(WIFEXITED(*procs[w].status) &&
                WEXITSTATUS(*procs[w].status) == 0)
        << procs[w].name << ": "
        << Subprocess::ExitDescription(*procs[w].status) << "\n"
        << all;
    absl::StatusOr<common::KeyValues> result =
        common::ReadKeyValueFile(ResultFile(dir, w - 2));
    ASSERT_TRUE(result.ok()) << result.status() << "\n" << all;
    EXPECT_EQ(result->GetUint64("steps").value_or(0),
              static_cast<uint64_t>(kFinalStep))
        << all;
    // The steady part of the run (first step's end to the last's) is
    // inside the whole run.
    const double steady = result->GetDouble("steady_seconds").value_or(-1);
    EXPECT_GT(steady, 0) << all;
    EXPECT_LT(steady, result->GetDouble("seconds").value_or(0)) << all;
    EXPECT_TRUE(procs[w].Saw("resynchronising")) << all;
  }
  EXPECT_TRUE(procs[1].Saw("resumed from checkpoint")) << all;

  // The servers finish cleanly on SIGTERM and write a last checkpoint.
  for (int s = 0; s < 2; ++s) {
    if (!procs[s].status) {
      procs[s].process->Signal(SIGTERM);
      procs[s].status = procs[s].process->Wait(std::chrono::seconds(20));
      procs[s].Drain();
    }
    EXPECT_TRUE(WIFEXITED(*procs[s].status) &&
                WEXITSTATUS(*procs[s].status) == 0)
        << procs[s].Joined();
  }
  EXPECT_TRUE(std::filesystem::exists(dir + "/server-0.ckpt"));
  std::filesystem::remove_all(dir);
}

// SIGTERM (what Kubernetes sends a pod, and cddp-launch on Ctrl-C) makes a
// worker finish its step, checkpoint and exit 0, whatever thread of the
// process the kernel delivers it to.
TEST(RestartTest, SigtermedWorkerFinishesItsStepCheckpointsAndExitsZero) {
  if (!HaveMnist()) {
    GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR
                 << " (run scripts/setup.sh)";
  }
  const std::string dir =
      ::testing::TempDir() + "/cddp_sigterm_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  const std::vector<int> ports = FreePorts(1);
  ASSERT_EQ(ports.size(), 1u);
  const std::string address = "127.0.0.1:" + std::to_string(ports[0]);
  Proc server;
  server.name = "server";
  server.argv = {CDDP_SERVER_BIN,   "--listen=" + address, "--plaintext",
                 "--shard_index=0", "--num_shards=1",      "--num_workers=1"};
  Proc worker;
  worker.name = "worker";
  worker.argv = {CDDP_WORKER_BIN,
                 "--servers=" + address,
                 "--plaintext",
                 "--worker_id=0",
                 "--num_workers=1",
                 "--model=simple_cnn",
                 "--dataset=mnist",
                 std::string("--data_dir=") + CDDP_DATA_DIR,
                 "--epochs=50",
                 "--threads=1",
                 "--checkpoint_dir=" + dir,
                 "--checkpoint_every=1000000",
                 "--progress_every=5"};
  ASSERT_TRUE(server.Start()) << server.Joined();
  ASSERT_TRUE(worker.Start()) << worker.Joined();
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < deadline && LastStep(worker) < 20 &&
         !worker.process->Poll().has_value()) {
    pollfd fd{worker.process->output_fd(), POLLIN, 0};
    poll(&fd, 1, 100);
    worker.Drain();
  }
  ASSERT_GE(LastStep(worker), 20) << worker.Joined();
  worker.process->Signal(SIGTERM);
  const int status = worker.process->Wait(std::chrono::seconds(60));
  worker.Drain();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << Subprocess::ExitDescription(status) << "\n"
      << worker.Joined();
  EXPECT_TRUE(worker.Saw("stopping after this step")) << worker.Joined();
  EXPECT_TRUE(worker.Saw("(stopped early)")) << worker.Joined();
  // Its residuals were checkpointed at the step it stopped at (the periodic
  // checkpoints never came).
  EXPECT_TRUE(std::filesystem::exists(dir + "/worker-0.ckpt"))
      << worker.Joined();
  server.process->Signal(SIGTERM);
  server.process->Wait(std::chrono::seconds(20));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cddp
