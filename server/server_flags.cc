// Definitions of cddp-server's own flags (see server_flags.h).
#include "server/server_flags.h"

#include "absl/flags/flag.h"
#include "common/job_flags.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051",
          "host:port to serve gRPC on (port 0 picks a free one)");
ABSL_FLAG(uint32_t, shard_index, 0, "which shard of the flat vector to serve");
ABSL_FLAG(uint32_t, num_shards, 1, "number of shards (servers) in the job");
ABSL_FLAG(std::string, optimizer, "sgd", "sgd or adam");
ABSL_FLAG(double, lr, 0.01, "learning rate (> 0)");
ABSL_FLAG(double, momentum, 0.0, "SGD momentum in [0, 1); 0: none");
ABSL_FLAG(bool, nesterov, false, "Nesterov momentum (SGD with momentum)");
ABSL_FLAG(double, weight_decay, 0.0, "L2 weight decay added to the gradient");
ABSL_FLAG(double, adam_beta1, 0.9, "Adam first-moment decay");
ABSL_FLAG(double, adam_beta2, 0.999, "Adam second-moment decay");
ABSL_FLAG(double, adam_epsilon, 1e-8, "Adam epsilon");
ABSL_FLAG(absl::Duration, round_timeout, absl::Seconds(30),
          "a round still missing workers this long after its first push "
          "closes with the workers it has (e.g. 500ms, 30s)");
ABSL_FLAG(absl::Duration, reply_timeout, absl::Seconds(10),
          "a round ready to close waits this long for readers still "
          "streaming an older reply or a pull; then their streams fail "
          "(ABORTED) and the round closes");
ABSL_FLAG(int, max_message_mb, 256,
          "gRPC message size limit in MiB; must fit a Join carrying the "
          "shard's initial values (4 bytes per element); pushes and replies "
          "travel in pieces");
ABSL_FLAG(int, aggregation_threads, 0,
          "threads a round's close may use for a large shard (the sum of "
          "uncompressed pushes and the optimizer step; a part is at least "
          "256 Ki entries); 0: this machine's cores, at most 8. The result "
          "is the same bits whatever the count");
ABSL_FLAG(std::string, downlink, "dense",
          "what a round's reply carries. dense: the shard's whole slice; "
          "sparse: only the entries the round changed, exact (needs plain "
          "SGD: no momentum, no weight decay); compressed: the Top-K of what "
          "the workers' copy still lacks, with error feedback on the server "
          "(any optimizer; see --downlink_density)");
ABSL_FLAG(std::string, downlink_density, "auto",
          "compressed downlink: fraction of the shard sent per round, in "
          "(0, 1]; auto: as many pairs as the round's pushes carried "
          "together (the uplink's density times the workers)");
ABSL_FLAG(std::string, downlink_value_type, "fp32",
          "compressed downlink: fp32 | fp16 | bf16 values (the rounding "
          "error stays in the server's residual)");

namespace cddp::server {

std::vector<const absl::CommandLineFlag*> ServerFlags() {
  return common::FlagsDefinedIn(__FILE__);
}

}  // namespace cddp::server
