// compressed-ddp's public C++ API, part 1: what a worker is told (which
// cluster, how to compress, where to checkpoint) and what one step reports.
// No LibTorch here; cddp/cddp.h has the class that uses them.
//
// The fields are named after cddp-worker's flags (--ratio, --dgc_momentum,
// ...), which fill the same struct.
#ifndef CDDP_API_OPTIONS_H_
#define CDDP_API_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace prometheus {
class Registry;
}

namespace cddp {

struct SyncOptions {
  // The cluster: one address per shard ("host:port"), in shard order, and
  // this worker's place among num_workers.
  std::vector<std::string> servers;
  uint32_t worker_id = 0;
  uint32_t num_workers = 1;
  // How long joining retries servers that do not answer yet.
  absl::Duration reconnect_timeout = absl::Seconds(120);
  // Transport security, chosen explicitly: mutual TLS from PEM files (this
  // worker's certificate, whose subject common name must be
  // "worker-<worker_id>", its key, and the CA that signs the servers'
  // certificates), or plaintext = true (anyone who reaches a server can
  // then act as any worker). ParameterSync::Create refuses neither or both.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  bool plaintext = false;

  // Compression: each tensor of at least min_compress_numel elements sends
  // the Top-K of (gradient + residual) at density `ratio`; smaller tensors,
  // and everything when compress is false, are sent whole.
  bool compress = true;
  double ratio = 0.01;
  int64_t min_compress_numel = 1000;
  std::string value_type = "fp32";       // fp32 | fp16 | bf16 on the wire
  std::string index_encoding = "delta";  // delta | fixed32 on the wire
  // Deep Gradient Compression on this worker (CPU parameters only):
  // momentum correction (0: off), momentum factor masking, local gradient
  // clipping of ||g||_2 (0: off), and the density warm-up, which decays
  // exponentially from density_warmup_start to `ratio` over the first
  // density_warmup_steps steps (0: no warm-up).
  double dgc_momentum = 0;
  bool momentum_masking = true;
  double clip_norm = 0;
  int64_t density_warmup_steps = 0;
  double density_warmup_start = 0.25;

  // Overlap communication with the backward pass: each tensor is compressed
  // the moment autograd has accumulated its gradient, and each shard's push
  // starts as soon as every tensor it owns is compressed (the last layers'
  // shards first), while the rest of the backward pass runs. The rounds,
  // residuals and parameters are bit-identical to those without it. Needs
  // CPU parameters, no clip_norm, and exactly one backward pass per Step()
  // (no gradient accumulation over several backward passes).
  bool overlap_backward = false;

  // Where the residuals (and DGC's velocity) are checkpointed, and resumed
  // from at start; empty: no checkpoints.
  std::string checkpoint_dir;
  // Where ParameterSync::Finish writes what this worker achieved, for
  // cddp-launch's summary (it sets CDDP_RESULT_FILE); empty: nowhere.
  std::string result_file;
  // Where the worker's metrics go (cddp_worker_*); optional, not owned.
  prometheus::Registry* registry = nullptr;
};

// OK, or INVALID_ARGUMENT naming the first field out of range (as its flag,
// e.g. "--ratio must be in (0, 1]") or contradicting another.
absl::Status ValidateSyncOptions(const SyncOptions& options);

// A worker's role from the environment a launcher sets (cddp-launch sets
// the CDDP_ ones; torchrun-style RANK / WORLD_SIZE are understood too):
//   CDDP_SERVERS       comma-separated shard addresses (required)
//   CDDP_WORKER_ID     or RANK: this worker's id (default 0)
//   CDDP_NUM_WORKERS   or WORLD_SIZE: the number of workers (default 1)
//   CDDP_TLS_CERT, CDDP_TLS_KEY, CDDP_TLS_CA, CDDP_PLAINTEXT
//                      the transport security (tls_cert, ..., plaintext)
//   CDDP_<FIELD>       any other field above by its name in capitals
//                      (CDDP_RATIO=0.001, CDDP_DGC_MOMENTUM=0.9,
//                      CDDP_COMPRESS=false, CDDP_RECONNECT_TIMEOUT_S=30,
//                      ...), as cddp-launch forwards its worker flags
// Fields without a variable keep `defaults`' values. INVALID_ARGUMENT naming
// the variable when one is missing or malformed. (The library reads the
// environment only here, when asked to.)
absl::StatusOr<SyncOptions> SyncOptionsFromEnvironment(
    SyncOptions defaults = {});

// What one ParameterSync::Step did.
struct StepStats {
  uint64_t pushed_step = 0;  // the round the gradients were pushed for
  uint64_t step = 0;         // the job's step now (the next to push)
  // OK, or why the push failed: the pairs not delivered went back into the
  // residual (nothing is lost) and the worker joined the servers again,
  // taking their values and their step.
  absl::Status push_status;
  double density = 0;            // the fraction of the gradient selected
  uint64_t bytes_sent = 0;       // uplink bytes on the wire
  uint64_t dense_bytes = 0;      // the same gradient sent dense
  uint64_t bytes_received = 0;   // downlink bytes on the wire
  double compress_seconds = 0;   // residual + DGC + Top-K
  double push_pull_seconds = 0;  // the round trip to every shard
  double apply_seconds = 0;      // the reply into the parameters
};

}  // namespace cddp

#endif  // CDDP_API_OPTIONS_H_
