// The flags only cddp-worker takes (the job's shared flags are in
// common/job_flags.h). Part of the tiny cddp_worker_flags library (absl
// flags only, no LibTorch), so cddp-launch can offer and forward them.
//
// --result_file: at the end of a run the worker writes what it achieved to
// this path atomically, as a common/key_value_file.h file with the keys
//   worker uint32, steps uint64, test_accuracy double (-1 on workers other
//   than 0), test_loss double (-1 likewise), final_loss double,
//   uplink_wire_bytes uint64, uplink_dense_bytes uint64, downlink_bytes
//   uint64, seconds double, steady_seconds double (end of the first step
//   to end of the last), params_match_servers 0|1, params_crc32 (eight
//   hex digits), stopped_early 0|1.
// cddp-launch gives every worker one and reads it after the worker exits.
//
// Thread-safety: absl flags; read them after ParseProgramFlags.
#ifndef CDDP_WORKER_WORKER_FLAGS_H_
#define CDDP_WORKER_WORKER_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, dataset);
ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(int, epochs);
ABSL_DECLARE_FLAG(int64_t, batch_size);
ABSL_DECLARE_FLAG(bool, compress);
ABSL_DECLARE_FLAG(double, ratio);
ABSL_DECLARE_FLAG(int64_t, min_compress_numel);
ABSL_DECLARE_FLAG(double, dgc_momentum);
ABSL_DECLARE_FLAG(bool, momentum_masking);
ABSL_DECLARE_FLAG(double, clip_norm);
ABSL_DECLARE_FLAG(bool, overlap_backward);
ABSL_DECLARE_FLAG(int64_t, density_warmup_steps);
ABSL_DECLARE_FLAG(double, density_warmup_start);
ABSL_DECLARE_FLAG(std::string, value_type);
ABSL_DECLARE_FLAG(std::string, index_encoding);
ABSL_DECLARE_FLAG(std::string, servers);
ABSL_DECLARE_FLAG(uint32_t, worker_id);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(int64_t, eval_every);
ABSL_DECLARE_FLAG(int64_t, eval_limit);
ABSL_DECLARE_FLAG(int64_t, train_limit);
ABSL_DECLARE_FLAG(int64_t, max_steps);
ABSL_DECLARE_FLAG(int, threads);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(int64_t, progress_every);
ABSL_DECLARE_FLAG(int, reconnect_timeout_s);
ABSL_DECLARE_FLAG(std::string, result_file);

namespace cddp::worker {

// The flags defined in worker_flags.cc, sorted by name (found by their file
// name, so a flag added there is listed with no other change).
std::vector<const absl::CommandLineFlag*> WorkerFlags();

}  // namespace cddp::worker

#endif  // CDDP_WORKER_WORKER_FLAGS_H_
