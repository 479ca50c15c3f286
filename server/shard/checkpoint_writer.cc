#include "server/shard/checkpoint_writer.h"

#include <utility>

#include "absl/time/clock.h"

namespace cddp::server {

CheckpointWriter::CheckpointWriter(std::string dir, ServerMetrics* metrics,
                                   FailureHandler on_failure)
    : dir_(std::move(dir)),
      metrics_(metrics),
      on_failure_(std::move(on_failure)) {}

CheckpointWriter::~CheckpointWriter() { Shutdown(); }

void CheckpointWriter::Start() {
  absl::MutexLock lock(&mu_);
  if (running_ || stopping_) return;
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void CheckpointWriter::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (!running_) return;
    stopping_ = true;
  }
  thread_.join();
  absl::MutexLock lock(&mu_);
  running_ = false;
}

void CheckpointWriter::OnCheckpoint(std::unique_ptr<ShardCheckpoint> snapshot) {
  absl::MutexLock lock(&mu_);
  if (!running_ || stopping_) return;
  pending_ = std::move(snapshot);
}

absl::Status CheckpointWriter::last_status() const {
  absl::MutexLock lock(&mu_);
  return last_status_;
}

uint64_t CheckpointWriter::last_written_step() const {
  absl::MutexLock lock(&mu_);
  return last_step_;
}

void CheckpointWriter::Loop() {
  while (true) {
    std::unique_ptr<ShardCheckpoint> snapshot;
    {
      absl::MutexLock lock(&mu_);
      const auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return pending_ != nullptr || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (pending_ == nullptr) return;  // stopping, nothing left
      snapshot = std::move(pending_);
    }
    const absl::Time start = absl::Now();
    absl::Status s = SaveShardCheckpoint(dir_, *snapshot);
    metrics_->checkpoint_seconds.Observe(
        absl::ToDoubleSeconds(absl::Now() - start));
    if (s.ok()) {
      metrics_->checkpoints_written.Increment();
      metrics_->checkpoint_step.Set(static_cast<double>(snapshot->step));
    } else {
      metrics_->checkpoint_failures.Increment();
      if (on_failure_) on_failure_(snapshot->step, s);
    }
    absl::MutexLock lock(&mu_);
    last_status_ = s;
    if (s.ok()) last_step_ = snapshot->step;
  }
}

}  // namespace cddp::server
