// A minimal HTTP endpoint that serves a prometheus::Registry in the text
// exposition format at /metrics.
//
// Why not prometheus::Exposer: its civetweb server fails to start in any
// process that loads Debian's libtorch_cpu (mg_start returns null after
// binding; reproducible by LD_PRELOADing libtorch_cpu.so into cddp-server),
// and its destructor takes ~2 s. Scrapes are rare and small, so one thread
// serving one connection at a time is plenty.
//
// Thread-safe: the serving thread only reads the registry (prometheus-cpp
// collects under its own locks). Start/destroy from one thread.
#ifndef CDDP_COMMON_METRICS_HTTP_SERVER_H_
#define CDDP_COMMON_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace cddp::common {

class MetricsHttpServer {
 public:
  // Listens on `address` ("host:port", "[v6]:port"; port 0 picks a free
  // one) and serves `registry`. INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE (with the reason) if it cannot listen.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address,
      std::shared_ptr<prometheus::Registry> registry);

  // Stops serving and joins the thread (promptly: it polls a stop pipe).
  ~MetricsHttpServer();

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
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_METRICS_HTTP_SERVER_H_
