// A minimal HTTP endpoint that serves a prometheus::Registry in the text
// exposition format at /metrics.
//
// Why not prometheus::Exposer: its civetweb server fails to start in any
// process that loads Debian's libtorch_cpu (mg_start returns null after
// binding; reproducible by LD_PRELOADing libtorch_cpu.so into cddp-server),
// and its destructor takes ~2 s. No HTTP library from Debian fits better:
// cpp-httplib or libmicrohttpd would bring a thread pool and a dependency
// for one GET, and civetweb is what fails.
//
// Connections are served concurrently, each on its own short-lived thread,
// up to kMaxConnections at once (more get 503); each has kRequestTimeoutMs
// to send its request head, however slowly it trickles in, and
// kSendTimeoutMs per blocked write of the reply, so no client can hold up
// another's scrape. Only "GET /metrics" (optionally with a query) and
// "GET /" are served; every other path is 404, every other method 405.
//
// Thread-safe: the serving threads only read the registry (prometheus-cpp
// collects under its own locks). Start/destroy from one thread.
#ifndef CDDP_COMMON_METRICS_HTTP_SERVER_H_
#define CDDP_COMMON_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/registry.h"

namespace cddp::common {

// What a request head ("METHOD TARGET VERSION\r\n..." as received, at most
// 16 KiB) asks of the metrics endpoint: the page, /metrics, or which error.
// A pure function of its argument, so any bytes at all are a valid input
// (tests/fuzz/metrics_request_fuzz.cc).
enum class MetricsRoute {
  kBadRequest,        // 400: no "METHOD TARGET VERSION" line
  kMethodNotAllowed,  // 405: not GET
  kNotFound,          // 404: another path
  kIndex,             // GET /
  kMetrics,           // GET /metrics (any query)
};
MetricsRoute RouteMetricsRequest(absl::string_view head);

class MetricsHttpServer {
 public:
  // Listens on `address` ("host:port", "[v6]:port"; port 0 picks a free
  // one) and serves `registry`. INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE (with the reason) if it cannot listen.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address,
      std::shared_ptr<prometheus::Registry> registry);

  // Stops serving and waits for the connections in flight (each bounded by
  // the timeouts below).
  ~MetricsHttpServer();

  static constexpr int kMaxConnections = 16;
  static constexpr int kRequestTimeoutMs = 5000;
  static constexpr int kSendTimeoutMs = 5000;

  // The port actually bound.
  int port() const { return port_; }

 private:
  MetricsHttpServer(int listen_fd, int port,
                    std::shared_ptr<prometheus::Registry> registry);
  void Serve();
  void HandleConnection(int fd);

  int listen_fd_;
  int port_;
  int stop_pipe_[2] = {-1, -1};
  std::shared_ptr<prometheus::Registry> registry_;
  std::thread thread_;
  // The connections being served, shared with their threads so that a
  // thread's last touch (the decrement) is of this, never of the server.
  struct Connections {
    absl::Mutex mu;
    int active ABSL_GUARDED_BY(mu) = 0;
  };
  std::shared_ptr<Connections> connections_ = std::make_shared<Connections>();
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_METRICS_HTTP_SERVER_H_
