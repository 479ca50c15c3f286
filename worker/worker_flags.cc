// Definitions of cddp-worker's own flags (see worker_flags.h).
#include "worker/worker_flags.h"

#include "absl/flags/flag.h"
#include "common/job_flags.h"

ABSL_FLAG(std::string, model, "simple_cnn",
          "simple_cnn (28x28 images) | resnet18 | resnet50 (32x32x3)");
ABSL_FLAG(std::string, dataset, "mnist", "mnist | fashion-mnist | cifar10");
ABSL_FLAG(std::string, data_dir, "data",
          "directory with the dataset files (or a <dataset>/ folder in it)");
ABSL_FLAG(int, epochs, 1, "passes over this worker's share of the data");
ABSL_FLAG(int64_t, batch_size, 64, "examples per step on this worker");
ABSL_FLAG(bool, compress, true,
          "error-feedback Top-K compression (--nocompress: send everything)");
ABSL_FLAG(double, ratio, 0.01, "fraction of each tensor sent per step");
ABSL_FLAG(int64_t, min_compress_numel, 1000,
          "tensors with fewer elements are sent whole");
ABSL_FLAG(std::string, value_type, "fp32", "wire values: fp32 | fp16 | bf16");
ABSL_FLAG(std::string, index_encoding, "delta",
          "wire indices: delta (delta-varint) | absolute (uint32)");
ABSL_FLAG(double, dgc_momentum, 0,
          "DGC momentum correction: the worker keeps a velocity "
          "u = m*u + g and compresses that, so plain SGD on the servers "
          "(--momentum=0, --downlink=sparse) still trains with momentum m; "
          "0: off. CPU workers only");
ABSL_FLAG(bool, momentum_masking, true,
          "with --dgc_momentum: clear the velocity where an entry was sent");
ABSL_FLAG(double, clip_norm, 0,
          "clip each step's gradient to this L2 norm before it is "
          "accumulated (0: off). CPU workers only");
ABSL_FLAG(bool, overlap_backward, false,
          "push each shard's compressed gradient as soon as the backward "
          "pass has produced it, while the rest of the backward pass runs "
          "(bit-identical rounds; CPU workers, no --clip_norm)");
ABSL_FLAG(int64_t, density_warmup_steps, 0,
          "density warm-up: start at --density_warmup_start and decay "
          "exponentially to --ratio over this many steps (0: off)");
ABSL_FLAG(double, density_warmup_start, 0.25,
          "the density of step 0 with --density_warmup_steps");
ABSL_FLAG(std::string, servers, "",
          "comma-separated host:port of the parameter servers, shard order");
ABSL_FLAG(uint32_t, worker_id, 0, "this worker's id, 0..num_workers-1");
ABSL_FLAG(uint64_t, seed, 1, "seed of the model init and the data order");
ABSL_FLAG(int64_t, eval_every, 0,
          "worker 0 evaluates on the test set every N steps (0: at the end)");
ABSL_FLAG(int64_t, eval_limit, 0, "evaluate on the first N test examples");
ABSL_FLAG(int64_t, train_limit, 0, "train on the first N examples (0: all)");
ABSL_FLAG(int64_t, max_steps, 0, "stop after N steps (0: --epochs decides)");
ABSL_FLAG(int, threads, 0, "LibTorch threads (0: cores / num_workers)");
ABSL_FLAG(std::string, device, "auto",
          "cpu | cuda | auto: where the model trains and the gradients are "
          "compressed. cuda: the model, the batches and the residuals on the "
          "current CUDA device (pick one per worker with "
          "CUDA_VISIBLE_DEVICES); only the selected pairs come to the host. "
          "It needs a build with -DCDDP_WITH_CUDA=ON against a LibTorch with "
          "CUDA (Debian's is CPU-only) and a visible device; without them "
          "--device cuda fails saying which is missing. auto: cuda when all "
          "of that is there, else cpu (the start-up line says which and "
          "why)");
ABSL_FLAG(int64_t, progress_every, 20,
          "steps between progress lines when stdout is not a terminal");
ABSL_FLAG(int, reconnect_timeout_s, 120,
          "how long to keep re-joining unreachable servers before failing");
ABSL_FLAG(std::string, result_file, "",
          "at the end, write what the run achieved here (key=value lines, "
          "written atomically; see worker/worker_flags.h); empty: none");

namespace cddp::worker {

std::vector<const absl::CommandLineFlag*> WorkerFlags() {
  return common::FlagsDefinedIn(__FILE__);
}

}  // namespace cddp::worker
