// Serving a prometheus::Registry over HTTP (/metrics). prometheus-cpp
// throws when the address cannot be bound; this turns that into a Status.
// Keep one Exposer per process (its destructor takes ~2 s).
#ifndef CDDP_COMMON_METRICS_EXPOSER_H_
#define CDDP_COMMON_METRICS_EXPOSER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace cddp::common {

// Starts an Exposer on `address` ("host:port"; port 0 picks one) serving
// `registry`. UNAVAILABLE with the address and reason if it cannot listen.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address,
    const std::shared_ptr<prometheus::Registry>& registry);

}  // namespace cddp::common

#endif  // CDDP_COMMON_METRICS_EXPOSER_H_
