#include "server/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "server/shard/update_rule.h"

namespace cddp::server {

absl::StatusOr<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  if (auto s = options.shard.Validate(); !s.ok()) return s;
  if (options.max_message_mb < 1 || options.max_message_mb > 2047) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_mb must be in [1, 2047], got ", options.max_message_mb));
  }
  if (options.piece_bytes < sizeof(float) ||
      options.piece_bytes % sizeof(float) != 0 ||
      options.piece_bytes + 1024 > static_cast<size_t>(options.max_message_mb)
                                       << 20) {
    return absl::InvalidArgumentError(absl::StrCat(
        "piece_bytes ", options.piece_bytes,
        " must be a positive multiple of 4 below the message limit"));
  }
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval must be positive");
  }
  if (!options.checkpoint_dir.empty() && options.checkpoint_every == 0) {
    return absl::InvalidArgumentError("checkpoint_every must be >= 1");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      common::MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::optional<ShardCheckpoint> checkpoint;
  if (!options.checkpoint_dir.empty()) {
    auto loaded = LoadShardCheckpoint(options.checkpoint_dir, options.shard);
    if (!loaded.ok()) return loaded.status();
    checkpoint = std::move(*loaded);
  }
  std::unique_ptr<Server> server(new Server(std::move(options)));
  server->credentials_ = std::move(*credentials);
  if (checkpoint.has_value()) {
    if (auto s = server->state_->Restore(*checkpoint); !s.ok()) return s;
    server->resumed_ =
        ResumeInfo{ShardCheckpointPath(server->options_.checkpoint_dir,
                                       checkpoint->shard_index),
                   checkpoint->step, checkpoint->values.size()};
  }
  return server;
}

Server::Server(ServerOptions options) : options_(std::move(options)) {
  registry_ = options_.registry ? options_.registry
                                : std::make_shared<prometheus::Registry>();
  Clock* clock = options_.clock ? options_.clock : &real_clock_;
  metrics_ =
      std::make_unique<ServerMetrics>(*registry_, options_.shard.shard_index);
  if (!options_.checkpoint_dir.empty()) {
    checkpoint_writer_ = std::make_unique<CheckpointWriter>(
        options_.checkpoint_dir, metrics_.get(),
        options_.on_checkpoint_failure);
  }
  // The shard is handed its update rule, built from the options here.
  state_ = std::make_unique<ShardState>(
      options_.shard, MakeUpdateRule(options_.shard.optimizer), clock,
      metrics_.get(), options_.observer, checkpoint_writer_.get(),
      options_.checkpoint_every);
  service_ = std::make_unique<ParameterServerService>(
      state_.get(), metrics_.get(), options_.piece_bytes,
      /*authorize_workers=*/options_.tls.tls());
}

Server::~Server() { Shutdown(); }

absl::Status Server::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("server already started");
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, credentials_, &port_);
  const int limit = options_.max_message_mb << 20;
  builder.SetMaxReceiveMessageSize(limit);
  builder.SetMaxSendMessageSize(limit);
  // Bulk transfers: let a stream have several MiB in flight before a window
  // update, and use large HTTP/2 frames (fewer headers and wake-ups).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 1 << 20);
  // Workers ping their connections (ShardClientOptions::keepalive, at
  // least 1 s apart) to find a server that stopped reading: take pings
  // down to half that apart without calling them abuse.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || port_ == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options_.listen, "'"));
  }
  grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  started_ = true;
  if (checkpoint_writer_) checkpoint_writer_->Start();
  timeout_thread_ = std::thread([this] { TimeoutLoop(); });
  return absl::OkStatus();
}

void Server::TimeoutLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                               options_.poll_interval)) {
        return;
      }
    }
    state_->PollTimeout();
  }
}

void Server::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
  }
  grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  // Answer the open round first, so its workers get their step.
  state_->BeginDrain();
  grpc_server_->Shutdown(std::chrono::system_clock::now() +
                         absl::ToChronoMicroseconds(options_.shutdown_grace));
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  timeout_thread_.join();
  grpc_server_->Wait();
  // The open round has closed and every reply is out: save where we are.
  if (checkpoint_writer_) {
    absl::StatusOr<std::unique_ptr<ShardCheckpoint>> last = state_->Snapshot();
    if (last.ok()) checkpoint_writer_->OnCheckpoint(std::move(*last));
    checkpoint_writer_->Shutdown();  // writes it, then joins
  }
}

absl::Status Server::last_checkpoint_status() const {
  return checkpoint_writer_ ? checkpoint_writer_->last_status()
                            : absl::OkStatus();
}

}  // namespace cddp::server
