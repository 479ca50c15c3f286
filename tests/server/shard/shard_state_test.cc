// ShardState without gRPC: round closing, determinism under arrival order,
// retries, timeouts, late pushes, leases, validation leaving state unchanged,
// and the downlinks (the exact sparse one; the compressed one keeping every
// worker bit-identical to the shard's copy under any optimizer).
#include "server/shard/shard_state.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/wire/wire_codec.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/server/shard/shard_state_fixture.h"
#include "tests/support/test_util.h"

namespace cddp::server {
namespace {

TEST_F(ShardStateTest, ShuffledArrivalIsBitIdenticalToReference) {
  for (const OptimizerOptions& opt : AllOptimizers()) {
    SCOPED_TRACE(opt.DebugString());
    constexpr uint32_t kW = 3;
    Make(opt, kW);
    testing::ReferenceModel ref(opt, init_);
    std::mt19937 rng(42);
    for (uint64_t step = 0; step < 30; ++step) {
      std::vector<common::SparseSelection> pushes;
      for (uint32_t w = 0; w < kW; ++w) {
        pushes.push_back(testing::RandomSelection(step * 10 + w, kN, 0.05));
      }
      std::vector<uint32_t> order(kW);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<std::unique_ptr<FakeWaiter>> waiters;
      for (uint32_t w : order) {
        waiters.push_back(std::make_unique<FakeWaiter>(state_.get()));
        ASSERT_TRUE(
            Push(w, step, Encode(pushes[w]), waiters.back().get()).ok());
      }
      for (auto& w : waiters) {
        ASSERT_EQ(w->calls, 1);
        EXPECT_EQ(w->result->open_round, step + 1);
        EXPECT_EQ(w->result->contributors, kW);
      }
      ref.Round(pushes, std::vector<bool>(kW, true));
    }
    ASSERT_EQ(
        std::memcmp(Values().data(), ref.params().data(), kN * sizeof(float)),
        0);
  }
}

TEST_F(ShardStateTest, RetryIsAnsweredWithoutCountingTwice) {
  OptimizerOptions opt;
  opt.lr = 0.5f;
  Make(opt, 2);
  const auto a = testing::RandomSelection(1, kN, 0.1);
  const auto b = testing::RandomSelection(2, kN, 0.1);
  FakeWaiter w0(state_.get()), w0_retry(state_.get()), w1(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(a), &w0).ok());
  // Retry while the round is open: both calls get the same answer.
  ASSERT_TRUE(Push(0, 0, Encode(a), &w0_retry).ok());
  EXPECT_EQ(state_->pushed_count(), 1u);
  ASSERT_TRUE(Push(1, 0, Encode(b), &w1).ok());
  EXPECT_EQ(w0.calls, 1);
  EXPECT_EQ(w0_retry.calls, 1);
  EXPECT_EQ(w0.result, w0_retry.result);
  EXPECT_EQ(w0.result->contributors, 2u);
  // Retry after the round closed: replayed, nothing changes.
  const auto after = Values();
  FakeWaiter late_retry(state_.get());
  ASSERT_TRUE(Push(1, 0, Encode(b), &late_retry).ok());
  EXPECT_EQ(late_retry.calls, 1);
  EXPECT_EQ(late_retry.result, w1.result);
  EXPECT_EQ(state_->step(), 1u);
  EXPECT_EQ(Values(), after);
  testing::ReferenceModel ref(opt, init_);
  ref.Round({a, b}, {true, true});
  EXPECT_EQ(Values(), ref.params());
}

// The chunk is decoded before the lock, but the errors keep their order:
// who may push, and for which step, before what the chunk holds; a
// malformed push changes nothing, and a second push for a counted step is
// refused unless it is the counted one again.
TEST_F(ShardStateTest, MalformedPushErrorsKeepTheirPrecedence) {
  OptimizerOptions opt;
  opt.lr = 0.5f;
  Make(opt, 2);
  Encoded bad = Encode(testing::RandomSelection(3, kN, 0.1));
  bad.index_encoding = 9;
  FakeWaiter w(state_.get());
  uint64_t current = 99;
  EXPECT_EQ(state_->Push(7, 0, 0, bad.view(), 0, &w, &current).code(),
            absl::StatusCode::kInvalidArgument);  // unknown worker
  EXPECT_EQ(Push(0, 5, bad, &w, &current).code(),
            absl::StatusCode::kFailedPrecondition);  // future step
  EXPECT_EQ(current, 0u);
  const absl::Status s = Push(0, 0, bad, &w);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("unknown index encoding"), std::string::npos);
  EXPECT_EQ(state_->pushed_count(), 0u);
  EXPECT_EQ(w.calls, 0);

  const auto a = testing::RandomSelection(1, kN, 0.1);
  FakeWaiter w0(state_.get()), retry(state_.get()), w1(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(a), &w0).ok());
  // Not the counted chunk: refused, not taken for a retry.
  EXPECT_EQ(Push(0, 0, bad, &retry).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(state_->pushed_count(), 1u);
  ASSERT_TRUE(Push(1, 0, Encode(a), &w1).ok());
  EXPECT_EQ(retry.calls, 0);
  testing::ReferenceModel ref(opt, init_);
  ref.Round({a, a}, {true, true});
  EXPECT_EQ(Values(), ref.params());
}

TEST_F(ShardStateTest, MissingWorkerClosesAtTimeoutAndLatePushIsRejected) {
  OptimizerOptions opt;
  Make(opt, 3);
  const auto a = testing::RandomSelection(1, kN, 0.1);
  FakeWaiter w0(state_.get()), w1(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(a), &w0).ok());
  ASSERT_TRUE(Push(1, 0, Encode(a), &w1).ok());
  clock_.Advance(absl::Seconds(4));
  state_->PollTimeout();
  EXPECT_EQ(w0.calls, 0);
  clock_.Advance(absl::Seconds(1));
  state_->PollTimeout();
  ASSERT_EQ(w0.calls, 1);
  EXPECT_EQ(w0.result->contributors, 2u);
  EXPECT_EQ(state_->step(), 1u);
  // Worker 2 arrives late for step 0.
  FakeWaiter w2(state_.get());
  uint64_t current = 0;
  const auto values = Values();
  absl::Status s = Push(2, 0, Encode(a), &w2, &current);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("current step is 1"), std::string::npos) << s;
  EXPECT_EQ(current, 1u);
  EXPECT_EQ(w2.calls, 0);
  EXPECT_EQ(Values(), values);
  // A push from the future is refused too.
  s = Push(2, 5, Encode(a), &w2, &current);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ShardStateTest, ReadLeaseDefersTheClose) {
  OptimizerOptions opt;
  Make(opt, 1);
  const absl::StatusOr<ReadLease> lease = state_->BeginRead();
  ASSERT_TRUE(lease.ok());
  FakeWaiter w(state_.get());
  ASSERT_TRUE(
      Push(0, 0, Encode(testing::RandomSelection(3, kN, 0.5)), &w).ok());
  EXPECT_EQ(w.calls, 0);
  EXPECT_EQ(Values(), init_);
  state_->EndRead(lease->id);
  EXPECT_EQ(w.calls, 1);
  EXPECT_NE(Values(), init_);
}

// Applies a round's reply pieces to `params` as a worker does: new values
// replace, deltas add. Checks the pieces ascend and fit `max_pairs`.
void ApplyReply(const RoundResult& result, uint32_t max_pairs,
                std::vector<float>* params) {
  ASSERT_TRUE(result.sparse);
  int64_t last_index = -1;
  for (const SparsePiece& piece : result.sparse_pieces) {
    EXPECT_LE(piece.count, max_pairs);
    common::SparseSelection update;
    ASSERT_TRUE(
        common::DecodeChunk({piece.count, static_cast<int>(piece.value_type), 2,
                             piece.indices, piece.values},
                            static_cast<uint32_t>(params->size()), &update)
            .ok());
    for (size_t k = 0; k < update.size(); ++k) {
      EXPECT_GT(int64_t{update.indices[k]}, last_index);
      last_index = update.indices[k];
      float& x = (*params)[update.indices[k]];
      x = result.delta ? x + update.values[k] : update.values[k];
    }
  }
}

TEST_F(ShardStateTest, SparseDownlinkCarriesExactlyTheChangedEntries) {
  // One piece (the default size), and many small ones.
  for (uint32_t piece_pairs : {ShardOptions{}.sparse_piece_pairs, 7u}) {
    OptimizerOptions opt;
    opt.lr = 0.25f;
    Make(opt, 2, DownlinkMode::kSparse, piece_pairs);
    const auto a = testing::RandomSelection(1, kN, 0.05);
    const auto b = testing::RandomSelection(2, kN, 0.05);
    FakeWaiter w0(state_.get()), w1(state_.get());
    ASSERT_TRUE(Push(0, 0, Encode(a), &w0).ok());
    ASSERT_TRUE(Push(1, 0, Encode(b), &w1).ok());
    const auto& pieces = w0.result->sparse_pieces;
    ASSERT_FALSE(pieces.empty());
    EXPECT_FALSE(w0.result->delta);
    std::vector<float> patched = init_;
    ApplyReply(*w0.result, piece_pairs, &patched);
    size_t total = 0;
    for (const SparsePiece& piece : pieces) total += piece.count;
    EXPECT_EQ(pieces.size(), (total + piece_pairs - 1) / piece_pairs);
    EXPECT_EQ(patched, Values()) << piece_pairs << " pairs per piece";
  }
}

// Every optimizer, every wire value type: a worker that applies each reply
// holds exactly the shard's copy (what pulls serve), and the master moves
// exactly as under the dense downlink.
TEST_F(ShardStateTest, CompressedDownlinkKeepsWorkersBitIdentical) {
  for (const OptimizerOptions& opt : AllOptimizers()) {
    for (auto type : {common::ValueType::kFp32, common::ValueType::kFp16,
                      common::ValueType::kBf16}) {
      SCOPED_TRACE(::testing::Message()
                   << opt.DebugString() << " type " << static_cast<int>(type));
      Make(opt, 2, DownlinkMode::kDense);
      std::unique_ptr<ShardState> dense = std::move(state_);
      std::unique_ptr<ServerMetrics> dense_metrics = std::move(metrics_);
      Make(opt, 2, DownlinkMode::kCompressed, 13, type);
      std::vector<float> worker = init_;
      for (uint64_t step = 0; step < 6; ++step) {
        for (ShardState* shard : {dense.get(), state_.get()}) {
          FakeWaiter w0(shard), w1(shard);
          uint64_t c = 0;
          const auto a = Encode(testing::RandomSelection(step * 2, kN, 0.05));
          const auto b =
              Encode(testing::RandomSelection(step * 2 + 1, kN, 0.05));
          ASSERT_TRUE(shard->Push(0, 0, step, a.view(), 0, &w0, &c).ok());
          ASSERT_TRUE(shard->Push(1, 0, step, b.view(), 0, &w1, &c).ok());
          ASSERT_EQ(w0.calls, 1);
          if (shard == state_.get()) {
            EXPECT_TRUE(w0.result->delta);
            ApplyReply(*w0.result, 13, &worker);
          }
        }
        const std::vector<float> copy = Values();
        ASSERT_EQ(std::memcmp(worker.data(), copy.data(), kN * 4), 0)
            << "step " << step;
        auto master = state_->Snapshot();
        ASSERT_TRUE(master.ok());
        const auto dense_values = dense->values();
        ASSERT_EQ(
            std::memcmp((*master)->values.data(), dense_values.data(), kN * 4),
            0)
            << "step " << step;
        EXPECT_EQ((*master)->workers_copy, copy);
      }
      // With momentum the master moves everywhere, but a round sends at
      // most what the pushes carried (auto density).
      EXPECT_NE(Values(), init_);
    }
  }
}

TEST_F(ShardStateTest, CompressedDownlinkSendsAtMostItsDensity) {
  OptimizerOptions opt;
  opt.lr = 0.05f, opt.momentum = 0.9f;
  Make(opt, 2, DownlinkMode::kCompressed);
  for (uint64_t step = 0; step < 3; ++step) {
    FakeWaiter w0(state_.get()), w1(state_.get());
    const auto a = Encode(testing::RandomSelection(step + 10, kN, 0.02));
    const auto b = Encode(testing::RandomSelection(step + 20, kN, 0.02));
    ASSERT_TRUE(Push(0, step, a, &w0).ok());
    ASSERT_TRUE(Push(1, step, b, &w1).ok());
    size_t sent = 0;
    for (const SparsePiece& p : w0.result->sparse_pieces) sent += p.count;
    EXPECT_LE(sent, size_t{a.count} + b.count);
    EXPECT_GT(sent, 0u);
  }
}

TEST_F(ShardStateTest, CompressedShardRefusesWorkersThatCannotApplyDeltas) {
  OptimizerOptions opt;
  Make(opt, 2, DownlinkMode::kCompressed);
  const auto old = state_->Join(0, 0, OneShardLayout(), std::nullopt,
                                /*applies_deltas=*/false);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("older"), std::string::npos)
      << old.status();
  const auto now = state_->Join(0, 0, OneShardLayout(), std::nullopt, true);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->downlink, DownlinkMode::kCompressed);
  // The dense downlink serves old workers as ever.
  Make(opt, 2, DownlinkMode::kDense);
  EXPECT_TRUE(state_->Join(0, 0, OneShardLayout(), std::nullopt, false).ok());
}

// A worker with momentum of its own (DGC) is refused by a shard whose
// optimizer has momentum too, and welcome on plain SGD.
TEST_F(ShardStateTest, AWorkerWithMomentumIsRefusedByAShardWithMomentum) {
  OptimizerOptions momentum;
  momentum.momentum = 0.9f;
  OptimizerOptions adam;
  adam.kind = OptimizerKind::kAdam;
  for (const OptimizerOptions& opt : {momentum, adam}) {
    Make(opt, 2);
    const auto twice = state_->Join(0, 0, OneShardLayout(), std::nullopt, true,
                                    /*applies_momentum=*/true);
    EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(twice.status().message().find("momentum would apply twice"),
              std::string::npos)
        << twice.status();
    EXPECT_TRUE(state_->Join(0, 0, OneShardLayout(), std::nullopt, true).ok());
  }
  Make(OptimizerOptions{}, 2, DownlinkMode::kSparse);
  EXPECT_TRUE(
      state_->Join(0, 0, OneShardLayout(), std::nullopt, true, true).ok());
}

// A join without values asks for them only while the shard has none, and
// changes nothing until a join brings them.
TEST(ShardStateJoinTest, ValuesAreAskedForOnlyBeforeTheShardHasThem) {
  prometheus::Registry registry;
  FakeClock clock;
  ServerMetrics metrics(registry, 0);
  ShardOptions o;
  o.num_workers = 2;
  ShardState state(o, &clock, &metrics, nullptr);
  const auto init = testing::RandomParams(3, kN);

  auto asked = state.Join(0, 0, OneShardLayout(), std::nullopt);
  ASSERT_TRUE(asked.ok()) << asked.status();
  EXPECT_TRUE(asked->needs_initial_values);
  EXPECT_FALSE(asked->initialized_by_this_worker);
  EXPECT_EQ(state.size(), 0u);
  EXPECT_EQ(state.BeginRead().status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Not registered: its push is refused.
  FakeWaiter w(&state);
  uint64_t current = 0;
  EXPECT_EQ(state.Push(0, 0, 0, {}, 0, &w, &current).code(),
            absl::StatusCode::kFailedPrecondition);
  // A bad layout is refused as before, values or not.
  Layout bad = OneShardLayout();
  bad.total_size = kN + 1;
  EXPECT_EQ(state.Join(1, 0, bad, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto first = state.Join(0, 0, OneShardLayout(), Bytes(init));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->initialized_by_this_worker);
  EXPECT_FALSE(first->needs_initial_values);
  auto second = state.Join(1, 0, OneShardLayout(), std::nullopt);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->needs_initial_values);
  EXPECT_FALSE(second->initialized_by_this_worker);
  auto v = state.values();
  EXPECT_EQ(std::vector<float>(v.begin(), v.end()), init);
}

// Initial values of the wrong size, or not finite, are refused with a
// message saying which, and the shard still has no values.
TEST(ShardStateJoinTest, BadInitialValuesAreRefusedAndChangeNothing) {
  prometheus::Registry registry;
  FakeClock clock;
  ServerMetrics metrics(registry, 0);
  ShardOptions o;
  o.num_workers = 2;
  ShardState state(o, &clock, &metrics, nullptr);
  std::vector<float> init = testing::RandomParams(3, kN);

  const std::vector<float> short_values(init.begin(), init.end() - 1);
  absl::StatusOr<ShardState::JoinResult> r =
      state.Join(0, 0, OneShardLayout(), Bytes(short_values));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("initial values have 3996 bytes; shard "
                                      "0 needs 1000 fp32 (4000 bytes)"),
            std::string::npos)
      << r.status();
  init[7] = std::numeric_limits<float>::quiet_NaN();
  r = state.Join(0, 0, OneShardLayout(), Bytes(init));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("initial value 7 is not finite"),
            std::string::npos)
      << r.status();

  EXPECT_EQ(state.size(), 0u);
  r = state.Join(1, 0, OneShardLayout(), std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->needs_initial_values);
}

}  // namespace
}  // namespace cddp::server
