// ShardState with whole-range pushes, which take their own paths (no index
// written in a recycled buffer, a sum without a merge, the rules without a
// scatter): rounds that mix them with prefixes and sparse pushes, in pieces
// and whole, still give the reference's bits.
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/wire/push_pieces.h"
#include "common/wire/wire_codec.h"
#include "gtest/gtest.h"
#include "server/shard/shard_state.h"
#include "tests/server/shard/shard_state_fixture.h"
#include "tests/support/test_util.h"

namespace cddp::server {
namespace {

// The shapes a push may take: 0 the whole range (uncompressed), 1 its
// first half, 2 its second half, 3 a random selection; `seed` picks the
// values.
common::SparseSelection ShapedPush(int shape, uint64_t seed) {
  if (shape == 3) return testing::RandomSelection(seed, kN, 0.05);
  common::SparseSelection s = testing::RandomSelection(seed, kN, 1.0);
  if (shape == 1) {
    s.indices.resize(kN / 2);
    s.values.resize(kN / 2);
  }
  if (shape == 2) {
    s.indices.erase(s.indices.begin(), s.indices.begin() + kN / 2);
    s.values.erase(s.values.begin(), s.values.begin() + kN / 2);
  }
  return s;
}

// Pushes `push` as PushPullStream does: assembled in the shard's spare
// buffer, its run of indices 0, 1, 2, ... in dense pieces of 128 values and
// the rest in one delta-varint piece.
absl::Status PushInPieces(ShardState& state, uint32_t w, uint64_t step,
                          const common::SparseSelection& push,
                          PushWaiter* waiter) {
  common::PushAssembler a(kN, state.SpareBuffer(w));
  size_t run = 0;
  while (run < push.size() && push.indices[run] == run) ++run;
  for (size_t b = 0; b < run; b += 128) {
    const size_t e = std::min(run, b + 128);
    std::string values;
    common::EncodeValues(std::span(push.values).subspan(b, e - b),
                         common::ValueType::kFp32, &values);
    const std::string_view parts[] = {values};
    const absl::Status s = a.Add(
        common::ChunkParts{static_cast<uint32_t>(e - b),
                           static_cast<int>(common::ValueType::kFp32),
                           static_cast<int>(common::IndexEncoding::kDense),
                           {},
                           parts},
        b);
    if (!s.ok()) return s;
  }
  if (run < push.size() || run == 0) {
    Encoded rest;
    rest.count = static_cast<uint32_t>(push.size() - run);
    const absl::Status s = common::EncodeChunk(
        std::span(push.indices).subspan(run),
        std::span(push.values).subspan(run), common::ValueType::kFp32,
        common::IndexEncoding::kDeltaVarint, &rest.indices, &rest.values);
    if (!s.ok()) return s;
    if (absl::Status added = a.Add(rest.view(), 0); !added.ok()) return added;
  }
  const uint64_t digest = a.digest();
  uint64_t current = 0;
  return state.PushAssembled(w, 0, step, a.Take(), kN, digest, 0, waiter,
                             &current);
}

TEST_F(ShardStateTest, WholeRangePrefixAndSparsePushesMatchTheReference) {
  for (const OptimizerOptions& opt : AllOptimizers()) {
    SCOPED_TRACE(opt.DebugString());
    constexpr uint32_t kW = 2;
    Make(opt, kW);
    testing::ReferenceModel ref(opt, init_);
    // Per round, each worker's shape: whole ranges, mixes, and a sum of
    // the second halves (kN / 2 entries, not 0..kN/2-1) before one of the
    // first halves.
    constexpr int kShapes[][kW] = {{0, 0}, {0, 1}, {3, 0}, {2, 2},
                                   {1, 1}, {0, 0}, {3, 3}, {0, 0}};
    for (uint64_t step = 0; step < 24; ++step) {
      std::vector<common::SparseSelection> pushes;
      for (uint32_t w = 0; w < kW; ++w) {
        pushes.push_back(ShapedPush(kShapes[step % 8][w], step * 10 + w));
      }
      std::vector<std::unique_ptr<FakeWaiter>> waiters;
      for (uint32_t w = 0; w < kW; ++w) {
        waiters.push_back(std::make_unique<FakeWaiter>(state_.get()));
        const absl::Status s =
            step % 5 == 4
                ? Push(w, step, Encode(pushes[w]), waiters.back().get())
                : PushInPieces(*state_, w, step, pushes[w],
                               waiters.back().get());
        ASSERT_TRUE(s.ok()) << s;
      }
      for (auto& w : waiters) ASSERT_EQ(w->calls, 1);
      ref.Round(pushes, std::vector<bool>(kW, true));
      ASSERT_EQ(
          std::memcmp(Values().data(), ref.params().data(), kN * sizeof(float)),
          0)
          << step;
    }
  }
}

}  // namespace
}  // namespace cddp::server
