// One parameter-server shard process's machinery: the ShardState, the gRPC
// server with the ParameterServer and standard health services, and a thread
// that closes rounds at their timeout. main.cc fills ServerOptions from flags
// and calls Create / Start / Shutdown.
//
// Thread-safe: Shutdown() may be called from any thread (e.g. a signal
// waiter); port(), state() and registry() from any thread after Start().
#ifndef CDDP_SERVER_SERVER_H_
#define CDDP_SERVER_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "prometheus/registry.h"
#include "server/clock.h"
#include "server/parameter_server_service.h"
#include "server/server_metrics.h"
#include "server/shard_state.h"

namespace cddp::server {

struct ServerOptions {
  std::string listen = "0.0.0.0:50051";  // host:port; port 0 picks one
  ShardOptions shard;
  int max_message_mb = 256;  // gRPC send/receive limit, MiB
  size_t piece_bytes = kDefaultPieceBytes;
  absl::Duration poll_interval = absl::Milliseconds(5);  // timeout checks
  absl::Duration shutdown_grace = absl::Seconds(10);
  Clock* clock = nullptr;  // null: the real clock; else outlives the server
  // Where the metrics go; null: a private registry. Exposing it over HTTP
  // is the caller's job (one metrics HTTP endpoint per process).
  std::shared_ptr<prometheus::Registry> registry;
  RoundObserver* observer = nullptr;  // optional; outlives the server
};

class Server {
 public:
  // Checks the options: INVALID_ARGUMENT / FAILED_PRECONDITION as
  // ShardOptions::Validate, or for a bad message limit or piece size.
  static absl::StatusOr<std::unique_ptr<Server>> Create(ServerOptions options);
  ~Server();  // Shutdown()

  // Binds and starts serving. UNAVAILABLE if the address cannot be bound;
  // FAILED_PRECONDITION if already started.
  absl::Status Start();
  // The bound port (after Start()).
  int port() const { return port_; }

  // Stops taking pushes and joins, closes the open round with the workers
  // it has and answers them, then stops the gRPC server (cancelling what is
  // left after shutdown_grace) and joins the threads. Idempotent.
  void Shutdown();

  ShardState& state() { return *state_; }
  prometheus::Registry& registry() { return *registry_; }

 private:
  explicit Server(ServerOptions options);
  void TimeoutLoop();

  ServerOptions options_;
  RealClock real_clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<ShardState> state_;
  std::unique_ptr<ParameterServerService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  std::thread timeout_thread_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_SERVER_H_
