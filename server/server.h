// One parameter-server shard process's machinery: the ShardState, the gRPC
// server with the ParameterServer and standard health services, a thread
// that closes rounds at their timeout, and (with a checkpoint directory) a
// CheckpointWriter: the shard resumes from <dir>/server-<shard>.ckpt when
// it exists and checkpoints every checkpoint_every rounds and at Shutdown.
// main.cc fills ServerOptions from flags and calls Create / Start /
// Shutdown.
//
// Thread-safe: Shutdown() may be called from any thread (e.g. a signal
// waiter); port(), state() and registry() from any thread after Start().
#ifndef CDDP_SERVER_SERVER_H_
#define CDDP_SERVER_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tls/tls_credentials.h"
#include "grpcpp/server.h"
#include "prometheus/registry.h"
#include "server/parameter_server_service.h"
#include "server/shard/checkpoint_writer.h"
#include "server/shard/clock.h"
#include "server/shard/server_metrics.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

struct ServerOptions {
  std::string listen = "0.0.0.0:50051";  // host:port; port 0 picks one
  // Mutual TLS (a worker joins and pushes only as the worker its
  // certificate names) or plaintext; one must be chosen.
  common::TlsOptions tls;
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
  // Checkpoints: empty dir = none. Otherwise the shard resumes from its
  // checkpoint there (if any) and writes one every checkpoint_every closed
  // rounds (at steps that are multiples of it) and at Shutdown.
  std::string checkpoint_dir;
  uint64_t checkpoint_every = 100;
  // Told of a checkpoint write that failed (the writer's thread); may be
  // empty. The server itself prints nothing.
  CheckpointWriter::FailureHandler on_checkpoint_failure;
};

// What a server resumed from (Server::resumed()).
struct ResumeInfo {
  std::string path;
  uint64_t step = 0;
  uint64_t size = 0;  // elements
};

class Server {
 public:
  // Checks the options: INVALID_ARGUMENT / FAILED_PRECONDITION as
  // ShardOptions::Validate, or for a bad message limit, piece size or
  // checkpoint_every of 0; errors as common::MakeServerCredentials for the
  // TLS choice (its files are read here). With a checkpoint directory holding
  // this shard's checkpoint, loads it: errors as LoadShardCheckpoint (the
  // message starts with the file's path; nothing is loaded).
  static absl::StatusOr<std::unique_ptr<Server>> Create(ServerOptions options);
  ~Server();  // Shutdown()

  // Binds and starts serving. UNAVAILABLE if the address cannot be bound;
  // FAILED_PRECONDITION if already started.
  absl::Status Start();
  // The bound port (after Start()).
  int port() const { return port_; }

  // Stops taking pushes and joins, closes the open round with the workers
  // it has and answers them, then stops the gRPC server (cancelling what is
  // left after shutdown_grace), writes a last checkpoint (with a checkpoint
  // directory and values to save) and joins the threads. Idempotent.
  void Shutdown();

  // Set when Create resumed the shard from a checkpoint.
  const std::optional<ResumeInfo>& resumed() const { return resumed_; }
  // OK, or why the last checkpoint write failed (also counted in metrics).
  absl::Status last_checkpoint_status() const;

  ShardState& state() { return *state_; }
  prometheus::Registry& registry() { return *registry_; }

 private:
  explicit Server(ServerOptions options);
  void TimeoutLoop();

  ServerOptions options_;
  RealClock real_clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<CheckpointWriter> checkpoint_writer_;  // null: no dir
  std::unique_ptr<ShardState> state_;
  std::optional<ResumeInfo> resumed_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
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
