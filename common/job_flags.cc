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

}  // namespace cddp::common
