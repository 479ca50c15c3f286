// ProgressReporter: everything a worker tells its operator, in one place.
// The training session prints nothing; the training loop hands each event to
// a reporter, which owns the wording, the progress-line cadence (every step
// on a terminal, rewriting one line; every progress_every steps otherwise)
// and the samples-per-second clock. Lines start with "[worker N] "; the
// EVAL line's format is parsed by bench/accuracy_experiment.sh.
//
// No LibTorch. Not thread-safe: used by the training thread.
#ifndef CDDP_WORKER_PROGRESS_REPORTER_H_
#define CDDP_WORKER_PROGRESS_REPORTER_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "worker/device_choice.h"
#include "worker/trainer_options.h"
#include "worker/training_session.h"

namespace cddp::worker {

class ProgressReporter {
 public:
  // Writes to `out` (not owned; stdout for cddp-worker). `terminal`: one
  // rewritten progress line per step instead of one line every
  // options.progress_every steps.
  ProgressReporter(const TrainerOptions& options, std::FILE* out,
                   bool terminal);

  // Where training runs; before the data and model are loaded.
  void DeviceChosen(const DeviceChoice& device);
  // The data, the model, the checkpoint resumed from, the steps to run.
  void Started(const SessionInfo& info);
  // A trained step; `uplink_sent`/`uplink_dense` are the job's totals so far.
  void Stepped(const StepReport& step, uint64_t total_steps,
               uint64_t uplink_sent, uint64_t uplink_dense);
  // A push that failed; the loop resynchronises next.
  void PushFailed(const StepReport& step);
  void Evaluated(uint64_t step, const Evaluation& evaluation);
  // Training is over (ends a terminal's progress line).
  void Finished();

 private:
  void Line(const std::string& text);
  // "ratio 0.01 (warm-up ...), DGC momentum 0.9 (masked)" for Started.
  std::string CompressionDescription() const;

  std::string tag_;  // "[worker N] "
  TrainerOptions options_;
  std::FILE* out_;
  bool terminal_;
  std::chrono::steady_clock::time_point last_progress_;
  int64_t samples_since_progress_ = 0;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_PROGRESS_REPORTER_H_
