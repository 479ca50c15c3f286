// Building Prometheus metrics the same way in every component: the shared
// histogram bucket lists (so the dashboards' quantiles compare like with
// like) and one-call helpers that register a family and add a labelled
// series to it. Components call these once, at start-up, from their metrics
// struct; never on a hot path (Family::Add takes a lock and hashes labels).
//
// Registering a name that is already in the registry returns the existing
// family (prometheus-cpp's rule), so several structs (one per shard, say) can
// share a registry as long as they use the same help text and label names.
//
// Thread-safety: the helpers are as thread-safe as prometheus::Registry
// (which locks); the metrics they return are atomic.
#ifndef CDDP_COMMON_METRICS_H_
#define CDDP_COMMON_METRICS_H_

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"

namespace cddp::common {

// Seconds of in-process work (a step phase, a round, aggregation, a
// checkpoint): 0.5 ms .. 10 s.
prometheus::Histogram::BucketBoundaries WorkSecondsBuckets();
// Seconds of a remote call, retries included: 1 ms .. 30 s.
prometheus::Histogram::BucketBoundaries RpcSecondsBuckets();
// A number of workers: 1 .. 128.
prometheus::Histogram::BucketBoundaries WorkerCountBuckets();

// The family `name` (registered now, or the one already registered).
// prometheus-cpp throws std::invalid_argument on a bad name or on a name
// registered as another metric type: programmer errors, fixed names.
prometheus::Family<prometheus::Counter>& CounterFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help);
prometheus::Family<prometheus::Gauge>& GaugeFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help);
prometheus::Family<prometheus::Histogram>& HistogramFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help);

// The series `labels` of family `name` (created now, or the existing one).
prometheus::Counter& AddCounter(prometheus::Registry& registry,
                                const std::string& name,
                                const std::string& help,
                                const prometheus::Labels& labels);
prometheus::Gauge& AddGauge(prometheus::Registry& registry,
                            const std::string& name, const std::string& help,
                            const prometheus::Labels& labels);
prometheus::Histogram& AddHistogram(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help, const prometheus::Labels& labels,
    const prometheus::Histogram::BucketBoundaries& buckets);

}  // namespace cddp::common

#endif  // CDDP_COMMON_METRICS_H_
