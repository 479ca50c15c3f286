#include "server/shard/server_metrics.h"

#include <string>

#include "prometheus/family.h"

namespace cddp::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Registry;

prometheus::Family<prometheus::Counter>& Counters(Registry& r,
                                                  const std::string& name,
                                                  const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}

prometheus::Histogram& Hist(Registry& r, const std::string& name,
                            const std::string& help, const std::string& shard,
                            prometheus::Histogram::BucketBoundaries buckets) {
  return BuildHistogram().Name(name).Help(help).Register(r).Add(
      {{"shard", shard}}, std::move(buckets));
}

prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
}

}  // namespace

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kInvalidChunk: return "invalid_chunk";
    case RejectReason::kWrongShard: return "wrong_shard";
    case RejectReason::kUnknownWorker: return "unknown_worker";
    case RejectReason::kNotJoined: return "not_joined";
    case RejectReason::kNotInitialized: return "not_initialized";
    case RejectReason::kStepMismatch: return "step_mismatch";
    case RejectReason::kFingerprintMismatch: return "fingerprint_mismatch";
    case RejectReason::kBadInitialValues: return "bad_initial_values";
    case RejectReason::kShuttingDown: return "shutting_down";
    case RejectReason::kCount: break;
  }
  return "unknown";
}

const char* CloseCauseName(CloseCause cause) {
  switch (cause) {
    case CloseCause::kAllPushed: return "all_pushed";
    case CloseCause::kTimeout: return "timeout";
    case CloseCause::kShutdown: return "shutdown";
    case CloseCause::kCount: break;
  }
  return "unknown";
}

ServerMetrics::ServerMetrics(Registry& r, uint32_t shard_index)
    : ServerMetrics(r, std::to_string(shard_index)) {}

ServerMetrics::ServerMetrics(Registry& r, const std::string& s)
    : pushes_accepted(Counters(r, "cddp_server_pushes_total",
                               "PushPull requests by outcome")
                          .Add({{"shard", s}, {"outcome", "accepted"}})),
      pushes_duplicate(Counters(r, "cddp_server_pushes_total",
                                "PushPull requests by outcome")
                           .Add({{"shard", s}, {"outcome", "duplicate"}})),
      pushes_late(Counters(r, "cddp_server_pushes_total",
                           "PushPull requests by outcome")
                      .Add({{"shard", s}, {"outcome", "late"}})),
      pushes_rejected(Counters(r, "cddp_server_pushes_total",
                               "PushPull requests by outcome")
                          .Add({{"shard", s}, {"outcome", "rejected"}})),
      received_wire_bytes(
          Counters(r, "cddp_server_received_bytes_total",
                   "Serialized bytes of accepted pushes (wire payload)")
              .Add({{"shard", s}})),
      received_dense_equivalent_bytes(
          Counters(r, "cddp_server_received_dense_equivalent_bytes_total",
                   "Bytes the accepted pushes would take as dense fp32")
              .Add({{"shard", s}})),
      sent_bytes(Counters(r, "cddp_server_sent_bytes_total",
                          "Serialized bytes of PushPull and Pull replies")
                     .Add({{"shard", s}})),
      round_duration_seconds(Hist(
          r, "cddp_server_round_duration_seconds",
          "From a round's first accepted push to its close", s,
          SecondsBuckets())),
      aggregation_seconds(Hist(r, "cddp_server_aggregation_seconds",
                               "Summing a round's pushes and applying the "
                               "optimizer",
                               s, SecondsBuckets())),
      round_contributors(Hist(r, "cddp_server_round_contributors",
                              "Workers whose pushes made a round", s,
                              {1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128})),
      last_round_contributors(
          BuildGauge()
              .Name("cddp_server_last_round_contributors")
              .Help("Workers whose pushes made the last closed round")
              .Register(r)
              .Add({{"shard", s}})),
      current_step(BuildGauge()
                       .Name("cddp_server_step")
                       .Help("The step the shard expects next")
                       .Register(r)
                       .Add({{"shard", s}})),
      checkpoints_written(Counters(r, "cddp_server_checkpoints_total",
                                   "Shard checkpoints written")
                              .Add({{"shard", s}})),
      checkpoint_failures(Counters(r, "cddp_server_checkpoint_failures_total",
                                   "Shard checkpoints that could not be "
                                   "written")
                              .Add({{"shard", s}})),
      checkpoint_step(BuildGauge()
                          .Name("cddp_server_checkpoint_step")
                          .Help("The step of the last checkpoint written")
                          .Register(r)
                          .Add({{"shard", s}})),
      checkpoint_seconds(Hist(r, "cddp_server_checkpoint_seconds",
                              "Encoding and writing one checkpoint", s,
                              SecondsBuckets())) {
  auto& rounds = Counters(r, "cddp_server_rounds_total",
                          "Closed rounds by what closed them");
  for (int c = 0; c < static_cast<int>(CloseCause::kCount); ++c) {
    rounds_closed[c] = &rounds.Add(
        {{"shard", s}, {"cause", CloseCauseName(static_cast<CloseCause>(c))}});
  }
  auto& rejects = Counters(r, "cddp_server_rejected_requests_total",
                           "Refused requests (any RPC) by reason");
  for (int c = 0; c < static_cast<int>(RejectReason::kCount); ++c) {
    rejected[c] = &rejects.Add(
        {{"shard", s},
         {"reason", RejectReasonName(static_cast<RejectReason>(c))}});
  }
}

}  // namespace cddp::server
