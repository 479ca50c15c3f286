// Which of cddp-launch's flags go to which process. cddp-launch links the
// flag libraries of both programs (server/server_flags.h,
// worker/worker_flags.h, common/job_flags.h), so it takes every server and
// worker flag with the programs' own defaults; it forwards to the servers
// every server or job flag whose value differs from its default, and to the
// workers every worker or job flag that does. A flag is assigned by the file
// that defines it, so a flag added to one of those files later is forwarded
// with no change here.
//
// The flags the launcher sets itself for each process (kServerManagedFlags,
// kWorkerManagedFlags) may not be given to cddp-launch.
//
// Thread-safety: reads absl flags; call after parsing, from one thread.
#ifndef CDDP_DEPLOY_LOCAL_FORWARDED_FLAGS_H_
#define CDDP_DEPLOY_LOCAL_FORWARDED_FLAGS_H_

#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cddp::local {

// Set by the launcher for each server: its address, shard, shard count,
// metrics endpoint and (from cddp-launch's --tls_dir) its certificate.
inline constexpr absl::string_view kServerManagedFlags[] = {
    "listen", "metrics_listen", "num_shards", "shard_index",
    "tls_ca", "tls_cert",       "tls_key"};
// Set by the launcher for each worker: the servers, its id, its metrics
// endpoint, where it writes its result and (from --tls_dir) its
// certificate.
inline constexpr absl::string_view kWorkerManagedFlags[] = {
    "metrics_listen", "result_file", "servers",  "tls_ca",
    "tls_cert",       "tls_key",     "worker_id"};
// Passed to every process by the launcher from its own value (it starts
// that many workers), so not forwarded again; may be given to cddp-launch.
inline constexpr absl::string_view kLauncherPassedFlags[] = {"num_workers"};

// "--name=value" for each flag of `flags` whose current value differs from
// its default, in the order given. INVALID_ARGUMENT naming the flag if one
// whose name is in `managed` was given on the command line or differs from
// its default; nothing is returned then.
absl::StatusOr<std::vector<std::string>> FlagsToForward(
    absl::Span<const absl::CommandLineFlag* const> flags,
    absl::Span<const absl::string_view> managed);

struct ForwardedFlags {
  std::vector<std::string> server;  // server and job flags
  std::vector<std::string> worker;  // worker and job flags
};

// FlagsToForward over the server + job flags (managed: kServerManagedFlags)
// and over the worker + job flags (managed: kWorkerManagedFlags), less
// kLauncherPassedFlags. INVALID_ARGUMENT also for server and worker flags
// that contradict each other (CheckServerWorkerFlags).
absl::StatusOr<ForwardedFlags> FlagsForProcesses();

// INVALID_ARGUMENT, saying what to give instead, when the workers' and the
// servers' flags ask for something twice: momentum correction on the
// workers (--dgc_momentum) with momentum or Adam on the servers.
absl::Status CheckServerWorkerFlags();

// The worker flags as environment variables for a user's worker command
// (LaunchOptions::worker_command): "--name=value" becomes
// "CDDP_NAME=value", "--name" "CDDP_NAME=true" and "--noname"
// "CDDP_NAME=false". INVALID_ARGUMENT naming an argument that is not a flag.
absl::StatusOr<std::vector<std::string>> FlagsAsEnvironment(
    const std::vector<std::string>& flags);

}  // namespace cddp::local

#endif  // CDDP_DEPLOY_LOCAL_FORWARDED_FLAGS_H_
