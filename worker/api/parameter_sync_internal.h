// What the built-in trainer and the tests need of ParameterSync beyond the
// public API (cddp/cddp.h): an injected connection to the servers (tests use
// an in-process cluster), the stop flag, and the worker's metrics.
#ifndef CDDP_WORKER_API_PARAMETER_SYNC_INTERNAL_H_
#define CDDP_WORKER_API_PARAMETER_SYNC_INTERNAL_H_

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "cddp/cddp.h"
#include "worker/api/parameter_client_factory.h"
#include "worker/worker_metrics.h"

namespace cddp::internal {

// ParameterSync::Create with the servers reached through `factory` (null:
// ShardClientFactory(options)) and a join that `stop` (optional) cuts short.
absl::StatusOr<std::unique_ptr<ParameterSync>> CreateParameterSync(
    std::vector<NamedTensor> parameters, SyncOptions options,
    worker::ParameterClientFactory factory, const std::atomic<bool>* stop);

// The worker's metrics (options.registry's), or null without a registry:
// ParameterSync records the compression and exchange; the caller adds loss,
// the other phases and evaluations.
worker::WorkerMetrics* MetricsOf(ParameterSync& sync);

}  // namespace cddp::internal

#endif  // CDDP_WORKER_API_PARAMETER_SYNC_INTERNAL_H_
