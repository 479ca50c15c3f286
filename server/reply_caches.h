// A round's reply, built once and sent to every waiter of the round: gRPC
// only reads the messages (const serialisation is thread-safe), so the
// shard encodes or copies each piece once a round, not once per worker.
//
// SparseReplyCache: the sparse (and compressed) downlink's pieces
// (RoundResult::sparse_pieces), built whole by the first waiter to ask.
// DenseReplyCache: the dense downlink's pieces, each copied from the
// shard's values by the first waiter to need it, under that waiter's read
// lease (ShardState::ReadValues); the others send the copy, which is the
// round's values whatever the shard does meanwhile. A piece is dropped once
// as many waiters as the round had contributors took it; a waiter beyond
// those (a repeated push) copies its own. So a waiter whose lease was
// revoked (it did not keep up) still sends the pieces the round's copy
// holds, and fails its reply only where it must copy one itself.
//
// Thread-safe.
#ifndef CDDP_SERVER_REPLY_CACHES_H_
#define CDDP_SERVER_REPLY_CACHES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "proto/reply_piece_message.h"
#include "server/shard/shard_state.h"

namespace cddp::server {

class SparseReplyCache {
 public:
  using Reply = std::vector<std::shared_ptr<const proto::ReplyPieceMessage>>;

  std::shared_ptr<const Reply> Get(
      const std::shared_ptr<const RoundResult>& result);

 private:
  absl::Mutex mu_;
  std::weak_ptr<const RoundResult> result_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Reply> reply_ ABSL_GUARDED_BY(mu_);
};

class DenseReplyCache {
 public:
  using Piece = std::shared_ptr<const proto::ReplyPieceMessage>;
  // Fills a piece from the shard's values; false if it cannot (its
  // caller's lease was revoked).
  using Build = absl::FunctionRef<bool(proto::ReplyPieceMessage*)>;

  // Piece `index` of `result`'s reply: the round's copy, or one made now by
  // `build` (under the cache's lock, so that a piece is copied once). Null
  // if `build` fails.
  Piece Get(const std::shared_ptr<const RoundResult>& result, size_t index,
            Build build);

 private:
  struct Entry {
    Piece piece;
    uint32_t takers = 0;
  };
  absl::Mutex mu_;
  // The round whose pieces entries_ holds; a reader of an older round
  // (its lease revoked meanwhile) copies its own and changes nothing.
  std::weak_ptr<const RoundResult> result_ ABSL_GUARDED_BY(mu_);
  uint64_t round_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cddp::server

#endif  // CDDP_SERVER_REPLY_CACHES_H_
