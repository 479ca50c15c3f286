// The training worker's Prometheus metrics, built once at start-up: step
// time by phase, loss, test accuracy, residual norm, selected fraction and
// bytes pushed against their dense equivalent. Fixed label `worker`.
//
// Thread-safe (prometheus-cpp metrics are atomic); immutable after
// construction.
#ifndef CDDP_WORKER_WORKER_METRICS_H_
#define CDDP_WORKER_WORKER_METRICS_H_

#include <array>
#include <cstdint>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace cddp::worker {

// The phases of one training step, in order.
enum class Phase { kData, kForward, kBackward, kCompress, kPushPull, kApply };
constexpr int kNumPhases = 6;
const char* PhaseName(Phase phase);

struct WorkerMetrics {
  WorkerMetrics(prometheus::Registry& registry, uint32_t worker_id);

  std::array<prometheus::Histogram*, kNumPhases> phase_seconds;
  prometheus::Counter* steps;
  prometheus::Gauge* step;           // the last completed step
  prometheus::Gauge* loss;           // training loss of the last batch
  prometheus::Gauge* test_accuracy;  // last evaluation (worker 0)
  prometheus::Gauge* test_loss;
  prometheus::Gauge* residual_norm;  // ||e|| after the last step
  prometheus::Gauge* selected_fraction;
  prometheus::Counter* uplink_wire_bytes;   // encoded pairs pushed
  prometheus::Counter* uplink_dense_bytes;  // the same gradients dense
  prometheus::Counter* resyncs;  // pulls after a rejected/failed push
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_WORKER_METRICS_H_
