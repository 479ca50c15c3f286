#include "server/shard/server_metrics.h"

#include <string>

#include "common/metrics.h"

namespace cddp::server {
namespace {

using common::AddCounter;
using common::AddGauge;
using common::AddHistogram;
using common::CounterFamily;
using prometheus::Registry;

constexpr char kPushes[] = "cddp_server_pushes_total";
constexpr char kPushesHelp[] = "PushPull requests by outcome";

}  // namespace

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kInvalidChunk:
      return "invalid_chunk";
    case RejectReason::kWrongShard:
      return "wrong_shard";
    case RejectReason::kUnknownWorker:
      return "unknown_worker";
    case RejectReason::kNotJoined:
      return "not_joined";
    case RejectReason::kNotInitialized:
      return "not_initialized";
    case RejectReason::kStepMismatch:
      return "step_mismatch";
    case RejectReason::kFingerprintMismatch:
      return "fingerprint_mismatch";
    case RejectReason::kBadInitialValues:
      return "bad_initial_values";
    case RejectReason::kShuttingDown:
      return "shutting_down";
    case RejectReason::kWorkerTooOld:
      return "worker_too_old";
    case RejectReason::kMomentumTwice:
      return "momentum_twice";
    case RejectReason::kConflictingPush:
      return "conflicting_push";
    case RejectReason::kTooManyWaiting:
      return "too_many_waiting";
    case RejectReason::kNonFiniteRound:
      return "non_finite_round";
    case RejectReason::kNotAuthorized:
      return "not_authorized";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}

const char* CloseCauseName(CloseCause cause) {
  switch (cause) {
    case CloseCause::kAllPushed:
      return "all_pushed";
    case CloseCause::kTimeout:
      return "timeout";
    case CloseCause::kShutdown:
      return "shutdown";
    case CloseCause::kCount:
      break;
  }
  return "unknown";
}

ServerMetrics::ServerMetrics(Registry& r, uint32_t shard_index)
    : ServerMetrics(r, std::to_string(shard_index)) {}

ServerMetrics::ServerMetrics(Registry& r, const std::string& s)
    : pushes_accepted(AddCounter(r, kPushes, kPushesHelp,
                                 {{"shard", s}, {"outcome", "accepted"}})),
      pushes_duplicate(AddCounter(r, kPushes, kPushesHelp,
                                  {{"shard", s}, {"outcome", "duplicate"}})),
      pushes_late(AddCounter(r, kPushes, kPushesHelp,
                             {{"shard", s}, {"outcome", "late"}})),
      pushes_rejected(AddCounter(r, kPushes, kPushesHelp,
                                 {{"shard", s}, {"outcome", "rejected"}})),
      pushes_counted(AddCounter(
          r, "cddp_server_pushes_counted_total",
          "Pushes counted into closed rounds (the rounds' contributors)",
          {{"shard", s}})),
      rounds_refused(
          AddCounter(r, "cddp_server_rounds_refused_total",
                     "Rounds refused whole: their update would not be finite",
                     {{"shard", s}})),
      leases_revoked(AddCounter(
          r, "cddp_server_leases_revoked_total",
          "Replies abandoned: their readers kept a ready round waiting past "
          "the reply timeout",
          {{"shard", s}})),
      received_wire_bytes(
          AddCounter(r, "cddp_server_received_bytes_total",
                     "Serialized bytes of accepted pushes (wire payload)",
                     {{"shard", s}})),
      received_dense_equivalent_bytes(
          AddCounter(r, "cddp_server_received_dense_equivalent_bytes_total",
                     "Bytes the accepted pushes would take as dense fp32",
                     {{"shard", s}})),
      sent_bytes(AddCounter(r, "cddp_server_sent_bytes_total",
                            "Serialized bytes of PushPull and Pull replies",
                            {{"shard", s}})),
      sent_dense_equivalent_bytes(
          AddCounter(r, "cddp_server_sent_dense_equivalent_bytes_total",
                     "Bytes the PushPull replies sent would take as dense fp32",
                     {{"shard", s}})),
      downlink_residual_norm(AddGauge(
          r, "cddp_server_downlink_residual_norm",
          "Compressed downlink: L2 norm of master - workers' copy (unsent)",
          {{"shard", s}})),
      downlink_density(AddGauge(
          r, "cddp_server_downlink_density",
          "Compressed downlink: fraction of the shard the last reply sent",
          {{"shard", s}})),
      round_duration_seconds(
          AddHistogram(r, "cddp_server_round_duration_seconds",
                       "From a round's first accepted push to its close",
                       {{"shard", s}}, common::WorkSecondsBuckets())),
      aggregation_seconds(
          AddHistogram(r, "cddp_server_aggregation_seconds",
                       "Summing a round's pushes and applying the optimizer",
                       {{"shard", s}}, common::WorkSecondsBuckets())),
      round_contributors(AddHistogram(r, "cddp_server_round_contributors",
                                      "Workers whose pushes made a round",
                                      {{"shard", s}},
                                      common::WorkerCountBuckets())),
      last_round_contributors(AddGauge(
          r, "cddp_server_last_round_contributors",
          "Workers whose pushes made the last closed round", {{"shard", s}})),
      current_step(AddGauge(r, "cddp_server_step",
                            "The step the shard expects next", {{"shard", s}})),
      checkpoints_written(AddCounter(r, "cddp_server_checkpoints_total",
                                     "Shard checkpoints written",
                                     {{"shard", s}})),
      checkpoint_failures(AddCounter(
          r, "cddp_server_checkpoint_failures_total",
          "Shard checkpoints that could not be written", {{"shard", s}})),
      checkpoint_step(AddGauge(r, "cddp_server_checkpoint_step",
                               "The step of the last checkpoint written",
                               {{"shard", s}})),
      checkpoint_seconds(AddHistogram(r, "cddp_server_checkpoint_seconds",
                                      "Encoding and writing one checkpoint",
                                      {{"shard", s}},
                                      common::WorkSecondsBuckets())) {
  auto& rounds = CounterFamily(r, "cddp_server_rounds_total",
                               "Closed rounds by what closed them");
  for (int c = 0; c < static_cast<int>(CloseCause::kCount); ++c) {
    rounds_closed[c] = &rounds.Add(
        {{"shard", s}, {"cause", CloseCauseName(static_cast<CloseCause>(c))}});
  }
  auto& rejects = CounterFamily(r, "cddp_server_rejected_requests_total",
                                "Refused requests (any RPC) by reason");
  for (int c = 0; c < static_cast<int>(RejectReason::kCount); ++c) {
    rejected[c] = &rejects.Add(
        {{"shard", s},
         {"reason", RejectReasonName(static_cast<RejectReason>(c))}});
  }
}

}  // namespace cddp::server
