// Forwarding cddp-launch's flags to the processes (see forwarded_flags.h).
#include "deploy/local/forwarded_flags.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/job_flags.h"
#include "common/status_macros.h"
#include "server/server_flags.h"
#include "worker/worker_flags.h"

namespace cddp::local {

absl::StatusOr<std::vector<std::string>> FlagsToForward(
    absl::Span<const absl::CommandLineFlag* const> flags,
    absl::Span<const absl::string_view> managed) {
  std::vector<std::string> args;
  for (const absl::CommandLineFlag* flag : flags) {
    const bool changed = flag->CurrentValue() != flag->DefaultValue();
    const bool is_managed = std::find(managed.begin(), managed.end(),
                                      flag->Name()) != managed.end();
    if (is_managed) {
      // absl keeps "given on the command line" internal; it also catches a
      // flag given with its default value.
      if (changed ||
          absl::flags_internal::WasPresentOnCommandLine(flag->Name())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", flag->Name(),
            " is set by cddp-launch for each process; do not give it"));
      }
      continue;
    }
    if (changed) {
      args.push_back(
          absl::StrCat("--", flag->Name(), "=", flag->CurrentValue()));
    }
  }
  return args;
}

absl::Status CheckServerWorkerFlags() {
  const double dgc = absl::GetFlag(FLAGS_dgc_momentum);
  if (dgc <= 0) return absl::OkStatus();
  if (absl::GetFlag(FLAGS_momentum) > 0 ||
      absl::GetFlag(FLAGS_optimizer) != "sgd") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dgc_momentum=", dgc,
        " puts momentum on the workers; with --momentum or --optimizer=adam "
        "on the servers it would apply twice. For DGC give --momentum=0 "
        "(plain SGD on the servers) and --downlink=sparse"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ForwardedFlags> FlagsForProcesses() {
  CDDP_RETURN_IF_ERROR(CheckServerWorkerFlags());
  std::vector<const absl::CommandLineFlag*> job = common::JobFlags();
  job.erase(std::remove_if(job.begin(), job.end(),
                           [](const absl::CommandLineFlag* f) {
                             return std::find(std::begin(kLauncherPassedFlags),
                                              std::end(kLauncherPassedFlags),
                                              f->Name()) !=
                                    std::end(kLauncherPassedFlags);
                           }),
            job.end());
  std::vector<const absl::CommandLineFlag*> server = server::ServerFlags();
  std::vector<const absl::CommandLineFlag*> worker = worker::WorkerFlags();
  server.insert(server.end(), job.begin(), job.end());
  worker.insert(worker.end(), job.begin(), job.end());
  ForwardedFlags out;
  CDDP_ASSIGN_OR_RETURN(out.server,
                        FlagsToForward(server, kServerManagedFlags));
  CDDP_ASSIGN_OR_RETURN(std::vector<std::string> w,
                        FlagsToForward(worker, kWorkerManagedFlags));
  out.worker = std::move(w);
  return out;
}

absl::StatusOr<std::vector<std::string>> FlagsAsEnvironment(
    const std::vector<std::string>& flags) {
  std::vector<std::string> env;
  for (const std::string& flag : flags) {
    absl::string_view f = flag;
    if (!absl::ConsumePrefix(&f, "--") || f.empty() || f[0] == '=') {
      return absl::InvalidArgumentError(
          absl::StrCat("worker argument \"", flag, "\" is not a --flag"));
    }
    std::string name, value;
    if (const size_t eq = f.find('='); eq != absl::string_view::npos) {
      name = std::string(f.substr(0, eq));
      value = std::string(f.substr(eq + 1));
    } else if (absl::ConsumePrefix(&f, "no")) {
      name = std::string(f);
      value = "false";
    } else {
      name = std::string(f);
      value = "true";
    }
    env.push_back(
        absl::StrCat("CDDP_", absl::AsciiStrToUpper(name), "=", value));
  }
  return env;
}

}  // namespace cddp::local
