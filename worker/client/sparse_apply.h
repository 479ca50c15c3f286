// Applying a shard's sparse reply (absolute new values of the entries a
// round changed) to the worker's copy of that shard. The common fp32 /
// delta-varint case is decoded and written in one pass, without the
// temporary vectors DecodeChunk builds; other formats go through
// DecodeChunk. Stateless; thread-compatible.
#ifndef CDDP_WORKER_CLIENT_SPARSE_APPLY_H_
#define CDDP_WORKER_CLIENT_SPARSE_APPLY_H_

#include <span>

#include "absl/status/status.h"
#include "cddp/v1/parameter_server.pb.h"
#include "common/wire/wire_codec.h"
#include "proto/wire_adapter.h"

namespace cddp::worker {

// Sets range[i] = v for each (i, v) of `update` (shard-local indices).
// Checks every codec rule (lengths, ascending, in range, finite); on
// DATA_LOSS some entries may already be written, so the caller must pull the
// shard in full.
absl::Status ApplySparseUpdate(const common::EncodedChunkView& update,
                               std::span<float> range);
// The same for a reply's SparseChunk.
inline absl::Status ApplySparseUpdate(const cddp::v1::SparseChunk& update,
                                      std::span<float> range) {
  return ApplySparseUpdate(proto::ChunkView(update), range);
}

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_SPARSE_APPLY_H_
