// The Prometheus metrics of one parameter-server shard, built once at
// start-up. Every series carries a fixed `shard` label; outcome and reason
// series are pre-created so no Family::Add() runs on the hot path and every
// series is exported (at 0) from the first scrape.
//
// Thread-safe: prometheus-cpp metrics are atomic; the struct is immutable
// after construction.
#ifndef CDDP_SERVER_SHARD_SERVER_METRICS_H_
#define CDDP_SERVER_SHARD_SERVER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace cddp::server {

// Why a request was refused; one counter series each.
enum class RejectReason {
  kInvalidChunk,         // codec rule broken (range, order, length, NaN/Inf)
  kWrongShard,           // request addressed to another shard
  kUnknownWorker,        // worker id >= num_workers
  kNotJoined,            // push before the worker joined
  kNotInitialized,       // pull before any worker joined
  kStepMismatch,         // push for a closed or future step
  kFingerprintMismatch,  // join with a different layout
  kBadInitialValues,     // join with values of the wrong size / non-finite
  kShuttingDown,         // server draining
  kWorkerTooOld,         // join that cannot apply this shard's replies
  kMomentumTwice,        // join of a DGC worker to a shard with momentum
  kConflictingPush,      // a different push for a (worker, step) counted
  kTooManyWaiting,       // a worker's repeats of one push already waiting
  kNonFiniteRound,       // a push whose round's update would not be finite
  kNotAuthorized,        // join or push as a worker the peer's certificate
                         // does not name (mutual TLS)
  kCount,
};
const char* RejectReasonName(RejectReason reason);

// How a round closed.
enum class CloseCause { kAllPushed, kTimeout, kShutdown, kCount };
const char* CloseCauseName(CloseCause cause);

struct ServerMetrics {
  // Registers every family and series in `registry` for shard `shard_index`.
  // May be called for several shards on one registry (labels differ).
  // prometheus-cpp throws on a name clash of different type, a programmer
  // error; construct it inside the process's start-up code.
  ServerMetrics(prometheus::Registry& registry, uint32_t shard_index);

  prometheus::Counter& pushes_accepted;
  prometheus::Counter& pushes_duplicate;
  prometheus::Counter& pushes_late;
  prometheus::Counter& pushes_rejected;
  // Pushes counted into closed rounds (the sum of their contributors), and
  // rounds refused whole because their update would not be finite.
  prometheus::Counter& pushes_counted;
  prometheus::Counter& rounds_refused;
  // Read leases revoked: readers that kept a ready round waiting past
  // --reply_timeout (their streams fail).
  prometheus::Counter& leases_revoked;
  prometheus::Counter& received_wire_bytes;
  prometheus::Counter& received_dense_equivalent_bytes;
  prometheus::Counter& sent_bytes;
  // What the PushPull replies sent would take as dense fp32 (the shard's
  // slice per reply), against sent_bytes for the downlink's saving.
  prometheus::Counter& sent_dense_equivalent_bytes;
  // Compressed downlink: ||master - workers' copy|| after the last round
  // (what is not sent yet), and the fraction of the shard it sent.
  prometheus::Gauge& downlink_residual_norm;
  prometheus::Gauge& downlink_density;
  prometheus::Histogram& round_duration_seconds;
  prometheus::Histogram& aggregation_seconds;
  prometheus::Histogram& round_contributors;
  prometheus::Gauge& last_round_contributors;
  prometheus::Gauge& current_step;
  prometheus::Counter& checkpoints_written;
  prometheus::Counter& checkpoint_failures;
  prometheus::Gauge& checkpoint_step;  // step of the last checkpoint written
  prometheus::Histogram& checkpoint_seconds;
  prometheus::Counter* rounds_closed[static_cast<int>(CloseCause::kCount)];
  prometheus::Counter* rejected[static_cast<int>(RejectReason::kCount)];

  void Reject(RejectReason reason) {
    rejected[static_cast<int>(reason)]->Increment();
  }
  void RoundClosed(CloseCause cause) {
    rounds_closed[static_cast<int>(cause)]->Increment();
  }

 private:
  ServerMetrics(prometheus::Registry& registry, const std::string& shard);
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_SERVER_METRICS_H_
