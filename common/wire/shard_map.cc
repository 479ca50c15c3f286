#include "common/wire/shard_map.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace cddp::common {

absl::StatusOr<ShardMap> ShardMap::Create(uint64_t total_size,
                                          uint32_t num_shards) {
  if (num_shards == 0) {
    return absl::InvalidArgumentError("num_shards must be at least 1");
  }
  if (total_size < num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot split ", total_size, " elements into ", num_shards,
                     " non-empty shards"));
  }
  if (total_size > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("flat size ", total_size, " exceeds 2^32 - 1"));
  }
  std::vector<uint64_t> bounds(num_shards + 1, 0);
  const uint64_t base = total_size / num_shards;
  const uint64_t extra = total_size % num_shards;
  for (uint32_t s = 0; s < num_shards; ++s) {
    bounds[s + 1] = bounds[s] + base + (s < extra ? 1 : 0);
  }
  return ShardMap(std::move(bounds));
}

absl::StatusOr<ShardMap> ShardMap::FromBounds(std::vector<uint64_t> bounds) {
  if (bounds.size() < 2 || bounds.front() != 0) {
    return absl::InvalidArgumentError(
        "shard bounds must be S + 1 >= 2 offsets starting at 0");
  }
  for (size_t i = 1; i < bounds.size(); ++i) {
    if (bounds[i] <= bounds[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard bounds must strictly increase; bound ", i, " is ",
                       bounds[i], " after ", bounds[i - 1]));
    }
  }
  if (bounds.back() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("flat size exceeds 2^32 - 1");
  }
  return ShardMap(std::move(bounds));
}

uint32_t ShardMap::ShardOf(uint64_t i) const {
  CDDP_DCHECK(i < total_size());
  const auto it = std::upper_bound(bounds_.begin(), bounds_.end(), i);
  return static_cast<uint32_t>(it - bounds_.begin() - 1);
}

}  // namespace cddp::common
