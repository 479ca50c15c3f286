#include "proto/reply_piece_message.h"

namespace cddp::proto {
namespace {

// Field numbers of cddp.v1.PushPullResponse.
enum ResponseField : uint32_t {
  kStep = 1,
  kContributors = 2,
  kOffset = 3,
  kDenseValues = 4,
  kSparseUpdate = 5,
  kLast = 6,
  kDelta = 7,
};

}  // namespace

size_t ReplyPieceMessage::ByteSizeLong() const {
  return wire::VarintFieldSize(kStep, step) +
         wire::VarintFieldSize(kContributors, contributors) +
         wire::VarintFieldSize(kOffset, offset) +
         wire::BytesFieldSize(kDenseValues, dense_values.size()) +
         (has_sparse_update ? wire::MessageFieldSize(
                                  kSparseUpdate, wire::ChunkSize(sparse_update))
                            : 0) +
         wire::VarintFieldSize(kLast, last ? 1 : 0) +
         wire::VarintFieldSize(kDelta, delta ? 1 : 0);
}

grpc::ByteBuffer SerializeReplyPiece(const ReplyPieceMessage& m) {
  wire::SliceWriter w;
  w.VarintField(kStep, m.step);
  w.VarintField(kContributors, m.contributors);
  w.VarintField(kOffset, m.offset);
  w.BytesField(kDenseValues, m.dense_values);
  if (m.has_sparse_update) w.ChunkField(kSparseUpdate, m.sparse_update);
  w.VarintField(kLast, m.last ? 1 : 0);
  w.VarintField(kDelta, m.delta ? 1 : 0);
  return w.Finish();
}

bool ParseReplyPiece(std::span<const grpc::Slice> slices,
                     ReplyPieceMessage* m) {
  m->Clear();
  wire::SliceReader r(slices);
  while (r.remaining() > 0) {
    uint32_t field, type;
    if (!r.Tag(&field, &type)) return false;
    uint64_t v;
    if (type == wire::kVarint &&
        (field == kStep || field == kContributors || field == kOffset ||
         field == kLast || field == kDelta)) {
      if (!r.Varint(&v)) return false;
      if (field == kStep) m->step = v;
      if (field == kContributors) m->contributors = static_cast<uint32_t>(v);
      if (field == kOffset) m->offset = v;
      if (field == kLast) m->last = v != 0;
      if (field == kDelta) m->delta = v != 0;
    } else if (type == wire::kLen && field == kDenseValues) {
      m->dense_values.Clear();  // the last one counts
      if (!r.Len(&m->dense_values)) return false;
    } else if (type == wire::kLen && field == kSparseUpdate) {
      // Merges with an earlier one.
      if (!wire::ReadChunk(r, &m->sparse_update)) return false;
      m->has_sparse_update = true;
    } else if (!r.Skip(type)) {
      return false;
    }
  }
  return true;
}

grpc::Status DeserializeReplyPiece(grpc::ByteBuffer* buffer,
                                   ReplyPieceMessage* message) {
  return wire::Deserialize<cddp::v1::PushPullResponse>(
      buffer, message, &ParseReplyPiece, &FromGenerated);
}

ReplyPieceMessage FromGenerated(const cddp::v1::PushPullResponse& response) {
  ReplyPieceMessage m;
  m.step = response.step();
  m.contributors = response.contributors();
  m.offset = response.offset();
  m.dense_values.Assign(response.dense_values());
  m.has_sparse_update = response.has_sparse_update();
  wire::ChunkFromGenerated(response.sparse_update(), &m.sparse_update);
  m.last = response.last();
  m.delta = response.delta();
  return m;
}

void ToGenerated(const ReplyPieceMessage& m,
                 cddp::v1::PushPullResponse* response) {
  response->Clear();
  response->set_step(m.step);
  response->set_contributors(m.contributors);
  response->set_offset(m.offset);
  std::string scratch;
  response->set_dense_values(std::string(m.dense_values.Contiguous(&scratch)));
  if (m.has_sparse_update) {
    wire::ChunkToGenerated(m.sparse_update, response->mutable_sparse_update());
  }
  response->set_last(m.last);
  response->set_delta(m.delta);
}

}  // namespace cddp::proto
