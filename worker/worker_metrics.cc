#include "worker/worker_metrics.h"

#include <string>

#include "common/metrics.h"

namespace cddp::worker {

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kData:
      return "data";
    case Phase::kForward:
      return "forward";
    case Phase::kBackward:
      return "backward";
    case Phase::kCompress:
      return "compress";
    case Phase::kPushPull:
      return "push_pull";
    case Phase::kApply:
      return "apply";
  }
  return "unknown";
}

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry,
                             uint32_t worker_id) {
  const std::string w = std::to_string(worker_id);
  auto& phase =
      common::HistogramFamily(registry, "cddp_worker_step_phase_seconds",
                              "Time spent in each phase of a training step");
  const auto buckets = common::WorkSecondsBuckets();
  for (int p = 0; p < kNumPhases; ++p) {
    phase_seconds[p] = &phase.Add(
        {{"worker", w}, {"phase", PhaseName(static_cast<Phase>(p))}}, buckets);
  }
  auto gauge = [&](const char* name, const char* help) {
    return &common::AddGauge(registry, name, help, {{"worker", w}});
  };
  auto counter = [&](const char* name, const char* help) {
    return &common::AddCounter(registry, name, help, {{"worker", w}});
  };
  steps = counter("cddp_worker_steps_total", "Training steps completed");
  step = gauge("cddp_worker_step", "Last completed training step");
  loss = gauge("cddp_worker_loss", "Training loss of the last batch");
  test_accuracy = gauge("cddp_worker_test_accuracy",
                        "Test-set accuracy at the last evaluation (0..1)");
  test_loss =
      gauge("cddp_worker_test_loss", "Test-set loss at the last evaluation");
  residual_norm = gauge("cddp_worker_residual_norm",
                        "L2 norm of the error-feedback residual");
  selected_fraction =
      gauge("cddp_worker_selected_fraction",
            "Fraction of gradient elements sent last step (the density, "
            "following --density_warmup_steps)");
  uplink_wire_bytes = counter("cddp_worker_uplink_wire_bytes_total",
                              "Encoded gradient bytes pushed to the servers");
  uplink_dense_bytes =
      counter("cddp_worker_uplink_dense_bytes_total",
              "Bytes the same gradients would take dense (fp32)");
  resyncs = counter("cddp_worker_resyncs_total",
                    "Pulls after a rejected or failed push");
}

}  // namespace cddp::worker
