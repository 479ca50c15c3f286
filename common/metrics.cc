// The shared bucket lists and family helpers of common/metrics.h.
#include "common/metrics.h"

namespace cddp::common {

prometheus::Histogram::BucketBoundaries WorkSecondsBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
}

prometheus::Histogram::BucketBoundaries RpcSecondsBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
}

prometheus::Histogram::BucketBoundaries WorkerCountBuckets() {
  return {1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128};
}

prometheus::Family<prometheus::Counter>& CounterFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& HistogramFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

prometheus::Counter& AddCounter(prometheus::Registry& registry,
                                const std::string& name,
                                const std::string& help,
                                const prometheus::Labels& labels) {
  return CounterFamily(registry, name, help).Add(labels);
}

prometheus::Gauge& AddGauge(prometheus::Registry& registry,
                            const std::string& name, const std::string& help,
                            const prometheus::Labels& labels) {
  return GaugeFamily(registry, name, help).Add(labels);
}

prometheus::Histogram& AddHistogram(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help, const prometheus::Labels& labels,
    const prometheus::Histogram::BucketBoundaries& buckets) {
  return HistogramFamily(registry, name, help).Add(labels, buckets);
}

}  // namespace cddp::common
