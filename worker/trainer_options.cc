// Implementation of trainer_options.h.
#include "worker/trainer_options.h"

#include "absl/strings/str_cat.h"

namespace cddp::worker {

absl::Status ValidateTrainerOptions(const TrainerOptions& o) {
  auto bad = [](const std::string& msg) {
    return absl::InvalidArgumentError(msg);
  };
  if (o.epochs < 1) return bad("--epochs must be >= 1");
  if (o.batch_size < 1) return bad("--batch_size must be >= 1");
  if (!(o.ratio > 0 && o.ratio <= 1)) return bad("--ratio must be in (0, 1]");
  if (o.min_compress_numel < 0) {
    return bad("--min_compress_numel must be >= 0");
  }
  if (o.servers.empty()) return bad("--servers lists no server");
  if (o.num_workers < 1) return bad("--num_workers must be >= 1");
  if (o.worker_id >= o.num_workers) {
    return bad(absl::StrCat("--worker_id ", o.worker_id,
                            " must be below --num_workers ", o.num_workers));
  }
  if (o.threads < 0) return bad("--threads must be >= 0");
  if (o.checkpoint_every < 1) return bad("--checkpoint_every must be >= 1");
  if (o.eval_every < 0 || o.max_steps < 0 || o.train_limit < 0 ||
      o.eval_limit < 0) {
    return bad("--eval_every, --max_steps and the limits must be >= 0");
  }
  if (o.progress_every < 1) return bad("--progress_every must be >= 1");
  if (absl::Status s = ValidateDgcOptions(o.dgc); !s.ok()) return s;
  if (o.density_warmup_steps > 0 && !o.compress) {
    return bad("--density_warmup_steps needs compression (--compress)");
  }
  return ValidateDensitySchedule(DensityScheduleOf(o));
}

DensitySchedule DensityScheduleOf(const TrainerOptions& o) {
  return {o.ratio, o.density_warmup_steps, o.density_warmup_start};
}

}  // namespace cddp::worker
