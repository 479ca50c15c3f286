// End-to-end tests of the training system as users run it: cddp-launch
// starting 2 parameter servers and 2 workers as separate processes on
// loopback, training SimpleCNN on (a subset of) MNIST with 1 % density;
// the same job through mutual TLS.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/launch_util.h"

namespace cddp {
namespace {

using testing_util::RunOutput;
using testing_util::RunToCompletion;

bool HaveMnist() {
  return std::filesystem::exists(std::string(CDDP_DATA_DIR) +
                                 "/mnist/train-labels-idx1-ubyte") ||
         std::filesystem::exists(std::string(CDDP_DATA_DIR) +
                                 "/mnist/train-labels-idx1-ubyte.gz");
}

std::vector<std::string> LaunchArgs(std::vector<std::string> extra) {
  std::vector<std::string> argv = {
      CDDP_LAUNCH_BIN,      "--plaintext",
      "--num_servers=2",    "--num_workers=2",
      "--model=simple_cnn", "--dataset=mnist",
      "--ratio=0.01",       std::string("--data_dir=") + CDDP_DATA_DIR,
      "--eval_limit=2000",  "--threads=1",
      "--nometrics"};
  // The optimizer as cddp-launch's own defaults had it before it took the
  // programs' defaults.
  argv.insert(argv.end(),
              {"--lr=0.05", "--momentum=0.9", "--round_timeout=60s"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// The job ended well: at least `min_accuracy` % and every worker
// bit-identical to the servers.
void ExpectTrainedBitIdentical(const RunOutput& out, double min_accuracy) {
  ASSERT_EQ(out.exit_code, 0) << out.Joined();
  const std::string acc = out.LineStartingWith("final test accuracy: ");
  ASSERT_FALSE(acc.empty()) << out.Joined();
  EXPECT_GE(std::atof(acc.substr(21).c_str()), min_accuracy) << out.Joined();
  EXPECT_EQ(
      out.LineStartingWith("workers' final parameters identical"),
      "workers' final parameters identical: yes; equal to the servers': yes")
      << out.Joined();
}

// The "(x%" of the summary line starting with `prefix` ("uplink: ",
// "downlink: "): its bytes as a percentage of dense; -1 when missing.
double PercentOfDense(const RunOutput& out, const std::string& prefix) {
  const std::string line = out.LineStartingWith(prefix);
  const size_t open = line.find('(');
  return open == std::string::npos ? -1 : std::atof(line.c_str() + open + 1);
}

TEST(TrainingTest, TwoWorkersTwoShardsReachNinetyPercentBitIdentical) {
  if (!HaveMnist())
    GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR
                 << " (run scripts/setup.sh)";
  const RunOutput out =
      RunToCompletion(LaunchArgs({"--max_steps=150", "--train_limit=20000"}),
                      std::chrono::seconds(300));
  ExpectTrainedBitIdentical(out, 90.0);
  // The uplink carried about 1 % of the dense bytes (fp32 + delta-varint
  // indices: ~1.3 %), not a densified gradient.
  const double uplink = PercentOfDense(out, "uplink: ");
  EXPECT_GE(uplink, 0) << out.Joined();
  EXPECT_LT(uplink, 2.0) << out.Joined();
}

// The fast way to train with momentum: DGC's momentum correction on the
// workers (with the density warm-up), plain SGD on the servers, the exact
// sparse downlink; the downlink then carries a few percent of the dense
// bytes and the workers still end bit-identical to the servers.
TEST(TrainingTest, DgcWorkersTrainWithPlainSgdServersAndASparseDownlink) {
  if (!HaveMnist())
    GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR
                 << " (run scripts/setup.sh)";
  const RunOutput out = RunToCompletion(
      LaunchArgs({"--max_steps=150", "--train_limit=20000", "--momentum=0",
                  "--dgc_momentum=0.9", "--downlink=sparse",
                  "--density_warmup_steps=40", "--progress_every=10"}),
      std::chrono::seconds(300));
  ExpectTrainedBitIdentical(out, 90.0);
  const double downlink = PercentOfDense(out, "downlink: ");
  EXPECT_GE(downlink, 0) << out.Joined();
  EXPECT_LT(downlink, 10.0) << out.Joined();
  // The warm-up shows in the progress lines: the density at step 10 (about
  // 11 %) is far above the one at the end (1 %, plus the whole biases).
  const std::string joined = out.Joined();
  auto density_at = [&](const std::string& step) {
    const size_t line = joined.find("[worker 0] epoch 0 step " + step);
    const size_t at = joined.find("density ", line);
    if (line == std::string::npos || at == std::string::npos) return -1.0;
    return std::atof(joined.c_str() + at + 8);
  };
  const double early = density_at("10/150"), last = density_at("150/150");
  EXPECT_GT(last, 0.9) << joined;
  EXPECT_GT(early, 5 * last) << joined;
}

// The same job through mutual TLS (cddp-launch --tls_dir, every process
// with its own certificate) and in plaintext ends with the same parameters,
// bit for bit.
TEST(TrainingTest, TrainingThroughTlsGivesThePlaintextParameters) {
  if (!HaveMnist())
    GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR
                 << " (run scripts/setup.sh)";
  const std::string certs =
      ::testing::TempDir() + "/cddp_training_tls_" + std::to_string(::getpid());
  ASSERT_EQ(
      std::system((std::string(CDDP_SOURCE_DIR) + "/scripts/make_certs.sh '" +
                   certs + "' --servers 2 --workers 2 > /dev/null")
                      .c_str()),
      0);
  const std::vector<std::string> job = {"--max_steps=40", "--train_limit=5000"};
  std::vector<std::string> tls = LaunchArgs(job);
  tls.erase(std::find(tls.begin(), tls.end(), "--plaintext"));
  tls.push_back("--tls_dir=" + certs);
  const RunOutput secure = RunToCompletion(tls, std::chrono::seconds(300));
  const RunOutput plain =
      RunToCompletion(LaunchArgs(job), std::chrono::seconds(300));
  std::filesystem::remove_all(certs);
  ExpectTrainedBitIdentical(secure, 50.0);
  ExpectTrainedBitIdentical(plain, 50.0);
  const std::string crc = secure.LineStartingWith("final parameters crc32: ");
  ASSERT_FALSE(crc.empty()) << secure.Joined();
  EXPECT_EQ(crc, plain.LineStartingWith("final parameters crc32: "))
      << secure.Joined() << plain.Joined();
  // The servers did run TLS.
  EXPECT_NE(secure.Joined().find("(mutual TLS)"), std::string::npos)
      << secure.Joined();
}

TEST(TrainingTest, LauncherStopsTheJobWhenAProcessFails) {
  const RunOutput out = RunToCompletion(
      LaunchArgs({"--max_steps=5", "--dataset=no-such-dataset"}),
      std::chrono::seconds(120));
  EXPECT_EQ(out.exit_code, 1) << out.Joined();
  const std::string all = out.Joined();
  EXPECT_NE(all.find("failed: exit code 1"), std::string::npos) << all;
  EXPECT_NE(all.find("no-such-dataset"), std::string::npos)
      << all;  // its last lines
  EXPECT_NE(all.find("job FAILED"), std::string::npos) << all;
}

}  // namespace
}  // namespace cddp
