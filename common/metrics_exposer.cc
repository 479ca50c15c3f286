#include "common/metrics_exposer.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace cddp::common {

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address,
    const std::shared_ptr<prometheus::Registry>& registry) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address);
    exposer->RegisterCollectable(registry);
    return exposer;
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on '", address, "': ", e.what()));
  }
}

}  // namespace cddp::common
