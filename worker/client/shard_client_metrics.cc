#include "worker/client/shard_client_metrics.h"

#include <string>

#include "common/metrics.h"

namespace cddp::worker {

ShardClientMetrics::ShardClientMetrics(prometheus::Registry& registry,
                                       uint32_t worker_id,
                                       uint32_t num_shards) {
  const std::string w = std::to_string(worker_id);
  sent_bytes = &common::AddCounter(
      registry, "cddp_client_sent_bytes_total",
      "Serialized bytes of requests sent to the shards", {{"worker", w}});
  received_bytes = &common::AddCounter(
      registry, "cddp_client_received_bytes_total",
      "Serialized bytes of replies from the shards", {{"worker", w}});
  auto& latency =
      common::HistogramFamily(registry, "cddp_client_push_pull_seconds",
                              "PushPull latency per shard, retries included");
  auto& retries_family = common::CounterFamily(
      registry, "cddp_client_retries_total", "Calls retried after UNAVAILABLE");
  auto& failures_family =
      common::CounterFamily(registry, "cddp_client_failures_total",
                            "Calls that failed after all retries");
  const auto buckets = common::RpcSecondsBuckets();
  for (uint32_t s = 0; s < num_shards; ++s) {
    const prometheus::Labels labels{{"worker", w},
                                    {"shard", std::to_string(s)}};
    push_pull_seconds.push_back(&latency.Add(labels, buckets));
    retries.push_back(&retries_family.Add(labels));
    failures.push_back(&failures_family.Add(labels));
  }
}

}  // namespace cddp::worker
