// Implementation of trainer.h. No LibTorch here: the session holds it.
#include "worker/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "common/seconds.h"
#include "common/status_macros.h"
#include "worker/progress_reporter.h"
#include "worker/training_session.h"

namespace cddp::worker {
namespace {

// Evaluates when the session has a test set (worker 0), into `result`.
absl::Status MaybeEvaluate(TrainingSession& session, ProgressReporter& report,
                           TrainResult* result) {
  if (!session.has_test_set()) return absl::OkStatus();
  CDDP_ASSIGN_OR_RETURN(const Evaluation ev, session.Evaluate());
  result->test_accuracy = ev.accuracy;
  result->test_loss = ev.loss;
  report.Evaluated(session.step(), ev);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    TrainerOptions options) {
  CDDP_RETURN_IF_ERROR(ValidateTrainerOptions(options));
  CDDP_ASSIGN_OR_RETURN(DeviceChoice device,
                        ChooseTrainingDevice(options.device));
  return std::unique_ptr<Trainer>(
      new Trainer(std::move(options), std::move(device)));
}

Trainer::Trainer(TrainerOptions options, DeviceChoice device)
    : options_(std::move(options)), device_(std::move(device)) {}
Trainer::~Trainer() = default;

absl::StatusOr<TrainResult> Trainer::Run() {
  const auto start = std::chrono::steady_clock::now();
  ProgressReporter report(options_, stdout, isatty(STDOUT_FILENO) != 0);
  report.DeviceChosen(device_);
  CDDP_ASSIGN_OR_RETURN(
      std::unique_ptr<TrainingSession> session,
      TrainingSession::Create(options_, device_, nullptr, &stop_));
  report.Started(session->info());
  TrainResult result;
  StepTotals totals;
  while (!session->done() && !stop_.load()) {
    CDDP_ASSIGN_OR_RETURN(const StepReport step, session->RunStep());
    if (!step.push_status.ok()) {
      report.PushFailed(step);  // the session has rejoined the servers
      continue;
    }
    totals.Count(step.bytes_sent, step.dense_bytes, step.bytes_received,
                 &result);
    result.final_loss = step.loss;
    report.Stepped(step, session->total_steps(), result.uplink_wire_bytes,
                   result.uplink_dense_bytes);
    if (options_.eval_every > 0 && step.step % options_.eval_every == 0 &&
        !session->done()) {
      CDDP_RETURN_IF_ERROR(MaybeEvaluate(*session, report, &result));
    }
    if (step.step % options_.checkpoint_every == 0) {
      CDDP_RETURN_IF_ERROR(session->SaveCheckpoint());
    }
  }
  report.Finished();
  result.stopped_early = stop_.load() && !session->done();
  CDDP_RETURN_IF_ERROR(session->SaveCheckpoint());
  if (!result.stopped_early) {
    CDDP_RETURN_IF_ERROR(MaybeEvaluate(*session, report, &result));
  }
  CDDP_ASSIGN_OR_RETURN(const ServerCheck check,
                        session->CheckAgainstServers());
  result.params_match_servers = check.params_match_servers;
  result.params_crc32 = check.params_crc32;
  result.shards_at_one_step = check.shards_at_one_step;
  result.steps = session->step();
  result.seconds = common::Seconds(std::chrono::steady_clock::now() - start);
  return result;
}

}  // namespace cddp::worker
