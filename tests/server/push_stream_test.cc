// PushPullStream, the push in pieces: a push far above the message limit
// arrives whole and is applied exactly; a stream that breaks off, or whose
// pieces disagree, is refused with nothing counted; a push for a step that
// is not open is refused on its first piece, before any decoding.
#include <cstring>
#include <string>
#include <vector>

#include "common/wire/wire_codec.h"
#include "gtest/gtest.h"
#include "proto/wire_adapter.h"
#include "tests/support/raw_push.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace cddp::testing {
namespace {

// Pieces of `per_piece` pairs of `pairs` for (worker, step, shard 0).
std::vector<cddp::v1::PushPullRequest> Pieces(
    const common::SparseSelection& pairs, uint32_t worker, uint64_t step,
    size_t per_piece) {
  std::vector<cddp::v1::PushPullRequest> pieces;
  for (size_t b = 0; b == 0 || b < pairs.size(); b += per_piece) {
    const size_t e = std::min(pairs.size(), b + per_piece);
    proto::PushPieceMessage p;
    p.step = step;
    p.worker_id = worker;
    p.shard_index = 0;
    p.last = e == pairs.size();
    EXPECT_OK(proto::EncodePushPieceInto(
        std::span(pairs.indices).subspan(b, e - b),
        std::span(pairs.values).subspan(b, e - b), common::ValueType::kFp32,
        common::IndexEncoding::kDeltaVarint, /*dense=*/false, &p));
    proto::ToGenerated(p, &pieces.emplace_back());
  }
  return pieces;
}

common::SparseSelection EveryThird(uint32_t n) {
  common::SparseSelection s;
  for (uint32_t i = 0; i < n; i += 3) {
    s.indices.push_back(i);
    s.values.push_back(0.01f * static_cast<float>(i % 23) - 0.1f);
  }
  return s;
}

class PushStreamTest : public ::testing::Test {
 protected:
  // One worker, two shards of kN / 2 (800 KB of initial values, which
  // go whole in a Join), servers that take messages of at most 1 MiB.
  static constexpr uint32_t kN = 400'000;

  void SetUp() override {
    ClusterOptions co;
    co.num_workers = 1;
    co.max_message_mb = 1;
    cluster_ = std::make_unique<TestCluster>(co, kN);
    ASSERT_OK(cluster_->status());
    params_ = RandomParams(9, kN);
    // Absolute indices: 8 bytes a pair, so a push of most of a shard is
    // twice its initial values.
    worker::ShardClientOptions o;
    o.tls = common::Plaintext();
    o.server_addresses = cluster_->addresses();
    o.index_encoding = common::IndexEncoding::kAbsoluteU32;
    o.max_message_mb = 1;
    o.push_piece_pairs = 64 << 10;
    auto client = worker::ShardClient::Create(cluster_->shard_map(), o);
    ASSERT_OK(client.status());
    client_ = *std::move(client);
    ASSERT_OK(client_->Join(std::vector<uint64_t>{kN}, params_).status());
    stub_ = RawStub(cluster_->addresses()[0]);
  }

  void ExpectNothingCounted() {
    EXPECT_EQ(cluster_->server(0).state().step(), 0u);
    EXPECT_EQ(cluster_->server(0).state().pushed_count(), 0u);
    EXPECT_EQ(cluster_->ServerValues(), params_);
  }

  std::unique_ptr<TestCluster> cluster_;
  std::vector<float> params_;
  std::unique_ptr<worker::ShardClient> client_;
  std::unique_ptr<cddp::v1::ParameterServer::Stub> stub_;
};

TEST_F(PushStreamTest, APushAboveTheMessageLimitArrivesInPiecesAndApplies) {
  // Every element but index 1: about 1.6 MB for shard 0 with absolute
  // indices, over the 1 MiB limit.
  common::SparseSelection most;
  for (uint32_t i = 0; i < kN; ++i) {
    if (i == 1) continue;
    most.indices.push_back(i);
    most.values.push_back(0.001f * static_cast<float>(i % 17));
  }
  // Whole, it cannot be sent at all.
  cddp::v1::PushPullRequest whole;
  whole.set_shard_index(0);
  ASSERT_OK(proto::EncodeChunkInto(
      std::span(most.indices).subspan(0, kN / 2 - 1),
      std::span(most.values).subspan(0, kN / 2 - 1), common::ValueType::kFp32,
      common::IndexEncoding::kAbsoluteU32, whole.mutable_chunk()));
  const Outcome o = RawPush(*stub_, whole);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kResourceExhausted) << o.status;
  ExpectNothingCounted();
  // In pieces it applies exactly: lr 0.01, one worker.
  std::vector<float> expected = params_;
  for (size_t k = 0; k < most.size(); ++k) {
    expected[most.indices[k]] -= 0.01f * most.values[k];
  }
  const auto r = client_->PushPull(most, params_, nullptr);
  ASSERT_OK(r.status());
  EXPECT_EQ(params_, expected);
  EXPECT_EQ(cluster_->ServerValues(), expected);
  // Shard 0 with absolute indices, all of shard 1 in dense pieces.
  EXPECT_GT(r->bytes_sent, 8 * (uint64_t{kN} / 2 - 1) + 4 * (kN / 2));
}

TEST_F(PushStreamTest, AStreamEndingBeforeItsLastPieceCountsNothing) {
  const common::SparseSelection pairs = EveryThird(kN / 2);
  std::vector<cddp::v1::PushPullRequest> pieces = Pieces(pairs, 0, 0, 1000);
  ASSERT_GT(pieces.size(), 3u);
  pieces.resize(3);  // the last piece never comes
  const Outcome cut = RawPushPieces(*stub_, pieces);
  EXPECT_EQ(cut.status.code(), absl::StatusCode::kCancelled) << cut.status;
  EXPECT_NE(cut.status.message().find("before its last piece"),
            std::string::npos)
      << cut.status;
  ExpectNothingCounted();
  // The same step is still open to this worker: a whole push is counted.
  const Outcome full = RawPushPieces(*stub_, Pieces(pairs, 0, 0, 1000));
  EXPECT_OK(full.status);
  EXPECT_GT(full.reply_messages, 0u);
  EXPECT_EQ(cluster_->server(0).state().step(), 1u);
}

TEST_F(PushStreamTest, PiecesThatDisagreeAreRefused) {
  const common::SparseSelection pairs = EveryThird(kN / 2);
  // A later piece for another step.
  std::vector<cddp::v1::PushPullRequest> pieces = Pieces(pairs, 0, 0, 1000);
  pieces[2].set_step(1);
  Outcome o = RawPushPieces(*stub_, pieces);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kInvalidArgument) << o.status;
  EXPECT_NE(o.status.message().find("its first piece was for worker 0"),
            std::string::npos)
      << o.status;
  ExpectNothingCounted();
  // Pieces out of order: the second one again after the third.
  pieces = Pieces(pairs, 0, 0, 1000);
  std::swap(pieces[1], pieces[2]);
  o = RawPushPieces(*stub_, pieces);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kInvalidArgument) << o.status;
  EXPECT_NE(o.status.message().find("piece 2: first index"), std::string::npos)
      << o.status;
  ExpectNothingCounted();
}

TEST_F(PushStreamTest, AStepNotOpenIsRefusedOnTheFirstPieceBeforeDecoding) {
  // Garbage that would not decode, for a future step: the step is what the
  // shard refuses, and says which step it expects.
  cddp::v1::PushPullRequest bad = Pieces(EveryThird(30), 0, 5, 1000)[0];
  bad.mutable_chunk()->mutable_indices()->assign("\xff\xff\xff", 3);
  const Outcome o = RawPushPieces(*stub_, {bad, bad});
  EXPECT_EQ(o.status.code(), absl::StatusCode::kFailedPrecondition) << o.status;
  ASSERT_TRUE(o.current_step.has_value());
  EXPECT_EQ(*o.current_step, 0u);
  ExpectNothingCounted();
}

}  // namespace
}  // namespace cddp::testing
