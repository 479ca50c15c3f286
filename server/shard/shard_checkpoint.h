// A parameter-server shard's checkpoint: everything a restarted shard needs
// to go on where it stopped — its identity in the job, the parameter layout,
// the step, the values, and the optimizer (configuration and state). Stored
// as one record (common/record_file.h, kind "SHRD", version 3; versions 2
// and 1 still read) in <dir>/server-<shard>.ckpt, written atomically
// (temporary file, fsync, rename).
//
// Payload of version 3 (little-endian):
//   u32 shard_index, u32 num_shards, u32 num_workers
//   u64 total_size, u32 n_bounds, n_bounds x u64 shard_bounds,
//   u32 n_tensors, n_tensors x u64 tensor_sizes
//   u64 step                      (the step the shard expects next)
//   u32 optimizer kind (0 sgd, 1 adam), u32 nesterov,
//   f32 lr, momentum, weight_decay, beta1, beta2, epsilon
//   u64 optimizer steps taken
//   u32 n_fields, n_fields x      (the update rule's state, by name)
//     { u32 name length, name bytes, u64 n, n x f32 (n = 0: all zero) }
//   u64 n, n x f32 values         (the shard's slice: the master values)
//   u64 n, n x f32 workers_copy   (compressed downlink: what the workers
//                                  hold; n = 0 for the other downlinks)
//
// Version 2 (still read) is version 3 without the workers' copy.
//
// Version 1 (still read) had, instead of the named fields, two fixed
// buffers: u64 n, n x f32 buf1 (SGD "momentum_buffer" / Adam "exp_avg"),
// u64 n, n x f32 buf2 (Adam "exp_avg_sq"); they load under those names.
//
// A file that is corrupt, truncated, foreign, or written for another shard,
// job shape or optimizer is refused as a whole: nothing is half-loaded.
//
// Plain value types and free functions; thread-compatible.
#ifndef CDDP_SERVER_SHARD_SHARD_CHECKPOINT_H_
#define CDDP_SERVER_SHARD_SHARD_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/shard/optimizer.h"
#include "server/shard/shard_options.h"
#include "server/shard/update_rule.h"

namespace cddp::server {

struct ShardCheckpoint {
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
  uint32_t num_workers = 1;
  Layout layout;
  uint64_t step = 0;  // the step the shard expects next
  OptimizerOptions optimizer;
  UpdateRuleState rule_state;  // the update rule's steps and named buffers
  std::vector<float> values;   // the master values
  // Compressed downlink: the copy the workers hold (empty otherwise; a
  // compressed shard restored without one starts it at `values`).
  std::vector<float> workers_copy;
};

// <dir>/server-<shard_index>.ckpt
std::string ShardCheckpointPath(const std::string& dir, uint32_t shard_index);

// The record bytes of `ckpt`.
std::string EncodeShardCheckpoint(const ShardCheckpoint& ckpt);
// Parses record bytes of version 3, 2 or 1. DATA_LOSS (truncated, checksum),
// INVALID_ARGUMENT (foreign file, another kind, inconsistent fields),
// FAILED_PRECONDITION (another format version).
absl::StatusOr<ShardCheckpoint> DecodeShardCheckpoint(std::string_view data);

// OK if `ckpt` belongs to the shard `options` describe: same shard index,
// shard count, worker count and optimizer configuration (field by field),
// a layout consistent with the shard count, and values/state of the
// shard's size. FAILED_PRECONDITION naming what differs and both values;
// INVALID_ARGUMENT for an inconsistent checkpoint.
absl::Status CheckShardCheckpoint(const ShardCheckpoint& ckpt,
                                  const ShardOptions& options);

// Writes `ckpt` to ShardCheckpointPath(dir, ckpt.shard_index) atomically,
// creating `dir` if needed. INTERNAL / PERMISSION_DENIED etc. with the path.
absl::Status SaveShardCheckpoint(const std::string& dir,
                                 const ShardCheckpoint& ckpt);

// std::nullopt if `dir` holds no checkpoint for options.shard_index; the
// checkpoint if it decodes and passes CheckShardCheckpoint; otherwise the
// error of DecodeShardCheckpoint / CheckShardCheckpoint (or of reading the
// file), its message starting with the file's path.
absl::StatusOr<std::optional<ShardCheckpoint>> LoadShardCheckpoint(
    const std::string& dir, const ShardOptions& options);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_SHARD_CHECKPOINT_H_
