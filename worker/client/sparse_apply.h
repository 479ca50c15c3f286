// Applying a shard's sparse reply to the worker's copy of that shard: the
// new values of the entries a round changed (the sparse downlink), or
// differences to add to them (the compressed downlink's delta replies). The
// common fp32 / delta-varint case is decoded and written in one pass, without
// the temporary vectors DecodeChunk builds; other formats go through
// DecodeChunk. Stateless; thread-compatible.
#ifndef CDDP_WORKER_CLIENT_SPARSE_APPLY_H_
#define CDDP_WORKER_CLIENT_SPARSE_APPLY_H_

#include <span>

#include "absl/status/status.h"
#include "common/wire/wire_codec.h"
#include "proto/reply_piece_message.h"

namespace cddp::worker {

// How a reply's pairs apply: range[i] = v, or range[i] += v (in fp32, the
// very addition the shard did to its copy of what workers hold).
enum class UpdateKind { kNewValues, kDeltas };

// Applies each (i, v) of `update` (shard-local indices) to `range` as
// `kind` says. Checks every codec rule (lengths, ascending, in range,
// finite); on DATA_LOSS some entries may already be written, so the caller
// must pull the shard in full.
absl::Status ApplySparseUpdate(const common::EncodedChunkView& update,
                               UpdateKind kind, std::span<float> range);
// The same for a reply piece (its `delta` flag says the kind); a chunk
// that arrived in several slices is joined first.
absl::Status ApplySparseUpdate(const proto::ReplyPieceMessage& piece,
                               std::span<float> range);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_SPARSE_APPLY_H_
