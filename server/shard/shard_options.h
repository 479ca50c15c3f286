// A shard's configuration (ShardOptions) and the parameter layout workers
// register with (Layout), with their checks. Plain values; thread-compatible.
#ifndef CDDP_SERVER_SHARD_SHARD_OPTIONS_H_
#define CDDP_SERVER_SHARD_SHARD_OPTIONS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/wire/layout.h"
#include "server/shard/optimizer.h"

namespace cddp::server {

enum class DownlinkMode { kDense, kSparse };

// "dense" | "sparse"; INVALID_ARGUMENT naming the choices otherwise.
absl::StatusOr<DownlinkMode> ParseDownlinkMode(absl::string_view name);

struct ShardOptions {
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
  uint32_t num_workers = 1;
  OptimizerOptions optimizer;
  DownlinkMode downlink = DownlinkMode::kDense;
  absl::Duration round_timeout = absl::Seconds(30);
  // Sparse downlink: (index, value) pairs per reply message. The reply
  // streams in pieces, so a worker applies one while the next is on the
  // wire (bench/ps_bench.cc); > 0.
  uint32_t sparse_piece_pairs = 1 << 16;

  // INVALID_ARGUMENT for inconsistent counts or a bad optimizer;
  // FAILED_PRECONDITION for the sparse downlink with anything but plain SGD
  // (its replies would miss the entries momentum or decay changed).
  absl::Status Validate() const;
};

// What a worker believes the parameter layout is (cddp.v1.LayoutFingerprint).
using common::Layout;

// Checks `layout` against a job of `num_shards` shards (INVALID_ARGUMENT if
// it is inconsistent: bound count, bounds not ascending from 0, total or
// tensor sizes not adding up) and, if `established` is not null, against the
// layout the shard was initialised with (FAILED_PRECONDITION naming the
// field that differs and both values).
absl::Status CheckLayout(const Layout& layout, uint32_t num_shards,
                         const Layout* established);

}  // namespace cddp::server

#endif  // CDDP_SERVER_SHARD_SHARD_OPTIONS_H_
