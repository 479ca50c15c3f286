// Tests for cddp/options.h: validation names the bad field, and a worker's
// role and options come from the environment a launcher sets.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "cddp/options.h"

namespace cddp {
namespace {

// Sets environment variables for one test and removes them after it.
class EnvironmentTest : public ::testing::Test {
 protected:
  void Set(const char* name, const char* value) {
    setenv(name, value, 1);
    names_.push_back(name);
  }
  ~EnvironmentTest() override {
    for (const char* n : names_) unsetenv(n);
  }

 private:
  std::vector<const char*> names_;
};

TEST_F(EnvironmentTest, RoleAndFlagsComeFromTheLaunchersVariables) {
  Set("CDDP_SERVERS", "a:1,b:2");
  Set("CDDP_WORKER_ID", "1");
  Set("CDDP_NUM_WORKERS", "3");
  Set("CDDP_RATIO", "0.001");
  Set("CDDP_DGC_MOMENTUM", "0.9");
  Set("CDDP_COMPRESS", "true");
  Set("CDDP_MOMENTUM_MASKING", "false");
  Set("CDDP_RECONNECT_TIMEOUT_S", "7");
  Set("CDDP_RESULT_FILE", "/tmp/r");
  auto o = SyncOptionsFromEnvironment();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->servers, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(o->worker_id, 1u);
  EXPECT_EQ(o->num_workers, 3u);
  EXPECT_EQ(o->ratio, 0.001);
  EXPECT_EQ(o->dgc_momentum, 0.9);
  EXPECT_FALSE(o->momentum_masking);
  EXPECT_EQ(o->reconnect_timeout, absl::Seconds(7));
  EXPECT_EQ(o->result_file, "/tmp/r");
  EXPECT_TRUE(ValidateSyncOptions(*o).ok());
}

TEST_F(EnvironmentTest, TorchrunsRankAndWorldSizeAreUnderstood) {
  Set("CDDP_SERVERS", "a:1");
  Set("RANK", "2");
  Set("WORLD_SIZE", "4");
  SyncOptions defaults;
  defaults.ratio = 0.05;
  auto o = SyncOptionsFromEnvironment(defaults);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->worker_id, 2u);
  EXPECT_EQ(o->num_workers, 4u);
  EXPECT_EQ(o->ratio, 0.05);  // no variable: the default stays
}

TEST_F(EnvironmentTest, MissingOrMalformedVariablesAreNamed) {
  unsetenv("CDDP_SERVERS");
  auto o = SyncOptionsFromEnvironment();
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("CDDP_SERVERS"), std::string::npos);
  Set("CDDP_SERVERS", "a:1");
  Set("CDDP_WORKER_ID", "one");
  o = SyncOptionsFromEnvironment();
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("CDDP_WORKER_ID=\"one\""),
            std::string::npos)
      << o.status();
}

TEST(ValidateSyncOptionsTest, NamesTheBadField) {
  SyncOptions o;
  o.servers = {"a:1"};
  EXPECT_TRUE(ValidateSyncOptions(o).ok());
  auto message = [](const SyncOptions& bad) {
    return std::string(ValidateSyncOptions(bad).message());
  };
  SyncOptions bad = o;
  bad.servers.clear();
  EXPECT_NE(message(bad).find("--servers"), std::string::npos);
  bad = o;
  bad.ratio = 1.5;
  EXPECT_NE(message(bad).find("--ratio"), std::string::npos);
  bad = o;
  bad.value_type = "fp8";
  EXPECT_NE(message(bad).find("--value_type"), std::string::npos);
  bad = o;
  bad.index_encoding = "zip";
  EXPECT_NE(message(bad).find("--index_encoding"), std::string::npos);
  bad = o;
  bad.worker_id = 1;
  EXPECT_NE(message(bad).find("--worker_id 1 must be below --num_workers 1"),
            std::string::npos);
  bad = o;
  bad.compress = false;
  bad.density_warmup_steps = 10;
  EXPECT_NE(message(bad).find("--density_warmup_steps"), std::string::npos);
}

}  // namespace
}  // namespace cddp
