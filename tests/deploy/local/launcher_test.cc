// Tests for RunLocalCluster's handling of the workers' result files, with
// shell scripts standing in for cddp-server and cddp-worker: the report
// comes from each worker's --result_file, the launcher's temporary
// directory is removed afterwards, and a worker that exits 0 without a
// result is a failure saying so, as is a worker that fails past the restart
// budget; a failed process is restarted within it; an interrupt stops the
// job with 130; the children die with the launcher.
#include "deploy/local/launcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/metrics.h"
#include "deploy/local/subprocess.h"

namespace cddp::local {
namespace {

// Scripts live in a directory of their own per test and process: ctest runs
// the tests of this binary as parallel processes, which must not overwrite
// each other's stand-ins.
std::string Script(const std::string& name, const std::string& body) {
  const auto dir =
      std::filesystem::path(testing::TempDir()) /
      ("cddp_launch_" +
       std::string(
           testing::UnitTest::GetInstance()->current_test_info()->name()) +
       "_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path) << "#!/bin/sh\n" << body;
  chmod(path.c_str(), 0755);
  return path;
}

LaunchOptions Options(const std::string& worker_body) {
  LaunchOptions o;
  // Serves nothing; SIGTERM ends it.
  o.server_binary = Script("server.sh", "exec sleep 60\n");
  o.worker_binary = Script("worker.sh", worker_body);
  o.num_servers = 1;
  o.num_workers = 2;
  o.metrics = false;
  o.quiet = true;
  o.restart_delay_ms = 10;
  return o;
}

// Writes a result file for the worker whose flags are "$@" (steps = id + 7).
const char kWriteResult[] =
    "for a; do case \"$a\" in --result_file=*) f=${a#--result_file=};; "
    "--worker_id=*) id=${a#--worker_id=};; esac; done\n"
    "printf 'steps=%s\\ntest_accuracy=0.5\\nuplink_wire_bytes=10\\n"
    "uplink_dense_bytes=1000\\ndownlink_bytes=20\\nparams_crc32=0000abcd\\n"
    "params_match_servers=1\\n' $((id + 7)) > \"$f.tmp\" && "
    "mv \"$f.tmp\" \"$f\"\n";

TEST(LauncherTest, ReadsEachWorkersResultFileAndRemovesTheDirectory) {
  const std::string seen = testing::TempDir() + "/cddp_launch_result_path_" +
                           std::to_string(getpid());
  const LaunchOptions o = Options(
      "for a; do case \"$a\" in --result_file=*) f=${a#--result_file=};; "
      "--worker_id=*) id=${a#--worker_id=};; esac; done\n"
      "echo \"$f\" > " +
      seen +
      "\n"
      "printf 'steps=%s\\ntest_accuracy=0.5\\nuplink_wire_bytes=10\\n"
      "uplink_dense_bytes=1000\\ndownlink_bytes=20\\nparams_crc32=0000abcd\\n"
      "params_match_servers=1\\n' $((id + 7)) > \"$f.tmp\" && "
      "mv \"$f.tmp\" \"$f\"\n");
  std::atomic<bool> interrupted{false};
  absl::StatusOr<LaunchResult> r = RunLocalCluster(o, interrupted);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->failure;
  ASSERT_EQ(r->workers.size(), 2u);
  for (uint32_t w = 0; w < 2; ++w) {
    EXPECT_TRUE(r->workers[w].seen);
    EXPECT_EQ(r->workers[w].steps, 7u + w);
    EXPECT_EQ(r->workers[w].uplink_wire_bytes, 10u);
    EXPECT_EQ(r->workers[w].params_crc32, "0000abcd");
    EXPECT_TRUE(r->workers[w].params_match_servers);
  }
  std::string path;
  std::ifstream(seen) >> path;
  ASSERT_FALSE(path.empty());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(path))) << path;
  EXPECT_FALSE(
      std::filesystem::exists(std::filesystem::path(path).parent_path()))
      << path;
}

TEST(LauncherTest, AWorkerThatExitsZeroWithoutAResultFailsTheJob) {
  const LaunchOptions o = Options("exit 0\n");
  std::atomic<bool> interrupted{false};
  absl::StatusOr<LaunchResult> r = RunLocalCluster(o, interrupted);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->failure.find("exited 0 but left no result"), std::string::npos)
      << r->failure;
  EXPECT_NE(r->failure.find(".result"), std::string::npos) << r->failure;
}

TEST(LauncherTest, AWorkerThatFailsStopsTheJobNamingItsExitStatus) {
  const LaunchOptions o = Options("exit 3\n");
  std::atomic<bool> interrupted{false};
  absl::StatusOr<LaunchResult> r = RunLocalCluster(o, interrupted);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_EQ(r->failure.rfind("worker ", 0), 0u) << r->failure;
  EXPECT_NE(r->failure.find(" failed: exit code 3"), std::string::npos)
      << r->failure;
  EXPECT_EQ(r->restarts, o.max_restarts);  // the budget ran out first
}

TEST(LauncherTest, AUsageErrorStopsTheJobWithoutRestarts) {
  const LaunchOptions o =
      Options("echo 'cddp-worker: --ratio: bad' >&2; exit 2\n");
  std::atomic<bool> interrupted{false};
  absl::StatusOr<LaunchResult> r = RunLocalCluster(o, interrupted);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_EQ(r->restarts, 0u);
  EXPECT_NE(r->failure.find("exit code 2 (a usage error: not restarted)"),
            std::string::npos)
      << r->failure;
}

TEST(LauncherTest, AFailedProcessIsRestartedAndTheJobFinishes) {
  // Each worker is killed by a signal the first time it runs.
  const std::string marks =
      testing::TempDir() + "/cddp_launch_marks_" + std::to_string(getpid());
  std::filesystem::create_directories(marks);
  prometheus::Registry registry;
  LaunchOptions o =
      Options(std::string("for a; do case \"$a\" in --worker_id=*) "
                          "w=${a#--worker_id=};; esac; done\n") +
              "if [ ! -e " + marks + "/$w ]; then touch " + marks +
              "/$w; kill -9 $$; fi\n" + kWriteResult);
  o.registry = &registry;
  std::atomic<bool> interrupted{false};
  absl::StatusOr<LaunchResult> r = RunLocalCluster(o, interrupted);
  std::filesystem::remove_all(marks);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->failure;
  EXPECT_EQ(r->restarts, 2u);
  for (const WorkerReport& w : r->workers) EXPECT_TRUE(w.seen);
  // Counted per process for the launcher's /metrics.
  for (const char* name : {"worker 0", "worker 1"}) {
    EXPECT_EQ(common::AddCounter(registry, "cddp_launch_restarts_total", "",
                                 {{"process", name}})
                  .Value(),
              1)
        << name;
  }
}

TEST(LauncherTest, ChildrenDieWithTheLauncher) {
  // A stand-in launcher (a forked copy of this test) starts a child, then
  // dies by SIGKILL: the child gets SIGTERM and exits.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t launcher = fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    absl::StatusOr<Subprocess> child = Subprocess::Start({"sleep", "600"});
    const pid_t pid = child.ok() ? child->pid() : -1;
    (void)!write(fds[1], &pid, sizeof(pid));
    pause();
    _exit(0);
  }
  pid_t child = -1;
  ASSERT_EQ(read(fds[0], &child, sizeof(child)), sizeof(child));
  ASSERT_GT(child, 0);
  kill(launcher, SIGKILL);
  waitpid(launcher, nullptr, 0);
  // Gone, or a zombie waiting for whoever adopted it (bounded wait).
  const auto gone = [child] {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid, comm, state;
    return !(stat >> pid >> comm >> state) || state == "Z";
  };
  for (int i = 0; i < 300 && !gone(); ++i) usleep(100 * 1000);
  EXPECT_TRUE(gone()) << "child " << child << " outlived its launcher";
  if (!gone()) kill(child, SIGKILL);
  close(fds[0]);
  close(fds[1]);
}

TEST(LauncherTest, AnInterruptStopsEveryProcessWith130) {
  LaunchOptions o = Options("exec sleep 60\n");
  o.metrics = true;  // one /metrics port per process, in start order
  std::atomic<bool> interrupted{true};
  absl::StatusOr<LaunchResult> r = RunLocalCluster(o, interrupted);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 130);
  EXPECT_EQ(r->failure, "interrupted");
  ASSERT_EQ(r->metrics_endpoints.size(), 3u);
  EXPECT_EQ(r->metrics_endpoints[0].rfind("server 0: http://127.0.0.1:", 0),
            0u);
  EXPECT_EQ(r->metrics_endpoints[2].rfind("worker 1: http://127.0.0.1:", 0),
            0u);
  for (const WorkerReport& w : r->workers) EXPECT_FALSE(w.seen);
}

}  // namespace
}  // namespace cddp::local

namespace cddp::local {
namespace {

// With a TLS directory every process is handed its own certificate: servers
// server-<s>, workers worker-<w>, all the same CA.
TEST(LauncherTest, ATlsDirectoryGivesEachProcessItsOwnCertificate) {
  const std::string out =
      testing::TempDir() + "/cddp_launch_tls_args_" + std::to_string(getpid());
  std::filesystem::create_directories(out);
  LaunchOptions o =
      Options(std::string("for a; do case \"$a\" in --worker_id=*) "
                          "id=${a#--worker_id=};; esac; done\necho \"$@\" > ") +
              out + "/worker-$id\n" + kWriteResult);
  o.server_binary =
      Script("server.sh",
             "for a; do case \"$a\" in --shard_index=*) "
             "s=${a#--shard_index=};; esac; done\necho \"$@\" > " +
                 out + "/server-$s\nexec sleep 60\n");
  o.num_servers = 2;
  o.tls_dir = "/etc/cddp-certs";
  std::atomic<bool> interrupted{false};
  absl::StatusOr<LaunchResult> r = RunLocalCluster(o, interrupted);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->failure;
  for (const std::string name :
       {"server-0", "server-1", "worker-0", "worker-1"}) {
    std::string args;
    std::getline(std::ifstream(out + "/" + name), args);
    for (const std::string& want :
         {"--tls_cert=/etc/cddp-certs/" + name + ".crt",
          "--tls_key=/etc/cddp-certs/" + name + ".key",
          std::string("--tls_ca=/etc/cddp-certs/ca.crt")}) {
      EXPECT_NE(args.find(want), std::string::npos) << name << ": " << args;
    }
  }
  std::filesystem::remove_all(out);
}

TEST(LauncherTest, CheckTlsDirNamesTheFirstMissingFile) {
  const std::string dir =
      testing::TempDir() + "/cddp_launch_tls_dir_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  for (const char* f : {"ca.crt", "server-0.crt", "server-0.key",
                        "worker-0.crt", "worker-0.key"}) {
    std::ofstream(dir + "/" + f) << "x";
  }
  EXPECT_TRUE(CheckTlsDir(dir, 1, 1).ok());
  const absl::Status s = CheckTlsDir(dir, 1, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find(dir + "/worker-1.crt"), std::string::npos) << s;
  EXPECT_NE(
      s.message().find("make_certs.sh " + dir + " --servers 1 --workers 2"),
      std::string::npos)
      << s;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cddp::local
