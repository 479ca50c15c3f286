// End-to-end tests of the training system as users run it: cddp-launch
// starting 2 parameter servers and 2 workers as separate processes on
// loopback, training SimpleCNN on (a subset of) MNIST with 1 % density.
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
  return std::filesystem::exists(std::string(CDDP_DATA_DIR) +
                                 "/mnist/train-labels-idx1-ubyte") ||
         std::filesystem::exists(std::string(CDDP_DATA_DIR) +
                                 "/mnist/train-labels-idx1-ubyte.gz");
}

std::vector<std::string> LaunchArgs(std::vector<std::string> extra) {
  std::vector<std::string> argv = {CDDP_LAUNCH_BIN,
                                   "--num_servers=2",
                                   "--num_workers=2",
                                   "--model=simple_cnn",
                                   "--dataset=mnist",
                                   "--ratio=0.01",
                                   std::string("--data_dir=") + CDDP_DATA_DIR,
                                   "--eval_limit=2000",
                                   "--threads=1",
                                   "--nometrics"};
  // The optimizer as cddp-launch's own defaults had it before it took the
  // programs' defaults.
  argv.insert(argv.end(),
              {"--lr=0.05", "--momentum=0.9", "--round_timeout=60s"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(TrainingTest, TwoWorkersTwoShardsReachNinetyPercentBitIdentical) {
  if (!HaveMnist())
    GTEST_SKIP() << "MNIST not in " << CDDP_DATA_DIR
                 << " (run scripts/setup.sh)";
  const RunOutput out =
      RunToCompletion(LaunchArgs({"--max_steps=150", "--train_limit=20000"}),
                      std::chrono::seconds(300));
  ASSERT_EQ(out.exit_code, 0) << out.Joined();
  const std::string acc = out.LineStartingWith("final test accuracy: ");
  ASSERT_FALSE(acc.empty()) << out.Joined();
  const double accuracy = std::atof(acc.substr(21).c_str());
  EXPECT_GE(accuracy, 90.0) << out.Joined();
  EXPECT_EQ(
      out.LineStartingWith("workers' final parameters identical"),
      "workers' final parameters identical: yes; equal to the servers': yes")
      << out.Joined();
  // The uplink carried about 1 % of the dense bytes (fp32 + delta-varint
  // indices: ~1.3 %), not a densified gradient.
  const std::string uplink = out.LineStartingWith("uplink: ");
  const size_t open = uplink.find('(');
  ASSERT_NE(open, std::string::npos) << out.Joined();
  EXPECT_LT(std::atof(uplink.substr(open + 1).c_str()), 2.0) << uplink;
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
