// Tests for the flags cddp-launch forwards to its servers and workers: only
// non-default values, each to the programs whose flag files define it, and
// a clear error for a flag the launcher sets per process.
#include "deploy/local/forwarded_flags.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/time/time.h"
#include "common/job_flags.h"
#include "server/server_flags.h"
#include "worker/worker_flags.h"

namespace cddp::local {
namespace {

using Args = std::vector<std::string>;

// FlagsForProcesses asks absl which flags were on the command line, which
// needs a parsed one: an empty command line, once.
void ParseEmptyCommandLine() {
  static const bool parsed = [] {
    char name[] = "cddp_local_test";
    char* argv[] = {name, nullptr};
    absl::ParseCommandLine(1, argv);
    return true;
  }();
  (void)parsed;
}

bool Lists(const std::vector<const absl::CommandLineFlag*>& flags,
           const std::string& name) {
  return std::any_of(
      flags.begin(), flags.end(),
      [&](const absl::CommandLineFlag* f) { return f->Name() == name; });
}

TEST(ForwardedFlagsTest, EachFlagFileListsItsOwnFlags) {
  const auto server = server::ServerFlags();
  const auto worker = worker::WorkerFlags();
  const auto job = common::JobFlags();
  EXPECT_TRUE(Lists(server, "lr"));
  EXPECT_TRUE(Lists(server, "round_timeout"));
  EXPECT_FALSE(Lists(server, "model"));
  EXPECT_TRUE(Lists(worker, "ratio"));
  EXPECT_TRUE(Lists(worker, "result_file"));
  EXPECT_FALSE(Lists(worker, "lr"));
  EXPECT_TRUE(Lists(job, "num_workers"));
  EXPECT_TRUE(Lists(job, "checkpoint_every"));
  EXPECT_FALSE(Lists(job, "lr"));
  // cddp-launch's own flags belong to none of them.
  for (const auto* list : {&server, &worker, &job}) {
    EXPECT_FALSE(Lists(*list, "num_servers"));
  }
}

TEST(ForwardedFlagsTest, DefaultsForwardNothing) {
  ParseEmptyCommandLine();
  absl::FlagSaver saver;
  absl::StatusOr<ForwardedFlags> f = FlagsForProcesses();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->server, Args{});
  EXPECT_EQ(f->worker, Args{});
}

TEST(ForwardedFlagsTest, ChangedFlagsGoToTheProgramsThatDefineThem) {
  ParseEmptyCommandLine();
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_lr, 0.05);
  absl::SetFlag(&FLAGS_momentum, 0.9);
  absl::SetFlag(&FLAGS_round_timeout, absl::Seconds(60));
  absl::SetFlag(&FLAGS_compress, false);
  absl::SetFlag(&FLAGS_ratio, 0.001);
  absl::SetFlag(&FLAGS_checkpoint_dir, "/tmp/ckpt");
  absl::SetFlag(&FLAGS_checkpoint_every, 50);
  // The launcher passes --num_workers itself; not forwarded twice.
  absl::SetFlag(&FLAGS_num_workers, 4u);
  absl::StatusOr<ForwardedFlags> f = FlagsForProcesses();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->server,
            (Args{"--lr=0.05", "--momentum=0.9", "--round_timeout=1m",
                  "--checkpoint_dir=/tmp/ckpt", "--checkpoint_every=50"}));
  EXPECT_EQ(f->worker,
            (Args{"--compress=false", "--ratio=0.001",
                  "--checkpoint_dir=/tmp/ckpt", "--checkpoint_every=50"}));
}

TEST(ForwardedFlagsTest, ALauncherManagedFlagIsAnErrorNamingIt) {
  for (const char* name : {"listen", "shard_index", "num_shards", "servers",
                           "worker_id", "metrics_listen", "result_file"}) {
    ParseEmptyCommandLine();
    absl::FlagSaver saver;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    ASSERT_NE(flag, nullptr) << name;
    std::string error;
    const std::string value = flag->Name() == "shard_index" ||
                                      flag->Name() == "num_shards" ||
                                      flag->Name() == "worker_id"
                                  ? "3"
                                  : "127.0.0.1:1";
    ASSERT_TRUE(flag->ParseFrom(value, &error)) << error;
    absl::StatusOr<ForwardedFlags> f = FlagsForProcesses();
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(f.status().message().find(std::string("--") + name +
                                        " is set "
                                        "by cddp-launch"),
              std::string::npos)
        << f.status();
  }
}

TEST(ForwardedFlagsTest, WorkerMomentumWithServerMomentumIsRefused) {
  ParseEmptyCommandLine();
  {
    absl::FlagSaver saver;
    absl::SetFlag(&FLAGS_dgc_momentum, 0.9);
    absl::SetFlag(&FLAGS_momentum, 0.9);
    absl::StatusOr<ForwardedFlags> f = FlagsForProcesses();
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(f.status().message().find("--momentum=0"), std::string::npos)
        << f.status();
  }
  {
    absl::FlagSaver saver;
    absl::SetFlag(&FLAGS_dgc_momentum, 0.9);
    absl::SetFlag(&FLAGS_optimizer, std::string("adam"));
    EXPECT_EQ(FlagsForProcesses().status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  {
    absl::FlagSaver saver;
    absl::SetFlag(&FLAGS_dgc_momentum, 0.9);
    absl::SetFlag(&FLAGS_downlink, std::string("sparse"));
    absl::StatusOr<ForwardedFlags> f = FlagsForProcesses();
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->worker, Args{"--dgc_momentum=0.9"});
  }
}

TEST(ForwardedFlagsTest, WorkerFlagsBecomeEnvironmentForAWorkerCommand) {
  auto env = FlagsAsEnvironment(
      {"--ratio=0.001", "--dgc_momentum=0.9", "--nocompress", "--verbose"});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(*env, (std::vector<std::string>{
                      "CDDP_RATIO=0.001", "CDDP_DGC_MOMENTUM=0.9",
                      "CDDP_COMPRESS=false", "CDDP_VERBOSE=true"}));
  EXPECT_EQ(FlagsAsEnvironment({"ratio=0.1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlagsAsEnvironment({"--=1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cddp::local
