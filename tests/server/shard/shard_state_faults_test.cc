// ShardState under faults and hostile pushes: exactly-once counting (a
// repeat is answered, a different push for a counted step refused, Join
// saying which step was counted), a bounded number of waiting repeats, a
// round that would store non-finite values refused whole, a reader that
// stops reading losing its lease instead of stalling the round, and a layout
// whose tensor sizes wrap around 64 bits refused.
#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/shard/shard_state_fixture.h"

namespace cddp::server {
namespace {

using ShardStateFaultsTest = ShardStateTest;

common::SparseSelection Pairs(std::vector<uint32_t> indices,
                              std::vector<float> values) {
  common::SparseSelection s;
  s.indices = std::move(indices);
  s.values = std::move(values);
  return s;
}

TEST_F(ShardStateFaultsTest, DifferentPushForACountedStepIsRefused) {
  Make(OptimizerOptions{}, 2);
  const Encoded a = Encode(Pairs({1, 5}, {1.0f, 2.0f}));
  const Encoded b = Encode(Pairs({1, 5}, {1.0f, 3.0f}));
  FakeWaiter w0(state_.get()), w0_again(state_.get()), w0_other(state_.get());
  ASSERT_TRUE(Push(0, 0, a, &w0).ok());
  // The open round: the same chunk waits with the first, another is refused.
  EXPECT_TRUE(Push(0, 0, a, &w0_again).ok());
  EXPECT_EQ(Push(0, 0, b, &w0_other).code(), absl::StatusCode::kAlreadyExists);
  FakeWaiter w1(state_.get());
  ASSERT_TRUE(Push(1, 0, Encode(Pairs({2}, {4.0f})), &w1).ok());
  ASSERT_EQ(state_->step(), 1u);
  EXPECT_EQ(w0.calls, 1);
  EXPECT_EQ(w0_again.calls, 1);
  EXPECT_EQ(w0_other.calls, 0);
  EXPECT_EQ(w0.result->contributors, 2u);
  // The round just closed: the same again is answered, another refused.
  FakeWaiter replay(state_.get()), conflict(state_.get());
  EXPECT_TRUE(Push(0, 0, a, &replay).ok());
  EXPECT_EQ(replay.calls, 1);
  EXPECT_EQ(Push(0, 0, b, &conflict).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(metrics_->rejected[static_cast<int>(RejectReason::kConflictingPush)]
                ->Value(),
            2);
  EXPECT_EQ(metrics_->pushes_counted.Value(), 2);
}

TEST_F(ShardStateFaultsTest, JoinSaysWhichStepItCountedForTheWorker) {
  Make(OptimizerOptions{}, 2);
  auto joined = state_->Join(0, 0, OneShardLayout(), std::nullopt);
  ASSERT_TRUE(joined.ok());
  EXPECT_FALSE(joined->counted_step.has_value());
  FakeWaiter w0(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(Pairs({1}, {1.0f})), &w0).ok());
  // Waiting in the open round counts as counted at that step.
  joined = state_->Join(0, 0, OneShardLayout(), std::nullopt);
  EXPECT_EQ(joined->counted_step, 0u);
  EXPECT_EQ(joined->open_round, 0u);
  EXPECT_FALSE(state_->Join(1, 0, OneShardLayout(), std::nullopt)
                   ->counted_step.has_value());
  // A round closed by timeout without worker 1: still not counted for it.
  clock_.Advance(absl::Seconds(6));
  state_->PollTimeout();
  ASSERT_EQ(state_->step(), 1u);
  EXPECT_EQ(state_->Join(0, 0, OneShardLayout(), std::nullopt)->counted_step,
            0u);
  EXPECT_FALSE(state_->Join(1, 0, OneShardLayout(), std::nullopt)
                   ->counted_step.has_value());
}

TEST_F(ShardStateFaultsTest, RepeatsWaitingForTheOpenRoundAreBounded) {
  Make(OptimizerOptions{}, 2);
  const Encoded a = Encode(Pairs({1}, {1.0f}));
  std::vector<FakeWaiter> waiters(4, FakeWaiter(state_.get()));
  ASSERT_TRUE(Push(0, 0, a, &waiters[0]).ok());
  EXPECT_TRUE(Push(0, 0, a, &waiters[1]).ok());
  EXPECT_EQ(Push(0, 0, a, &waiters[2]).code(),
            absl::StatusCode::kResourceExhausted);
  // A cancelled call makes room again.
  EXPECT_TRUE(state_->CancelWaiter(&waiters[0]));
  EXPECT_TRUE(Push(0, 0, a, &waiters[3]).ok());
  FakeWaiter w1(state_.get());
  ASSERT_TRUE(Push(1, 0, Encode(Pairs({2}, {1.0f})), &w1).ok());
  EXPECT_EQ(waiters[1].calls + waiters[3].calls, 2);
  EXPECT_EQ(waiters[0].calls + waiters[2].calls, 0);
}

TEST_F(ShardStateFaultsTest, AnAverageBeyondTheBoundIsRefusedNamingItsEntry) {
  OptimizerOptions sgd;
  sgd.lr = 1.0f;
  Make(sgd, 2);
  const std::vector<float> before = Values();
  // Finite, but averaged to 2e18 at entry 7: beyond kMaxAbsGradient.
  FakeWaiter w0(state_.get()), w1(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(Pairs({3, 7}, {1.0f, 4e18f})), &w0).ok());
  ASSERT_TRUE(Push(1, 0, Encode(Pairs({3, 7}, {1.0f, 0.0f})), &w1).ok());
  ASSERT_EQ(w0.calls, 1);
  EXPECT_EQ(w0.result->refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(w0.result->refused.message().find("at entry 7"), std::string::npos)
      << w0.result->refused;
  EXPECT_EQ(state_->step(), 0u);
  EXPECT_EQ(Values(), before);
  // Exactly at the bound is taken.
  FakeWaiter again0(state_.get()), again1(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(Pairs({7}, {kMaxAbsGradient})), &again0).ok());
  ASSERT_TRUE(Push(1, 0, Encode(Pairs({7}, {kMaxAbsGradient})), &again1).ok());
  EXPECT_TRUE(again0.result->refused.ok()) << again0.result->refused;
  EXPECT_EQ(state_->step(), 1u);
}

TEST_F(ShardStateFaultsTest, RoundThatWouldOverflowIsRefusedWhole) {
  OptimizerOptions momentum;
  momentum.lr = 1.0f;
  momentum.momentum = 0.9f;
  Make(momentum, 2);
  const std::vector<float> before = Values();
  // Each finite; their sum is not.
  FakeWaiter w0(state_.get()), w1(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(Pairs({3}, {3e38f})), &w0).ok());
  ASSERT_TRUE(Push(1, 0, Encode(Pairs({3}, {3e38f})), &w1).ok());
  ASSERT_EQ(w0.calls, 1);
  ASSERT_EQ(w1.calls, 1);
  EXPECT_EQ(w0.result->refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(w0.result->refused.message().find("refused"), std::string::npos);
  EXPECT_EQ(state_->step(), 0u);
  EXPECT_EQ(Values(), before);
  EXPECT_EQ(metrics_->rounds_refused.Value(), 1);
  EXPECT_EQ(metrics_->pushes_counted.Value(), 0);
  auto snapshot = state_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  for (const auto& [name, field] : (*snapshot)->rule_state.fields) {
    for (float v : field) ASSERT_EQ(v, 0.0f) << name;
  }
  // Nothing was counted: the workers push the step again, and it closes.
  EXPECT_FALSE(state_->Join(0, 0, OneShardLayout(), std::nullopt)
                   ->counted_step.has_value());
  FakeWaiter again0(state_.get()), again1(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(Pairs({3}, {1.0f})), &again0).ok());
  ASSERT_TRUE(Push(1, 0, Encode(Pairs({3}, {1.0f})), &again1).ok());
  EXPECT_EQ(state_->step(), 1u);
  EXPECT_TRUE(again0.result->refused.ok());
  for (float v : Values()) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(ShardStateFaultsTest, ReaderThatStopsReadingLosesItsLease) {
  Make(OptimizerOptions{}, 1);
  const absl::StatusOr<ReadLease> lease = state_->BeginRead();
  ASSERT_TRUE(lease.ok());
  FakeWaiter w(state_.get());
  ASSERT_TRUE(Push(0, 0, Encode(Pairs({1}, {1.0f})), &w).ok());
  EXPECT_EQ(w.calls, 0);  // the lease holds the ready round
  int reads = 0;
  EXPECT_TRUE(state_->ReadValues(lease->id, [&](auto) { ++reads; }));
  clock_.Advance(absl::Seconds(9));
  state_->PollTimeout();
  EXPECT_EQ(w.calls, 0);  // within the reply timeout
  clock_.Advance(absl::Seconds(2));
  state_->PollTimeout();
  EXPECT_EQ(w.calls, 1);
  EXPECT_EQ(state_->step(), 1u);
  EXPECT_FALSE(state_->ReadValues(lease->id, [&](auto) { ++reads; }));
  EXPECT_EQ(reads, 1);
  state_->EndRead(lease->id);  // a revoked lease's end changes nothing
  EXPECT_EQ(metrics_->leases_revoked.Value(), 1);
  // The waiter's own (new) lease reads; the next round closes normally.
  FakeWaiter next(state_.get());
  ASSERT_TRUE(Push(0, 1, Encode(Pairs({2}, {1.0f})), &next).ok());
  EXPECT_EQ(next.calls, 1);
  EXPECT_TRUE(state_->Idle());
}

TEST_F(ShardStateFaultsTest, TensorSizesWhoseSumWrapsAroundAreRefused) {
  Make(OptimizerOptions{}, 1);
  ShardOptions o;
  ShardState fresh(o, &clock_, metrics_.get(), nullptr);
  Layout wrapped = OneShardLayout();
  // 2^64 - 1 + (kN + 1) wraps around to kN, the total.
  wrapped.tensor_sizes = {~uint64_t{0}, uint64_t{kN} + 1};
  const auto joined = fresh.Join(0, 0, wrapped, Bytes(init_));
  EXPECT_EQ(joined.status().code(), absl::StatusCode::kInvalidArgument)
      << joined.status();
  EXPECT_EQ(fresh.size(), 0u);
}

}  // namespace
}  // namespace cddp::server
