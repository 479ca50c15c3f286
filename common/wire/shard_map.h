// How the flat parameter vector is divided among parameter-server shards:
// S contiguous ranges, as equal as possible (the first N mod S shards hold
// one element more).
//
// Immutable after construction; safe to share between threads.
#ifndef CDDP_COMMON_WIRE_SHARD_MAP_H_
#define CDDP_COMMON_WIRE_SHARD_MAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace cddp::common {

class ShardMap {
 public:
  // INVALID_ARGUMENT unless 1 <= num_shards <= total_size < 2^32.
  static absl::StatusOr<ShardMap> Create(uint64_t total_size,
                                         uint32_t num_shards);
  // From explicit bounds (S + 1 ascending offsets starting at 0), e.g. read
  // from a peer's fingerprint. INVALID_ARGUMENT if they are not that.
  static absl::StatusOr<ShardMap> FromBounds(std::vector<uint64_t> bounds);

  uint64_t total_size() const { return bounds_.back(); }
  uint32_t num_shards() const {
    return static_cast<uint32_t>(bounds_.size() - 1);
  }
  uint64_t begin(uint32_t shard) const { return bounds_[shard]; }
  uint64_t end(uint32_t shard) const { return bounds_[shard + 1]; }
  uint64_t size(uint32_t shard) const { return end(shard) - begin(shard); }
  // S + 1 offsets: shard s owns [bounds()[s], bounds()[s + 1]).
  const std::vector<uint64_t>& bounds() const { return bounds_; }
  // The shard owning flat index `i` (< total_size).
  uint32_t ShardOf(uint64_t i) const;

 private:
  explicit ShardMap(std::vector<uint64_t> bounds)
      : bounds_(std::move(bounds)) {}
  std::vector<uint64_t> bounds_;
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_WIRE_SHARD_MAP_H_
