#include "deploy/local/launcher.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "common/tls/tls_options.h"
#include "deploy/local/forwarded_flags.h"
#include "deploy/local/subprocess.h"

namespace cddp::local {
namespace {

using Clock = std::chrono::steady_clock;

struct Proc {
  std::string name;  // "server 0", "worker 1"
  bool is_worker = false;
  uint32_t index = 0;
  Subprocess process;
  bool exited = false;
  // How it was started, to restart it the same way.
  std::vector<std::string> argv, env;
};

// A temporary directory for the workers' result files, removed with
// everything in it when this goes out of scope.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "cddp-launch.XXXXXX")
            .string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("cannot create a temporary directory ", pattern, ": ",
                       strerror(errno)));
    }
    return TempDir(pattern);
  }
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

void PrintTail(const Proc& p) {
  std::fprintf(stderr, "---- last lines of %s ----\n", p.name.c_str());
  for (const auto& line : p.process.tail()) {
    std::fprintf(stderr, "  %s\n", line.c_str());
  }
  std::fprintf(stderr, "----\n");
}

// Asks `procs` to stop (SIGTERM), waits up to `grace`, then kills them.
void StopAll(std::vector<Proc*> procs, std::chrono::seconds grace, bool quiet) {
  for (Proc* p : procs) {
    if (!p->exited) p->process.Signal(SIGTERM);
  }
  const auto deadline = Clock::now() + grace;
  for (Proc* p : procs) {
    if (p->exited) continue;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    const int st =
        p->process.Wait(std::max(left, std::chrono::milliseconds(0)));
    std::vector<std::string> lines;
    while (p->process.ReadAvailable(&lines)) {
    }
    if (!quiet) {
      for (const auto& l : lines)
        std::printf("[%s] %s\n", p->name.c_str(), l.c_str());
    }
    p->exited = true;
    (void)st;
  }
}

// One run of RunLocalCluster: the processes, the workers' result files and
// the result being filled in. Start() launches the servers, then the
// workers; Wait() streams their output until every worker is done, one
// process fails, or an interrupt comes, and stops what is left.
class ClusterRun {
 public:
  ClusterRun(const LaunchOptions& o, Clock::time_point t_start,
             TempDir result_dir)
      : o_(o), t_start_(t_start), result_dir_(std::move(result_dir)) {
    result_.workers.resize(o_.num_workers);
    procs_.reserve(o_.num_servers + o_.num_workers);  // Proc* stay valid
  }

  // Picks the ports and starts every process. RESOURCE_EXHAUSTED without
  // enough free ports, INTERNAL if a process cannot be started.
  absl::Status Start() {
    const int per_server = o_.metrics ? 2 : 1;
    CDDP_ASSIGN_OR_RETURN(
        ports_,
        PickFreePorts(o_.host,
                      static_cast<int>(o_.num_servers) * per_server +
                          (o_.metrics ? static_cast<int>(o_.num_workers) : 0)));
    CDDP_RETURN_IF_ERROR(StartServers());
    CDDP_RETURN_IF_ERROR(StartWorkers());
    if (!o_.quiet) PrintBanner();
    return absl::OkStatus();
  }

  // Runs the job to its end (see RunLocalCluster) and returns its result.
  LaunchResult Wait(const std::atomic<bool>& interrupted) {
    for (auto& p : procs_) (p.is_worker ? workers_ : servers_).push_back(&p);
    while (workers_done_ < o_.num_workers) {
      EchoAvailableOutput();
      if (Proc* failed = ReapExited(); failed != nullptr) {
        if (!restartable_ || result_.restarts >= o_.max_restarts ||
            !Restart(*failed)) {
          return StopAfterFailure(*failed);
        }
      }
      if (interrupted.load()) return StopOnInterrupt();
    }
    // Every worker finished: the servers finish their open round and exit.
    StopAll(servers_, std::chrono::seconds(30), o_.quiet);
    return Finish();
  }

 private:
  std::string Endpoint(int port) const {
    return absl::StrCat(o_.host, ":", port);
  }
  std::string ResultFile(uint32_t worker) const {
    return absl::StrCat(result_dir_.path(), "/worker-", worker, ".result");
  }
  int NextPort() { return ports_[next_port_++]; }
  // Process `name`'s certificate flags (none without a TLS directory), or
  // the variables that say the same to a user's worker command.
  std::vector<std::string> TlsFlags(const std::string& name,
                                    bool as_environment = false) const {
    if (o_.tls_dir.empty()) return {};
    const common::TlsOptions t = common::TlsOptionsInDir(o_.tls_dir, name);
    if (as_environment) {
      return {absl::StrCat("CDDP_TLS_CERT=", t.cert_file),
              absl::StrCat("CDDP_TLS_KEY=", t.key_file),
              absl::StrCat("CDDP_TLS_CA=", t.ca_file)};
    }
    return {absl::StrCat("--tls_cert=", t.cert_file),
            absl::StrCat("--tls_key=", t.key_file),
            absl::StrCat("--tls_ca=", t.ca_file)};
  }

  // Starts one process with its metrics port after its own `argv` and
  // before `extra`; with `env` (a user's worker command, which has no
  // --metrics_listen) no metrics port, and `env` added to its environment.
  absl::Status StartProcess(const std::string& name, bool is_worker,
                            uint32_t index, std::vector<std::string> argv,
                            const std::vector<std::string>& extra,
                            std::vector<std::string> env = {}) {
    if (o_.metrics && env.empty()) {
      const int mport = NextPort();
      argv.push_back(absl::StrCat("--metrics_listen=", Endpoint(mport)));
      result_.metrics_endpoints.push_back(
          absl::StrCat(name, ": http://", Endpoint(mport), "/metrics"));
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    CDDP_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Start(argv, env));
    procs_.push_back({name, is_worker, index, std::move(p), false,
                      std::move(argv), std::move(env)});
    return absl::OkStatus();
  }

  // Starts a failed process again with its command, after the restart
  // delay. False (with result_.failure set) if it cannot be started.
  bool Restart(Proc& p) {
    ++result_.restarts;
    if (o_.registry != nullptr) {
      common::AddCounter(*o_.registry, "cddp_launch_restarts_total",
                         "Processes cddp-launch restarted after a failure",
                         {{"process", p.name}})
          .Increment();
    }
    std::fprintf(stderr, "[launch] %s; restarting it (restart %u of %u)\n",
                 result_.failure.c_str(), result_.restarts, o_.max_restarts);
    PrintTail(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(o_.restart_delay_ms));
    absl::StatusOr<Subprocess> started = Subprocess::Start(p.argv, p.env);
    if (!started.ok()) {
      result_.failure = absl::StrCat("cannot restart ", p.name, ": ",
                                     started.status().message());
      return false;
    }
    p.process = std::move(*started);
    p.exited = false;
    result_.failure.clear();
    return true;
  }

  absl::Status StartServers() {
    for (uint32_t s = 0; s < o_.num_servers; ++s) {
      const int port = NextPort();
      server_addresses_.push_back(Endpoint(port));
      std::vector<std::string> argv = {
          o_.server_binary, absl::StrCat("--listen=", Endpoint(port)),
          absl::StrCat("--shard_index=", s),
          absl::StrCat("--num_shards=", o_.num_servers),
          absl::StrCat("--num_workers=", o_.num_workers)};
      for (std::string& f : TlsFlags(absl::StrCat("server-", s))) {
        argv.push_back(std::move(f));
      }
      CDDP_RETURN_IF_ERROR(StartProcess(absl::StrCat("server ", s), false, s,
                                        std::move(argv), o_.server_flags));
    }
    return absl::OkStatus();
  }

  absl::Status StartWorkers() {
    if (!o_.worker_command.empty()) return StartWorkerCommands();
    const std::string servers =
        absl::StrCat("--servers=", absl::StrJoin(server_addresses_, ","));
    for (uint32_t w = 0; w < o_.num_workers; ++w) {
      std::vector<std::string> argv = {
          o_.worker_binary, servers, absl::StrCat("--worker_id=", w),
          absl::StrCat("--num_workers=", o_.num_workers),
          absl::StrCat("--result_file=", ResultFile(w))};
      for (std::string& f : TlsFlags(absl::StrCat("worker-", w))) {
        argv.push_back(std::move(f));
      }
      CDDP_RETURN_IF_ERROR(StartProcess(absl::StrCat("worker ", w), true, w,
                                        std::move(argv), o_.worker_flags));
    }
    return absl::OkStatus();
  }

  // A user's worker command per worker, its role in the environment
  // (LaunchOptions::worker_command).
  absl::Status StartWorkerCommands() {
    for (uint32_t w = 0; w < o_.num_workers; ++w) {
      std::vector<std::string> env = {
          absl::StrCat("CDDP_SERVERS=", absl::StrJoin(server_addresses_, ",")),
          absl::StrCat("CDDP_WORKER_ID=", w),
          absl::StrCat("RANK=", w),
          absl::StrCat("LOCAL_RANK=", w),
          absl::StrCat("CDDP_NUM_WORKERS=", o_.num_workers),
          absl::StrCat("WORLD_SIZE=", o_.num_workers),
          absl::StrCat("CDDP_RESULT_FILE=", ResultFile(w))};
      CDDP_ASSIGN_OR_RETURN(std::vector<std::string> flags,
                            FlagsAsEnvironment(o_.worker_flags));
      env.insert(env.end(), flags.begin(), flags.end());
      for (std::string& e :
           TlsFlags(absl::StrCat("worker-", w), /*as_environment=*/true)) {
        env.push_back(std::move(e));
      }
      env.insert(env.end(), o_.worker_env.begin(), o_.worker_env.end());
      CDDP_RETURN_IF_ERROR(StartProcess(absl::StrCat("worker ", w), true, w,
                                        o_.worker_command, {}, std::move(env)));
    }
    return absl::OkStatus();
  }

  void PrintBanner() const {
    std::printf("[launch] %u servers (%s), %u workers\n", o_.num_servers,
                absl::StrJoin(server_addresses_, ", ").c_str(), o_.num_workers);
    for (const auto& e : result_.metrics_endpoints) {
      std::printf("[launch] metrics %s\n", e.c_str());
    }
    std::fflush(stdout);
  }

  // Echoes a process's lines (tagged with its name unless the worker
  // already tagged them).
  void EchoLines(const Proc& p, const std::vector<std::string>& lines) const {
    for (const auto& line : lines) {
      if (o_.quiet) continue;
      if (line.rfind("[worker ", 0) == 0) {
        std::printf("%s\n", line.c_str());
      } else {
        std::printf("[%s] %s\n", p.name.c_str(), line.c_str());
      }
    }
  }

  // Waits up to 100 ms for output, then echoes what every process has.
  void EchoAvailableOutput() {
    std::vector<pollfd> fds;
    std::vector<Proc*> owners;
    for (auto& p : procs_) {
      if (p.process.output_fd() >= 0) {
        fds.push_back({p.process.output_fd(), POLLIN, 0});
        owners.push_back(&p);
      }
    }
    poll(fds.data(), fds.size(), 100);
    for (Proc* p : owners) {
      std::vector<std::string> lines;
      p->process.ReadAvailable(&lines);
      EchoLines(*p, lines);
    }
    std::fflush(stdout);
  }

  // Collects the processes that exited since the last call: a worker that
  // exited 0 with its result file is done; any other exit is a failure,
  // recorded in result_.failure, and the failed process is returned (the
  // rest are left for later), with restartable_ false when a restart cannot
  // help (a worker that exited 0 without its result, a usage error).
  // nullptr if nothing failed.
  Proc* ReapExited() {
    restartable_ = true;
    for (auto& p : procs_) {
      if (p.exited) continue;
      std::optional<int> st = p.process.Poll();
      if (!st.has_value()) continue;
      std::vector<std::string> lines;
      while (p.process.ReadAvailable(&lines)) {
      }
      EchoLines(p, lines);
      p.exited = true;
      const bool clean = WIFEXITED(*st) && WEXITSTATUS(*st) == 0;
      if (p.is_worker && clean) {
        absl::StatusOr<WorkerReport> report =
            ReadWorkerReport(ResultFile(p.index));
        if (report.ok() ||
            (absl::IsNotFound(report.status()) && !o_.worker_command.empty())) {
          if (report.ok()) result_.workers[p.index] = *report;
          ++workers_done_;
          continue;
        }
        result_.failure = absl::StrCat(p.name, " exited 0 but left no result: ",
                                       report.status().message());
        restartable_ = false;
      } else {
        result_.failure =
            absl::StrCat(p.name, " failed: ", Subprocess::ExitDescription(*st));
        // Exit status 2 is the programs' usage error (a bad flag): the same
        // command would fail the same way.
        if (WIFEXITED(*st) && WEXITSTATUS(*st) == 2) {
          restartable_ = false;
          absl::StrAppend(&result_.failure, " (a usage error: not restarted)");
        }
      }
      return &p;
    }
    return nullptr;
  }

  LaunchResult StopAfterFailure(const Proc& failed) {
    result_.exit_code = 1;
    std::fprintf(stderr, "[launch] %s; stopping the job\n",
                 result_.failure.c_str());
    PrintTail(failed);
    StopAll(workers_, std::chrono::seconds(10), o_.quiet);
    StopAll(servers_, std::chrono::seconds(10), o_.quiet);
    return Finish();
  }

  LaunchResult StopOnInterrupt() {
    std::fprintf(stderr,
                 "[launch] interrupted: workers checkpoint and stop, then "
                 "the servers\n");
    StopAll(workers_, std::chrono::seconds(60), o_.quiet);
    StopAll(servers_, std::chrono::seconds(30), o_.quiet);
    result_.exit_code = 130;
    result_.failure = "interrupted";
    return Finish();
  }

  LaunchResult Finish() {
    result_.seconds =
        std::chrono::duration<double>(Clock::now() - t_start_).count();
    return std::move(result_);
  }

  const LaunchOptions& o_;
  const Clock::time_point t_start_;
  LaunchResult result_;
  TempDir result_dir_;  // removed after the processes are gone
  std::vector<int> ports_;
  size_t next_port_ = 0;
  std::vector<std::string> server_addresses_;
  std::vector<Proc> procs_;
  std::vector<Proc*> workers_, servers_;
  uint32_t workers_done_ = 0;
  bool restartable_ = true;  // set by ReapExited
};

}  // namespace

absl::Status CheckTlsDir(const std::string& dir, uint32_t servers,
                         uint32_t workers) {
  std::vector<std::string> names;
  for (uint32_t s = 0; s < servers; ++s) {
    names.push_back(absl::StrCat("server-", s));
  }
  for (uint32_t w = 0; w < workers; ++w) {
    names.push_back(absl::StrCat("worker-", w));
  }
  for (const std::string& name : names) {
    const common::TlsOptions t = common::TlsOptionsInDir(dir, name);
    for (const std::string& path : {t.ca_file, t.cert_file, t.key_file}) {
      if (::access(path.c_str(), R_OK) != 0) {
        return absl::NotFoundError(
            absl::StrCat(path, " cannot be read; scripts/make_certs.sh ", dir,
                         " --servers ", servers, " --workers ", workers,
                         " makes what a job of this size needs"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LaunchResult> RunLocalCluster(
    const LaunchOptions& o, const std::atomic<bool>& interrupted) {
  const auto t_start = Clock::now();
  CDDP_ASSIGN_OR_RETURN(TempDir result_dir, TempDir::Create());
  ClusterRun run(o, t_start, std::move(result_dir));
  CDDP_RETURN_IF_ERROR(run.Start());
  return run.Wait(interrupted);
}

}  // namespace cddp::local
