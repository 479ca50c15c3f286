// The flags only cddp-server takes (the job's shared flags are in
// common/job_flags.h). Part of the tiny cddp_server_flags library (absl
// flags only), so cddp-launch can offer and forward them without linking
// gRPC.
//
// Thread-safety: absl flags; read them after ParseProgramFlags.
#ifndef CDDP_SERVER_SERVER_FLAGS_H_
#define CDDP_SERVER_SERVER_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/declare.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, listen);
ABSL_DECLARE_FLAG(uint32_t, shard_index);
ABSL_DECLARE_FLAG(uint32_t, num_shards);
ABSL_DECLARE_FLAG(std::string, optimizer);
ABSL_DECLARE_FLAG(double, lr);
ABSL_DECLARE_FLAG(double, momentum);
ABSL_DECLARE_FLAG(bool, nesterov);
ABSL_DECLARE_FLAG(double, weight_decay);
ABSL_DECLARE_FLAG(double, adam_beta1);
ABSL_DECLARE_FLAG(double, adam_beta2);
ABSL_DECLARE_FLAG(double, adam_epsilon);
ABSL_DECLARE_FLAG(absl::Duration, round_timeout);
ABSL_DECLARE_FLAG(absl::Duration, reply_timeout);
ABSL_DECLARE_FLAG(int, max_message_mb);
ABSL_DECLARE_FLAG(int, aggregation_threads);
ABSL_DECLARE_FLAG(std::string, downlink);
ABSL_DECLARE_FLAG(std::string, downlink_density);
ABSL_DECLARE_FLAG(std::string, downlink_value_type);

namespace cddp::server {

// The flags defined in server_flags.cc, sorted by name (found by their file
// name, so a flag added there is listed with no other change).
std::vector<const absl::CommandLineFlag*> ServerFlags();

}  // namespace cddp::server

#endif  // CDDP_SERVER_SERVER_FLAGS_H_
