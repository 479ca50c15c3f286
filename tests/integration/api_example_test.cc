// The public C++ API as a user runs it: cddp-launch starts 2 parameter
// servers and, as its 2 workers, examples/cpp/mnist_custom (a model that is
// not one of cddp-worker's built-ins, trained through cddp::ParameterSync),
// which learns its role from the environment the launcher sets.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/support/launch_util.h"

namespace cddp {
namespace {

using testing_util::RunOutput;
using testing_util::RunToCompletion;

// The loss worker 0 printed at `step` ("[worker 0] step N loss X, ..."),
// or -1 when it printed none.
double LossAt(const RunOutput& out, int step) {
  const std::string line = out.LineStartingWith(
      "[worker 0] step " + std::to_string(step) + " loss ");
  const size_t at = line.find(" loss ");
  return at == std::string::npos ? -1 : std::atof(line.c_str() + at + 6);
}

TEST(ApiExampleTest, ACustomModelTrainsThroughTheApiBitIdenticalToTheServers) {
  const std::string mnist = std::string(CDDP_DATA_DIR) + "/mnist";
  if (!std::filesystem::exists(mnist + "/train-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST not in " << mnist << " (run scripts/setup.sh)";
  }
  // DGC on the workers (a forwarded worker flag, CDDP_DGC_MOMENTUM in the
  // example's environment), plain SGD and the sparse downlink on the
  // servers.
  const RunOutput out = RunToCompletion(
      {CDDP_LAUNCH_BIN, "--num_servers=2", "--num_workers=2", "--nometrics",
       "--plaintext", "--lr=0.05", "--momentum=0", "--downlink=sparse",
       "--dgc_momentum=0.9", "--round_timeout=60s", "--", CDDP_EXAMPLE_BIN,
       mnist, "100"},
      std::chrono::seconds(300));
  ASSERT_EQ(out.exit_code, 0) << out.Joined();
  EXPECT_EQ(
      out.LineStartingWith("workers' final parameters identical"),
      "workers' final parameters identical: yes; equal to the servers': yes")
      << out.Joined();
  const double first = LossAt(out, 50), last = LossAt(out, 100);
  ASSERT_GT(first, 0) << out.Joined();
  ASSERT_GT(last, 0) << out.Joined();
  EXPECT_LT(last, 1.5) << out.Joined();  // from ~2.3 (chance) at step 0
  // 1 % of each large tensor on the uplink, not a densified gradient.
  const std::string up = out.LineStartingWith("uplink: ");
  const size_t open = up.find('(');
  ASSERT_NE(open, std::string::npos) << out.Joined();
  EXPECT_LT(std::atof(up.c_str() + open + 1), 5.0) << out.Joined();
}

// Without the launcher's environment the example says what is missing.
TEST(ApiExampleTest, WithoutCddpServersTheExampleSaysWhatIsMissing) {
  const RunOutput out = RunToCompletion(
      {"/usr/bin/env", "-u", "CDDP_SERVERS", CDDP_EXAMPLE_BIN, "data/mnist"},
      std::chrono::seconds(60));
  EXPECT_EQ(out.exit_code, 2) << out.Joined();
  EXPECT_NE(out.Joined().find("CDDP_SERVERS is not set"), std::string::npos)
      << out.Joined();
}

}  // namespace
}  // namespace cddp
