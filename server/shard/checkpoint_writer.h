// Writes a shard's checkpoints to disk on its own thread, so neither the
// round that produced a snapshot nor the shard's lock waits for the file.
// Snapshots come from ShardState (every N rounds) and from Server::Shutdown;
// if the thread is still writing when another arrives, only the newest one
// waiting is kept (an older unwritten snapshot is superseded).
//
// Thread-safe: OnCheckpoint/Submit from any thread; Start and Shutdown from
// the owner.
#ifndef CDDP_SERVER_SHARD_CHECKPOINT_WRITER_H_
#define CDDP_SERVER_SHARD_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/shard/server_metrics.h"
#include "server/shard/shard_checkpoint.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

class CheckpointWriter : public CheckpointSink {
 public:
  // Told of a write that failed (on the writer's thread), e.g. to log it;
  // the failure is also counted in the metrics and kept in last_status().
  using FailureHandler =
      std::function<void(uint64_t step, const absl::Status& error)>;

  // Writes to ShardCheckpointPath(dir, shard). `metrics` outlives this.
  // `on_failure` may be empty.
  CheckpointWriter(std::string dir, ServerMetrics* metrics,
                   FailureHandler on_failure = nullptr);
  ~CheckpointWriter() override;  // Shutdown()

  void Start();
  // Writes what is still waiting, then joins the thread. Idempotent.
  void Shutdown();

  // Queues `snapshot` (replacing any unwritten older one). Never blocks on
  // I/O. Before Start() or after Shutdown() the snapshot is dropped.
  void OnCheckpoint(std::unique_ptr<ShardCheckpoint> snapshot) override;

  // The outcome of the last write (OK before any), and its step.
  absl::Status last_status() const;
  uint64_t last_written_step() const;

 private:
  void Loop();

  const std::string dir_;
  ServerMetrics* const metrics_;
  const FailureHandler on_failure_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<ShardCheckpoint> pending_ ABSL_GUARDED_BY(mu_);
  absl::Status last_status_ ABSL_GUARDED_BY(mu_);
  uint64_t last_step_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_CHECKPOINT_WRITER_H_
