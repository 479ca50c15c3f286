#include "server/reply_caches.h"

#include <utility>

#include "proto/slice_wire.h"

namespace cddp::server {

using ReplyPiece = proto::ReplyPieceMessage;

std::shared_ptr<const SparseReplyCache::Reply> SparseReplyCache::Get(
    const std::shared_ptr<const RoundResult>& result) {
  absl::MutexLock lock(&mu_);
  if (reply_ == nullptr || result_.lock() != result) {
    auto reply = std::make_shared<Reply>();
    for (size_t p = 0; p < result->sparse_pieces.size(); ++p) {
      const SparsePiece& piece = result->sparse_pieces[p];
      auto message = std::make_shared<ReplyPiece>();
      message->step = result->open_round;
      message->contributors = result->contributors;
      message->has_sparse_update = true;
      proto::wire::SetChunk(
          piece.count, static_cast<int32_t>(piece.value_type),
          static_cast<int32_t>(common::IndexEncoding::kDeltaVarint),
          piece.indices, piece.values, &message->sparse_update);
      message->last = p + 1 == result->sparse_pieces.size();
      message->delta = result->delta;
      reply->push_back(std::move(message));
    }
    reply_ = std::move(reply);
    result_ = result;
  }
  return reply_;
}

DenseReplyCache::Piece DenseReplyCache::Get(
    const std::shared_ptr<const RoundResult>& result, size_t index,
    Build build) {
  const auto own = [&]() -> Piece {
    auto piece = std::make_shared<ReplyPiece>();
    if (!build(piece.get())) return nullptr;
    return piece;
  };
  absl::MutexLock lock(&mu_);
  if (result_.lock() != result) {
    if (result->open_round < round_) return own();  // an older round's
    result_ = result;
    round_ = result->open_round;
    entries_.clear();
  }
  if (entries_.size() <= index) entries_.resize(index + 1);
  Entry& e = entries_[index];
  if (e.takers >= result->contributors) return own();  // a repeated push
  if (e.piece == nullptr) {
    e.piece = own();
    if (e.piece == nullptr) return nullptr;
  }
  Piece piece = e.piece;
  if (++e.takers == result->contributors) e.piece.reset();
  return piece;
}

}  // namespace cddp::server
