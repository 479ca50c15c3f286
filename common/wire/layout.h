// What a worker believes the parameter layout is: the flat size, the
// shards' bounds and the tensors' sizes (cddp.v1.LayoutFingerprint). Every
// worker of a job must agree on it, or their indices would mean different
// parameters; the shard checks it (server/shard/shard_options.h,
// CheckLayout). A plain value; thread-compatible.
#ifndef CDDP_COMMON_WIRE_LAYOUT_H_
#define CDDP_COMMON_WIRE_LAYOUT_H_

#include <cstdint>
#include <vector>

namespace cddp::common {

struct Layout {
  uint64_t total_size = 0;
  std::vector<uint64_t> shard_bounds;  // S + 1 ascending offsets
  std::vector<uint64_t> tensor_sizes;
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_WIRE_LAYOUT_H_
