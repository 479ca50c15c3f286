// The metrics endpoint's request parsing (common/metrics_http_server.h,
// RouteMetricsRequest) on arbitrary request heads: it never fails, and it
// serves /metrics only to a well-formed GET of that path.
#include <algorithm>
#include <cstdint>
#include <string_view>

#include "absl/strings/match.h"
#include "common/metrics_http_server.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view head(reinterpret_cast<const char*>(data),
                               std::min<size_t>(size, 16384));
  const auto route = cddp::common::RouteMetricsRequest(head);
  cddp::fuzz::Check(route != cddp::common::MetricsRoute::kMetrics ||
                        absl::StartsWith(head, "GET /metrics"),
                    "/metrics served for a malformed head");
  return 0;
}
