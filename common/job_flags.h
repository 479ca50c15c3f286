// The flags of the job that both cddp-server and cddp-worker take (and so
// cddp-launch too): one definition each, so the programs cannot disagree on
// a name, a type or a default. Part of the tiny cddp_job_flags library
// (absl flags only), which cddp-launch links without gRPC or LibTorch.
//
// Thread-safety: absl flags; read them after ParseProgramFlags.
#ifndef CDDP_COMMON_JOB_FLAGS_H_
#define CDDP_COMMON_JOB_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "common/tls/tls_options.h"

ABSL_DECLARE_FLAG(uint32_t, num_workers);
ABSL_DECLARE_FLAG(std::string, checkpoint_dir);
ABSL_DECLARE_FLAG(int64_t, checkpoint_every);
ABSL_DECLARE_FLAG(std::string, metrics_listen);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(bool, plaintext);

namespace cddp::common {

// The flags defined in job_flags.cc (found by their file name, so a flag
// added there is listed with no other change).
std::vector<const absl::CommandLineFlag*> JobFlags();

// The flags defined in the file `filename` (the __FILE__ of the flag
// file), sorted by name: how each flag file lists its own flags.
std::vector<const absl::CommandLineFlag*> FlagsDefinedIn(
    absl::string_view filename);

// Checks the job flags' values: INVALID_ARGUMENT naming the flag for
// --num_workers < 1 or --checkpoint_every < 1.
absl::Status ValidateJobFlags();

// --tls_cert, --tls_key, --tls_ca and --plaintext as TlsOptions (checked by
// common::CheckTlsOptions where the credentials are made).
TlsOptions TlsOptionsFromFlags();

}  // namespace cddp::common

#endif  // CDDP_COMMON_JOB_FLAGS_H_
