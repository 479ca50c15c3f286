// The worker's --device flag end to end: a bad name is a flag error;
// --device cuda where CUDA cannot be used (Debian's CPU-only LibTorch, a
// build without -DCDDP_WITH_CUDA=ON, no device) fails at start-up saying
// why; --device auto trains on the CPU there. On a machine with a CUDA
// LibTorch, the CUDA kernels and a GPU, GpuTrainingTest trains two GPU
// workers, dense and compressed, and resumes a CPU worker from a GPU
// worker's checkpoint; elsewhere it skips, saying why.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/support/launch_util.h"

namespace cddp {
namespace {

using testing_util::RunOutput;
using testing_util::RunToCompletion;

bool HaveMnist() {
  const std::string d = std::string(CDDP_DATA_DIR) + "/mnist/";
  return std::filesystem::exists(d + "train-labels-idx1-ubyte") ||
         std::filesystem::exists(d + "train-labels-idx1-ubyte.gz");
}

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A worker that would fail right after choosing its device (no such
// dataset; port 1 is never dialled).
RunOutput WorkerWithDevice(const std::string& device) {
  return RunToCompletion(
      {CDDP_WORKER_BIN, "--device=" + device, "--servers=127.0.0.1:1",
       "--dataset=no-such-dataset", "--reconnect_timeout_s=1"},
      std::chrono::seconds(60));
}

// "" when this build and machine can train on CUDA, else the worker's
// reason.
std::string WhyNoCuda() {
  const RunOutput out = WorkerWithDevice("cuda");
  for (const std::string& line : out.lines) {
    const size_t at = line.find("--device cuda: ");
    if (at != std::string::npos) return line.substr(at);
  }
  return Has(out.Joined(), "device cuda (") ? "" : out.Joined();
}

std::vector<std::string> LaunchArgs(std::vector<std::string> extra) {
  std::vector<std::string> argv = {
      CDDP_LAUNCH_BIN,      "--plaintext",
      "--num_servers=2",    "--num_workers=2",
      "--model=simple_cnn", "--dataset=mnist",
      "--ratio=0.01",       std::string("--data_dir=") + CDDP_DATA_DIR,
      "--threads=1",        "--nometrics"};
  // The optimizer as cddp-launch's own defaults had it before it took the
  // programs' defaults.
  argv.insert(argv.end(),
              {"--lr=0.05", "--momentum=0.9", "--round_timeout=60s"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(WorkerDeviceTest, UnknownDeviceIsAFlagError) {
  const RunOutput out = WorkerWithDevice("bogus");
  EXPECT_EQ(out.exit_code, 2) << out.Joined();
  EXPECT_TRUE(Has(out.Joined(),
                  "cddp-worker: --device: unknown device \"bogus\" "
                  "(cpu | cuda | auto)"))
      << out.Joined();
}

TEST(WorkerDeviceTest, CudaWhereItCannotBeUsedFailsFastSayingWhy) {
  const auto start = std::chrono::steady_clock::now();
  const RunOutput out = WorkerWithDevice("cuda");
  const std::string all = out.Joined();
  if (Has(all, "device cuda (")) {
    GTEST_SKIP() << "this build and machine can train on CUDA";
  }
  EXPECT_EQ(out.exit_code, 1) << all;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_TRUE(Has(all, "cddp-worker: --device cuda: ")) << all;
  EXPECT_FALSE(Has(all, "no-such-dataset"))
      << "fails before loading data: " << all;
#if !CDDP_TORCH_HAS_CUDA
  EXPECT_TRUE(Has(all,
                  "this LibTorch is CPU-only (Debian's libtorch is); build "
                  "against a CUDA LibTorch, e.g. PyTorch's: "
                  "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; "
                  "print(torch.utils.cmake_prefix_path)')"))
      << all;
#endif
#if !CDDP_WITH_CUDA
  EXPECT_TRUE(Has(all, "built without -DCDDP_WITH_CUDA=ON")) << all;
#endif
}

TEST(WorkerDeviceTest, AutoTrainsWhereItCanAndSaysWhere) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR;
  const RunOutput out =
      RunToCompletion(LaunchArgs({"--device=auto", "--max_steps=10",
                                  "--train_limit=2000", "--eval_limit=500"}),
                      std::chrono::seconds(300));
  const std::string all = out.Joined();
  ASSERT_EQ(out.exit_code, 0) << all;
  EXPECT_EQ(
      out.LineStartingWith("workers' final parameters identical"),
      "workers' final parameters identical: yes; equal to the servers': yes")
      << all;
#if !CDDP_TORCH_HAS_CUDA || !CDDP_WITH_CUDA
  EXPECT_TRUE(Has(all, "device cpu (--device auto: ")) << all;
#endif
#if !CDDP_TORCH_HAS_CUDA
  EXPECT_TRUE(Has(all, "this LibTorch is CPU-only")) << all;
#endif
}

TEST(GpuTrainingTest, GpuWorkersTrainDenseAndCompressedAndACpuWorkerResumes) {
  const std::string why = WhyNoCuda();
  if (!why.empty()) GTEST_SKIP() << "no CUDA training here: " << why;
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR;
  const auto dir = std::filesystem::path(testing::TempDir()) / "gpu_ckpt";
  std::filesystem::remove_all(dir);

  // Compressed on the GPU, as the CPU test does it (training_test.cc).
  RunOutput out = RunToCompletion(
      LaunchArgs({"--device=cuda", "--max_steps=150", "--train_limit=20000",
                  "--eval_limit=2000", "--checkpoint_every=50",
                  "--checkpoint_dir=" + dir.string()}),
      std::chrono::seconds(300));
  std::string all = out.Joined();
  ASSERT_EQ(out.exit_code, 0) << all;
  EXPECT_TRUE(Has(all, "device cuda (--device cuda)")) << all;
  EXPECT_EQ(
      out.LineStartingWith("workers' final parameters identical"),
      "workers' final parameters identical: yes; equal to the servers': yes")
      << all;
  const std::string acc = out.LineStartingWith("final test accuracy: ");
  ASSERT_FALSE(acc.empty()) << all;
  EXPECT_GE(std::atof(acc.substr(21).c_str()), 90.0) << all;

  // The GPU workers' checkpoints resume CPU workers (same file format).
  out = RunToCompletion(
      LaunchArgs({"--device=cpu", "--max_steps=155", "--train_limit=20000",
                  "--eval_limit=500", "--checkpoint_dir=" + dir.string()}),
      std::chrono::seconds(300));
  all = out.Joined();
  ASSERT_EQ(out.exit_code, 0) << all;
  EXPECT_TRUE(Has(all, "resumed residuals from checkpoint (step 150)")) << all;

  // Uncompressed on the GPU.
  out = RunToCompletion(
      LaunchArgs({"--device=cuda", "--nocompress", "--max_steps=5",
                  "--train_limit=2000", "--eval_limit=500"}),
      std::chrono::seconds(300));
  all = out.Joined();
  ASSERT_EQ(out.exit_code, 0) << all;
  EXPECT_EQ(
      out.LineStartingWith("workers' final parameters identical"),
      "workers' final parameters identical: yes; equal to the servers': yes")
      << all;
}

}  // namespace
}  // namespace cddp
