// Writes the committed seed corpus of every fuzz target
// (tests/fuzz/corpus/<target>/seed-*): well-formed inputs in each target's
// input format, so the fuzzers start from deep inside the decoders instead
// of having to discover checksums, varints and protobuf framing.
//   make_seeds CORPUS_DIR
// The corpus also holds what the long runs found interesting (libFuzzer's
// -merge=1); this program only writes the hand-made starting points.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "cddp/v1/parameter_server.pb.h"
#include "common/compress/sparse.h"
#include "common/record_file.h"
#include "common/wire/layout.h"
#include "common/wire/wire_codec.h"
#include "proto/wire_adapter.h"
#include "server/shard/shard_checkpoint.h"
#include "worker/worker_checkpoint.h"

namespace {

using cddp::common::IndexEncoding;
using cddp::common::SparseSelection;
using cddp::common::ValueType;

std::string dir;

void Write(const std::string& target, int n, const std::string& bytes) {
  const std::string folder = dir + "/" + target;
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/seed-" + std::to_string(n), std::ios::binary)
      << bytes;
}

template <typename T>
void Put(T v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}
void PutBytes(const std::string& b, std::string* out) {
  Put<uint16_t>(static_cast<uint16_t>(b.size()), out);
  out->append(b);
}

SparseSelection Pairs(uint32_t first, uint32_t n, uint32_t stride) {
  SparseSelection s;
  for (uint32_t k = 0; k < n; ++k) {
    s.indices.push_back(first + k * stride);
    s.values.push_back(0.25f * static_cast<float>(k) - 1.0f);
  }
  return s;
}

void ChunkSeeds() {
  int n = 0;
  for (auto vt : {ValueType::kFp32, ValueType::kFp16, ValueType::kBf16}) {
    for (auto ie : {IndexEncoding::kAbsoluteU32, IndexEncoding::kDeltaVarint,
                    IndexEncoding::kDense}) {
      const uint32_t range = 64;
      const SparseSelection s =
          ie == IndexEncoding::kDense ? Pairs(0, range, 1) : Pairs(3, 9, 7);
      std::string indices, values, in;
      if (!cddp::common::EncodeChunk(s, vt, ie, &indices, &values).ok()) {
        continue;
      }
      Put<uint8_t>(static_cast<uint8_t>(vt), &in);
      Put<uint8_t>(static_cast<uint8_t>(ie), &in);
      Put<uint32_t>(static_cast<uint32_t>(s.size()), &in);
      Put<uint32_t>(range, &in);
      PutBytes(indices, &in);
      in.append(values);
      Write("chunk_codec_fuzz", n++, in);
    }
  }
}

void PieceSeeds() {
  // A sparse push in three pieces, then a dense push in two.
  std::string sparse, dense;
  Put<uint16_t>(1000, &sparse);
  for (uint32_t p = 0; p < 3; ++p) {
    const SparseSelection s = Pairs(100 * p + 1, 10, 3);
    std::string indices, values;
    (void)cddp::common::EncodeChunk(
        s, ValueType::kFp32, IndexEncoding::kDeltaVarint, &indices, &values);
    Put<uint8_t>(static_cast<uint8_t>(ValueType::kFp32), &sparse);
    Put<uint8_t>(static_cast<uint8_t>(IndexEncoding::kDeltaVarint), &sparse);
    Put<uint16_t>(10, &sparse);
    Put<uint32_t>(0, &sparse);
    PutBytes(indices, &sparse);
    PutBytes(values, &sparse);
  }
  Write("push_pieces_fuzz", 0, sparse);
  Put<uint16_t>(32, &dense);
  for (uint32_t p = 0; p < 2; ++p) {
    const SparseSelection s = Pairs(16 * p, 16, 1);
    std::string values;
    cddp::common::EncodeValues(s.values, ValueType::kBf16, &values);
    Put<uint8_t>(static_cast<uint8_t>(ValueType::kBf16), &dense);
    Put<uint8_t>(static_cast<uint8_t>(IndexEncoding::kDense), &dense);
    Put<uint16_t>(16, &dense);
    Put<uint32_t>(16 * p, &dense);
    PutBytes("", &dense);
    PutBytes(values, &dense);
  }
  Write("push_pieces_fuzz", 1, dense);
  // A whole-range fp32 push in three dense pieces (the server's fast path;
  // 48 = 0 mod 3: the twin assembles it in a fresh buffer, 49 and 50 in
  // recycled ones).
  for (uint16_t range : {48, 49, 50}) {
    std::string whole;
    Put<uint16_t>(range, &whole);
    for (uint32_t p = 0; p < 3; ++p) {
      const uint32_t from = 16 * p, count = p < 2 ? 16 : range - 32;
      const SparseSelection s = Pairs(from, count, 1);
      std::string values;
      cddp::common::EncodeValues(s.values, ValueType::kFp32, &values);
      Put<uint8_t>(static_cast<uint8_t>(ValueType::kFp32), &whole);
      Put<uint8_t>(static_cast<uint8_t>(IndexEncoding::kDense), &whole);
      Put<uint16_t>(static_cast<uint16_t>(count), &whole);
      Put<uint32_t>(from, &whole);
      PutBytes("", &whole);
      PutBytes(values, &whole);
    }
    Write("push_pieces_fuzz", range - 46, whole);
  }
}

void RequestSeeds() {
  // Both workers join (worker 0 with initial values), push round 0, read.
  cddp::common::Layout layout;
  layout.total_size = 16;
  layout.shard_bounds = {0, 16};
  layout.tensor_sizes = {12, 4};
  for (int mode = 0; mode < 3; ++mode) {
    std::string in;
    Put<uint8_t>(static_cast<uint8_t>(mode), &in);
    for (uint32_t w = 0; w < 2; ++w) {
      cddp::v1::JoinRequest join;
      join.set_worker_id(w);
      join.set_shard_index(0);
      join.set_applies_delta_replies(true);
      cddp::proto::LayoutToProto(layout, join.mutable_layout());
      if (w == 0) {
        std::string values;
        for (int k = 0; k < 16; ++k) Put<float>(0.5f, &values);
        join.set_initial_values(values);
      }
      Put<uint8_t>(0, &in);
      PutBytes(join.SerializeAsString(), &in);
    }
    for (uint32_t w = 0; w < 2; ++w) {
      cddp::proto::PushPieceMessage piece;
      piece.worker_id = w;
      piece.shard_index = 0;
      piece.step = 0;
      piece.last = true;
      const SparseSelection s = Pairs(w, 5, 3);
      (void)cddp::proto::EncodePushPieceInto(
          s.indices, s.values, ValueType::kFp32, IndexEncoding::kDeltaVarint,
          /*dense=*/false, &piece);
      cddp::v1::PushPullRequest push;
      cddp::proto::ToGenerated(piece, &push);
      Put<uint8_t>(1, &in);
      PutBytes(push.SerializeAsString(), &in);
    }
    Put<uint8_t>(2, &in);
    PutBytes("", &in);
    Write("request_fuzz", mode, in);
  }
}

// Pushes' pieces as the worker sends them (dense fp32, sparse bf16) and
// replies' (dense, sparse), whole and cut into three slices; a reply's
// first byte has bit 7 set.
void PieceMessageSeeds() {
  cddp::proto::PushPieceMessage dense, sparse;
  dense.step = 3;
  dense.worker_id = 1;
  dense.last = true;
  const SparseSelection d = Pairs(0, 16, 1);
  cddp::proto::EncodeDensePieceInto(16, d.values, ValueType::kFp32, &dense);
  const SparseSelection s = Pairs(5, 10, 3);
  (void)cddp::proto::EncodePushPieceInto(s.indices, s.values, ValueType::kBf16,
                                         IndexEncoding::kDeltaVarint,
                                         /*dense=*/false, &sparse);
  std::vector<std::string> messages;
  for (const cddp::proto::PushPieceMessage* m : {&dense, &sparse}) {
    cddp::v1::PushPullRequest request;
    cddp::proto::ToGenerated(*m, &request);
    messages.push_back(std::string(1, '\0') + request.SerializeAsString());
  }
  cddp::proto::ReplyPieceMessage dense_reply;
  size_t offset = 0;
  cddp::proto::FillDensePiece(d.values, 8, &offset, &dense_reply);
  cddp::v1::PushPullResponse reply;
  cddp::proto::ToGenerated(dense_reply, &reply);
  messages.push_back(std::string(1, '\x80') + reply.SerializeAsString());
  reply.clear_dense_values();
  reply.set_delta(true);
  (void)cddp::proto::EncodeChunkInto(s.indices, s.values, ValueType::kFp32,
                                     IndexEncoding::kDeltaVarint,
                                     reply.mutable_sparse_update());
  messages.push_back(std::string(1, '\x80') + reply.SerializeAsString());
  int n = 0;
  for (const std::string& m : messages) {
    Write("push_piece_message_fuzz", n++, m);
    std::string cut;
    Put<uint8_t>(static_cast<uint8_t>(m[0] | 2), &cut);
    Put<uint16_t>(5, &cut);
    Put<uint16_t>(static_cast<uint16_t>(m.size() / 2), &cut);
    Write("push_piece_message_fuzz", n++, cut + m.substr(1));
  }
}

void CheckpointSeeds() {
  cddp::server::ShardCheckpoint c;
  c.num_workers = 2;
  c.layout.total_size = 8;
  c.layout.shard_bounds = {0, 8};
  c.layout.tensor_sizes = {8};
  c.step = 3;
  c.values.assign(8, 0.5f);
  c.optimizer.momentum = 0.9f;
  c.rule_state.steps = 3;
  c.rule_state.fields["velocity"].assign(8, 0.25f);
  const std::string file = cddp::server::EncodeShardCheckpoint(c);
  Write("checkpoint_fuzz", 0, std::string(1, '\0') + file);
  // The payload alone, for the modes that wrap it in a record.
  auto payload = cddp::common::ParseRecord(file, "SHRD", 3);
  if (payload.ok()) {
    Write("checkpoint_fuzz", 1, std::string(1, '\3') + std::string(*payload));
  }
}

void WorkerCheckpointSeeds() {
  cddp::common::ErrorFeedback residuals(std::vector<size_t>{6, 2});
  const std::vector<float> velocity(8, 0.125f);
  for (uint32_t w = 0; w < 2; ++w) {
    const std::string file = cddp::worker::EncodeWorkerCheckpoint(
        w, 12, {1, 5}, residuals,
        w == 0 ? std::span<const float>(velocity) : std::span<const float>());
    // Byte 0: mode 0 (the whole file); byte 1: the worker it must belong to.
    Write("worker_checkpoint_fuzz", static_cast<int>(w),
          std::string{'\0', static_cast<char>(w)} + file);
  }
}

void MetricsSeeds() {
  int n = 0;
  for (const char* head :
       {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.0\r\n\r\n",
        "POST /metrics HTTP/1.1\r\n\r\n", "GET /metrics?x=1 HTTP/1.1\r\n\r\n",
        "GET /other HTTP/1.1\r\n\r\n"}) {
    Write("metrics_request_fuzz", n++, head);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  dir = argv[1];
  ChunkSeeds();
  PieceSeeds();
  RequestSeeds();
  PieceMessageSeeds();
  CheckpointSeeds();
  WorkerCheckpointSeeds();
  MetricsSeeds();
  std::printf("seeds written under %s\n", dir.c_str());
  return 0;
}
