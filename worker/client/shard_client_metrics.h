// The Prometheus metrics of a worker's ShardClient, built once when the
// client is created: bytes sent and received, push-pull latency per shard,
// retries and failures. Fixed labels `worker` and (where per shard) `shard`.
//
// Thread-safe: prometheus-cpp metrics are atomic; immutable after
// construction.
#ifndef CDDP_WORKER_CLIENT_SHARD_CLIENT_METRICS_H_
#define CDDP_WORKER_CLIENT_SHARD_CLIENT_METRICS_H_

#include <cstdint>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace cddp::worker {

struct ShardClientMetrics {
  ShardClientMetrics(prometheus::Registry& registry, uint32_t worker_id,
                     uint32_t num_shards);

  prometheus::Counter* sent_bytes;
  prometheus::Counter* received_bytes;
  std::vector<prometheus::Histogram*> push_pull_seconds;  // per shard
  std::vector<prometheus::Counter*> retries;              // per shard
  std::vector<prometheus::Counter*> failures;             // per shard
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_SHARD_CLIENT_METRICS_H_
