#include "worker/client/shard_client_metrics.h"

#include <string>

#include "prometheus/family.h"

namespace cddp::worker {

ShardClientMetrics::ShardClientMetrics(prometheus::Registry& registry,
                                       uint32_t worker_id,
                                       uint32_t num_shards) {
  const std::string w = std::to_string(worker_id);
  sent_bytes = &prometheus::BuildCounter()
                    .Name("cddp_client_sent_bytes_total")
                    .Help("Serialized bytes of requests sent to the shards")
                    .Register(registry)
                    .Add({{"worker", w}});
  received_bytes = &prometheus::BuildCounter()
                        .Name("cddp_client_received_bytes_total")
                        .Help("Serialized bytes of replies from the shards")
                        .Register(registry)
                        .Add({{"worker", w}});
  auto& latency = prometheus::BuildHistogram()
                      .Name("cddp_client_push_pull_seconds")
                      .Help("PushPull latency per shard, retries included")
                      .Register(registry);
  auto& retries_family = prometheus::BuildCounter()
                             .Name("cddp_client_retries_total")
                             .Help("Calls retried after UNAVAILABLE")
                             .Register(registry);
  auto& failures_family = prometheus::BuildCounter()
                              .Name("cddp_client_failures_total")
                              .Help("Calls that failed after all retries")
                              .Register(registry);
  for (uint32_t s = 0; s < num_shards; ++s) {
    const prometheus::Labels labels{{"worker", w}, {"shard", std::to_string(s)}};
    push_pull_seconds.push_back(&latency.Add(
        labels, prometheus::Histogram::BucketBoundaries{
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                    1.0, 2.5, 5.0, 10.0, 30.0}));
    retries.push_back(&retries_family.Add(labels));
    failures.push_back(&failures_family.Add(labels));
  }
}

}  // namespace cddp::worker
