// Implementation of trainer_options.h.
#include "worker/trainer_options.h"

namespace cddp::worker {

absl::Status ValidateTrainerOptions(const TrainerOptions& o) {
  auto bad = [](const std::string& msg) {
    return absl::InvalidArgumentError(msg);
  };
  if (o.epochs < 1) return bad("--epochs must be >= 1");
  if (o.batch_size < 1) return bad("--batch_size must be >= 1");
  if (o.threads < 0) return bad("--threads must be >= 0");
  if (o.checkpoint_every < 1) return bad("--checkpoint_every must be >= 1");
  if (o.eval_every < 0 || o.max_steps < 0 || o.train_limit < 0 ||
      o.eval_limit < 0) {
    return bad("--eval_every, --max_steps and the limits must be >= 0");
  }
  if (o.progress_every < 1) return bad("--progress_every must be >= 1");
  return ValidateSyncOptions(o.sync);
}

}  // namespace cddp::worker
