// Reassembling a push that arrives in pieces (cddp.v1 PushPullStream): each
// piece is an encoded chunk of the same push, and the pieces in order are
// the push. A piece's pairs must all come after the previous piece's
// (indices keep strictly ascending across pieces), so the assembled push
// obeys every rule of a one-message chunk (wire_codec.h) and nothing is
// sorted or merged on arrival.
//
// Each piece is decoded by DecodeChunk's rules against the shard's range,
// except a dense piece (kDense, no index bytes), which holds every index of
// [offset, offset + count) in order, since a piece cannot cover the whole
// range: it must start after the previous piece's last index and end
// within the range.
//
// Thread-compatible: one assembler per incoming call.
#ifndef CDDP_COMMON_WIRE_PUSH_PIECES_H_
#define CDDP_COMMON_WIRE_PUSH_PIECES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/compress/sparse.h"
#include "common/wire/wire_codec.h"

namespace cddp::common {

// A piece whose byte fields arrive as parts (e.g. the slices gRPC received
// them in), in order; the bytes of a field are its parts joined.
struct ChunkParts {
  uint32_t count = 0;
  int value_type = 0;
  int index_encoding = 0;
  std::span<const std::string_view> indices;
  std::span<const std::string_view> values;
};

class PushAssembler {
 public:
  // Assembles a push into `buffer` (cleared; its capacity is reused, so a
  // recycled buffer takes a dense push without touching fresh pages) for a
  // shard of `range_size` elements.
  PushAssembler(uint32_t range_size, SparseSelection buffer);

  // Decodes `piece` and appends its pairs; `offset` is a dense piece's first
  // index and must be 0 for any other piece. INVALID_ARGUMENT naming the
  // broken rule, and nothing appended, for a piece DecodeChunk would refuse
  // or one whose first index is not above the last one so far.
  absl::Status Add(const EncodedChunkView& piece, uint64_t offset);
  // The same for a piece in parts, with the same result and digest. A
  // dense fp32 piece is copied from its parts straight into the buffer;
  // any other is joined first (one copy more).
  absl::Status Add(const ChunkParts& piece, uint64_t offset);

  // Tells this push from a different one (the pieces' fields and offsets in
  // order); equal for the same pieces. Only comparable within one process.
  uint64_t digest() const { return digest_; }
  uint64_t pieces() const { return pieces_; }
  const SparseSelection& pairs() const { return pairs_; }
  // The assembled pairs; the assembler is spent.
  SparseSelection Take() { return std::move(pairs_); }

 private:
  // Where the next piece's indices must start: after the last one so far.
  uint64_t FirstFree() const {
    return pairs_.size() == 0 ? 0 : uint64_t{pairs_.indices.back()} + 1;
  }
  // OK if a piece of `count` pairs may start at `offset` (dense) or
  // carries offset 0 (not dense).
  absl::Status CheckPlacement(bool dense, uint64_t offset,
                              uint32_t count) const;
  // Counts a piece added and folds it into the digest.
  void Record(uint64_t offset, uint32_t count, int value_type,
              int index_encoding, std::string_view indices,
              std::string_view values);

  const uint32_t range_size_;
  std::string scratch_indices_, scratch_values_;  // joined parts
  SparseSelection pairs_;
  uint64_t digest_ = 0;
  uint64_t pieces_ = 0;
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_WIRE_PUSH_PIECES_H_
