// Implementation of progress_reporter.h.
#include "worker/progress_reporter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/seconds.h"

namespace cddp::worker {

ProgressReporter::ProgressReporter(const TrainerOptions& options,
                                   std::FILE* out, bool terminal)
    : tag_(absl::StrCat("[worker ", options.sync.worker_id, "] ")),
      options_(options),
      out_(out),
      terminal_(terminal),
      last_progress_(std::chrono::steady_clock::now()) {}

// One whole line; on a terminal it first ends the progress line.
void ProgressReporter::Line(const std::string& text) {
  absl::FPrintF(out_, "%s%s%s\n", terminal_ ? "\n" : "", tag_, text);
  std::fflush(out_);
}

void ProgressReporter::DeviceChosen(const DeviceChoice& device) {
  absl::FPrintF(out_, "%sdevice %s (%s)\n", tag_, device.cuda ? "cuda" : "cpu",
                device.reason);
  std::fflush(out_);
}

void ProgressReporter::Started(const SessionInfo& info) {
  absl::FPrintF(out_, "%s%s\n", tag_, info.train_description);
  if (info.resumed_from.has_value()) {
    absl::FPrintF(out_, "%sresumed residuals from checkpoint (step %d)\n", tag_,
                  *info.resumed_from);
  }
  absl::FPrintF(out_,
                "%smodel %s (%d parameters in %d tensors), %d batches/epoch, "
                "steps %d..%d, %s, %d threads\n",
                tag_, options_.model, info.num_parameters, info.num_tensors,
                info.batches_per_epoch, info.first_step, info.total_steps,
                CompressionDescription(), info.threads);
  std::fflush(out_);
  last_progress_ = std::chrono::steady_clock::now();
}

std::string ProgressReporter::CompressionDescription() const {
  if (!options_.sync.compress) return "no compression";
  std::string d = absl::StrFormat("ratio %g", options_.sync.ratio);
  if (options_.sync.density_warmup_steps > 0) {
    absl::StrAppendFormat(&d, " (warm-up from %g over %d steps)",
                          options_.sync.density_warmup_start,
                          options_.sync.density_warmup_steps);
  }
  if (options_.sync.dgc_momentum > 0) {
    absl::StrAppendFormat(&d, ", DGC momentum %g%s", options_.sync.dgc_momentum,
                          options_.sync.momentum_masking ? " (masked)" : "");
  }
  if (options_.sync.clip_norm > 0) {
    absl::StrAppendFormat(&d, ", gradient clipped to norm %g",
                          options_.sync.clip_norm);
  }
  if (options_.sync.overlap_backward) d += ", pushed during backward";
  return d;
}

void ProgressReporter::Stepped(const StepReport& step, uint64_t total_steps,
                               uint64_t uplink_sent, uint64_t uplink_dense) {
  samples_since_progress_ += step.samples;
  if (!terminal_ && step.step % options_.progress_every != 0 &&
      step.step != total_steps) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const double dt = common::Seconds(now - last_progress_);
  absl::FPrintF(out_,
                "%s%sepoch %d step %d/%d  %.0f samples/s  loss %.4f  "
                "sent %.2f MB vs dense %.2f MB (%.2f%%)%s%s",
                terminal_ ? "\r" : "", tag_, step.epoch, step.step, total_steps,
                dt > 0 ? samples_since_progress_ / dt : 0.0, step.loss,
                uplink_sent / 1e6, uplink_dense / 1e6,
                100.0 * uplink_sent / std::max<uint64_t>(1, uplink_dense),
                options_.sync.density_warmup_steps > 0
                    ? absl::StrFormat("  density %.3g%%", 100 * step.density)
                    : "",
                terminal_ ? "" : "\n");
  std::fflush(out_);
  last_progress_ = now;
  samples_since_progress_ = 0;
}

void ProgressReporter::PushFailed(const StepReport& step) {
  Line(absl::StrFormat("push for step %d failed (%s); resynchronising",
                       step.pushed_step, step.push_status.message()));
}

void ProgressReporter::Evaluated(uint64_t step, const Evaluation& evaluation) {
  Line(absl::StrFormat("EVAL step=%d test_loss=%.4f test_accuracy=%.4f", step,
                       evaluation.loss, evaluation.accuracy));
}

void ProgressReporter::Finished() {
  if (terminal_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

}  // namespace cddp::worker
