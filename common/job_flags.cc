// Definitions of the job flags (see job_flags.h).
#include "common/job_flags.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(uint32_t, num_workers, 1,
          "workers in the job (worker ids 0..N-1); a server's round waits "
          "for all of them before it closes");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "checkpoint directory (empty: no checkpoints). A server resumes "
          "from DIR/server-<shard>.ckpt if it exists and writes it every "
          "--checkpoint_every rounds and at shutdown; a worker keeps its "
          "error-feedback residuals there");
ABSL_FLAG(int64_t, checkpoint_every, 100,
          "closed rounds (steps) between checkpoints, >= 1 (with "
          "--checkpoint_dir)");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port for the Prometheus /metrics endpoint (empty: none)");
ABSL_FLAG(std::string, tls_cert, "",
          "this process's certificate (PEM) for mutual TLS; a worker's must "
          "name it worker-<id> (scripts/make_certs.sh makes them)");
ABSL_FLAG(std::string, tls_key, "", "the private key (PEM) of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "the CA certificate (PEM) that signs every server's and worker's "
          "certificate; peers are verified against it");
ABSL_FLAG(bool, plaintext, false,
          "no TLS: anyone who reaches a server's port can join and push as "
          "any worker. Required when the --tls_* flags are not given");

namespace cddp::common {

std::vector<const absl::CommandLineFlag*> FlagsDefinedIn(
    absl::string_view filename) {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& entry : absl::GetAllFlags()) {
    const absl::CommandLineFlag* flag = entry.second;
    // Filename() is the name after the usage configuration's
    // normalize_filename (relative to the project root once
    // ParseProgramFlags ran), so it may be a tail of __FILE__.
    const std::string name = flag->Filename();
    if (name == filename ||
        (!name.empty() && absl::EndsWith(filename, absl::StrCat("/", name)))) {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) {
              return a->Name() < b->Name();
            });
  return flags;
}

std::vector<const absl::CommandLineFlag*> JobFlags() {
  return FlagsDefinedIn(__FILE__);
}

absl::Status ValidateJobFlags() {
  if (absl::GetFlag(FLAGS_num_workers) < 1) {
    return absl::InvalidArgumentError("--num_workers must be >= 1");
  }
  if (const int64_t every = absl::GetFlag(FLAGS_checkpoint_every); every < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint_every must be >= 1, got ", every));
  }
  return absl::OkStatus();
}

TlsOptions TlsOptionsFromFlags() {
  return {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
          absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_plaintext)};
}

}  // namespace cddp::common
