#include "proto/push_piece_message.h"

namespace cddp::proto {
namespace {

// Field numbers of cddp.v1.PushPullRequest.
enum RequestField : uint32_t {
  kStep = 1,
  kWorkerId = 2,
  kShardIndex = 3,
  kChunk = 4,
  kOffset = 5,
  kLast = 6,
};

}  // namespace

size_t PushPieceMessage::ByteSizeLong() const {
  return wire::VarintFieldSize(kStep, step) +
         wire::VarintFieldSize(kWorkerId, worker_id) +
         wire::VarintFieldSize(kShardIndex, shard_index) +
         (has_chunk ? wire::MessageFieldSize(kChunk, wire::ChunkSize(chunk))
                    : 0) +
         wire::VarintFieldSize(kOffset, offset) +
         wire::VarintFieldSize(kLast, last ? 1 : 0);
}

grpc::ByteBuffer SerializePushPiece(const PushPieceMessage& m) {
  wire::SliceWriter w;
  w.VarintField(kStep, m.step);
  w.VarintField(kWorkerId, m.worker_id);
  w.VarintField(kShardIndex, m.shard_index);
  if (m.has_chunk) w.ChunkField(kChunk, m.chunk);
  w.VarintField(kOffset, m.offset);
  w.VarintField(kLast, m.last ? 1 : 0);
  return w.Finish();
}

bool ParsePushPiece(std::span<const grpc::Slice> slices, PushPieceMessage* m) {
  m->Clear();
  wire::SliceReader r(slices);
  while (r.remaining() > 0) {
    uint32_t field, type;
    if (!r.Tag(&field, &type)) return false;
    uint64_t v;
    if (type == wire::kVarint && field != kChunk && field <= kLast) {
      if (!r.Varint(&v)) return false;
      if (field == kStep) m->step = v;
      if (field == kWorkerId) m->worker_id = static_cast<uint32_t>(v);
      if (field == kShardIndex) m->shard_index = static_cast<uint32_t>(v);
      if (field == kOffset) m->offset = v;
      if (field == kLast) m->last = v != 0;
    } else if (type == wire::kLen && field == kChunk) {
      // A repeated message field merges, as if its bytes were one.
      if (!wire::ReadChunk(r, &m->chunk)) return false;
      m->has_chunk = true;
    } else if (!r.Skip(type)) {
      return false;
    }
  }
  return true;
}

grpc::Status DeserializePushPiece(grpc::ByteBuffer* buffer,
                                  PushPieceMessage* message) {
  return wire::Deserialize<cddp::v1::PushPullRequest>(
      buffer, message, &ParsePushPiece, &FromGenerated);
}

PushPieceMessage FromGenerated(const cddp::v1::PushPullRequest& request) {
  PushPieceMessage m;
  m.step = request.step();
  m.worker_id = request.worker_id();
  m.shard_index = request.shard_index();
  m.offset = request.offset();
  m.last = request.last();
  m.has_chunk = request.has_chunk();
  wire::ChunkFromGenerated(request.chunk(), &m.chunk);
  return m;
}

void ToGenerated(const PushPieceMessage& m,
                 cddp::v1::PushPullRequest* request) {
  request->Clear();
  request->set_step(m.step);
  request->set_worker_id(m.worker_id);
  request->set_shard_index(m.shard_index);
  request->set_offset(m.offset);
  request->set_last(m.last);
  if (m.has_chunk) wire::ChunkToGenerated(m.chunk, request->mutable_chunk());
}

}  // namespace cddp::proto
