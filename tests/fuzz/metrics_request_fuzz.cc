// The metrics endpoint's request parsing (common/metrics_http_server.h,
// RouteMetricsRequest) on arbitrary request heads: it never fails, and it
// serves /metrics only to a well-formed GET of that path.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/strings/match.h"
#include "common/metrics_http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view head(reinterpret_cast<const char*>(data),
                               std::min<size_t>(size, 16384));
  const auto route = cddp::common::RouteMetricsRequest(head);
  if (route == cddp::common::MetricsRoute::kMetrics &&
      !absl::StartsWith(head, "GET /metrics")) {
    std::fprintf(stderr, "metrics_request_fuzz: /metrics for a bad head\n");
    std::abort();
  }
  return 0;
}
