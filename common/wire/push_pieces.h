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

// Storage to assemble a push in: an earlier push's pairs, whatever they
// hold (their vectors' sizes and capacity are reused and their contents
// overwritten), of which the first `ascending_prefix` indices are known to
// be 0, 1, 2, ... in order, as a whole-range push's are. A dense push
// assembled in it writes no index it already holds.
struct RecycledPush {
  SparseSelection pairs;
  size_t ascending_prefix = 0;
};

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
  // Assembles a push into `buffer` (its storage is reused, so a recycled
  // buffer takes a dense push without touching fresh pages, zero-filling or
  // writing the indices it holds already) for a shard of `range_size`
  // elements.
  PushAssembler(uint32_t range_size, RecycledPush buffer);

  // Decodes `piece` and appends its pairs; `offset` is a dense piece's first
  // index and must be 0 for any other piece. INVALID_ARGUMENT naming the
  // broken rule, and nothing appended, for a piece DecodeChunk would refuse
  // or one whose first index is not above the last one so far.
  absl::Status Add(const EncodedChunkView& piece, uint64_t offset);
  // The same for a piece in parts, with the same result and digest. A
  // dense fp32 piece is copied from its parts straight into the buffer and
  // checked and digested there in one pass; any other is joined first (one
  // copy more).
  absl::Status Add(const ChunkParts& piece, uint64_t offset);

  // Tells this push from a different one (the pieces' fields and offsets in
  // order); equal for the same pieces. Only comparable within one process.
  uint64_t digest() const { return digest_; }
  uint64_t pieces() const { return pieces_; }
  // The pairs so far: how many, and their indices (a view valid until the
  // next Add or Take).
  size_t size() const { return size_; }
  std::span<const uint32_t> indices() const {
    return {pairs_.indices.data(), size_};
  }
  // The assembled pairs; the assembler is spent.
  SparseSelection Take() {
    Trim();
    return std::move(pairs_);
  }

 private:
  // Where the next piece's indices must start: after the last one so far.
  uint64_t FirstFree() const {
    return size_ == 0 ? 0 : uint64_t{pairs_.indices[size_ - 1]} + 1;
  }
  // Drops what the vectors hold beyond the pairs so far (the recycled
  // buffer's tail), so that they hold exactly those pairs.
  void Trim();
  // Appends a dense fp32 piece of `count` values at `offset` == size_ to a
  // push that so far holds exactly the indices 0..size_-1, from its parts:
  // no zero fill, and no index written that the buffer holds already.
  // False, with nothing appended, if a value is not finite.
  bool AppendDensePrefix(std::span<const std::string_view> parts,
                         uint32_t count, uint64_t* values_digest);
  // OK if a piece of `count` pairs may start at `offset` (dense) or
  // carries offset 0 (not dense).
  absl::Status CheckPlacement(bool dense, uint64_t offset,
                              uint32_t count) const;
  // Counts a piece added and folds it into the digest; `values_digest` is
  // BytesDigest of its values field.
  void Record(uint64_t offset, uint32_t count, int value_type,
              int index_encoding, std::string_view indices,
              uint64_t values_digest);

  const uint32_t range_size_;
  std::string scratch_indices_, scratch_values_;  // joined parts
  // The first size_ entries of pairs_' vectors are the push so far; the
  // vectors may hold more (the recycled buffer's, until Trim), of which
  // indices[0, ascending_prefix_) are known to be 0, 1, 2, ...
  SparseSelection pairs_;
  size_t size_ = 0;
  size_t ascending_prefix_ = 0;
  uint64_t digest_ = 0;
  uint64_t pieces_ = 0;
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_WIRE_PUSH_PIECES_H_
