// A shard's configuration (ShardOptions) and the parameter layout workers
// register with (Layout), with their checks. Plain values; thread-compatible.
#ifndef CDDP_SERVER_SHARD_SHARD_OPTIONS_H_
#define CDDP_SERVER_SHARD_SHARD_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/compress/sparse.h"
#include "common/wire/layout.h"
#include "server/shard/optimizer.h"

namespace cddp::server {

// What a round's reply carries:
//  kDense:      the shard's whole slice (any update rule);
//  kSparse:     the new values of the entries the round changed (exact, but
//               only for plain SGD on the shard);
//  kCompressed: the Top-K of what the workers' copy still lacks, as
//               differences to add (any update rule; downlink_compressor.h).
enum class DownlinkMode { kDense, kSparse, kCompressed };

// "dense" | "sparse" | "compressed"; INVALID_ARGUMENT naming the choices
// otherwise.
absl::StatusOr<DownlinkMode> ParseDownlinkMode(absl::string_view name);
absl::string_view DownlinkModeName(DownlinkMode mode);

// "auto" (std::nullopt) or a density in (0, 1]; INVALID_ARGUMENT otherwise.
absl::StatusOr<std::optional<double>> ParseDownlinkDensity(
    absl::string_view text);

// The most workers a shard serves: it keeps a little state per worker
// (joined, last counted push, a spare push buffer), sized at start, so an
// absurd --num_workers is refused rather than allocated.
inline constexpr uint32_t kMaxWorkers = 65536;

struct ShardOptions {
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
  uint32_t num_workers = 1;  // at most kMaxWorkers
  OptimizerOptions optimizer;
  DownlinkMode downlink = DownlinkMode::kDense;
  absl::Duration round_timeout = absl::Seconds(30);
  // How long a round that is ready to close waits for readers still
  // streaming an older reply (or a pull); then their leases are revoked and
  // their streams fail (ShardState::ReadValues). > 0.
  absl::Duration reply_timeout = absl::Seconds(10);
  // Sparse downlink: (index, value) pairs per reply message. The reply
  // streams in pieces, so a worker applies one while the next is on the
  // wire (bench/ps_bench.cc); > 0.
  uint32_t sparse_piece_pairs = 1 << 16;
  // Compressed downlink: the fraction of the shard sent back per round, in
  // (0, 1]. std::nullopt: as many pairs as the round's pushes carried
  // together (the uplink's density times the workers that pushed).
  std::optional<double> downlink_density;
  // Compressed downlink: how the sent differences travel.
  common::ValueType downlink_value_type = common::ValueType::kFp32;
  // Threads a round's close may use for a large shard (the whole-range sum
  // and the update rule; parallel_for.h); >= 1.
  int threads = 1;

  // INVALID_ARGUMENT for inconsistent counts, a bad optimizer, a downlink
  // density outside (0, 1], or a downlink density or value type with a
  // downlink other than kCompressed; FAILED_PRECONDITION for the sparse
  // downlink with anything but plain SGD (its replies would miss the
  // entries momentum or decay changed).
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
