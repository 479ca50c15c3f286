// ParallelFor covers the range once, in ordered parts; and a large shard's
// close gives the same bits on several threads as on one: the whole-range
// sum and every update rule, over rounds (the rules' state included).
#include "server/shard/parallel_for.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/shard/aggregate.h"
#include "server/shard/update_rule.h"
#include "tests/support/test_util.h"

namespace cddp::server {
namespace {

TEST(ParallelForTest, PartsCoverTheRangeOnceInOrder) {
  for (size_t n : {0u, 1u, 5u, 1000u, 1001u}) {
    for (size_t parts : {1u, 2u, 3u, 7u}) {
      SCOPED_TRACE(::testing::Message() << n << " entries, " << parts);
      std::vector<std::atomic<int>> hits(n);
      std::mutex mu;
      std::vector<std::pair<size_t, size_t>> seen(std::max<size_t>(parts, 1));
      std::vector<std::thread::id> ids(seen.size());
      ParallelFor(n, parts, [&](size_t part, size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) hits[i]++;
        std::lock_guard<std::mutex> lock(mu);
        seen[part] = {begin, end};
        ids[part] = std::this_thread::get_id();
      });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << i;
      if (parts > 1 && n >= parts) {
        EXPECT_EQ(seen.front().first, 0u);
        EXPECT_EQ(seen.back().second, n);
        for (size_t p = 1; p < parts; ++p) {
          EXPECT_EQ(seen[p].first, seen[p - 1].second);
          EXPECT_NE(ids[p], ids[0]);  // its own thread
        }
        EXPECT_EQ(ids[0], std::this_thread::get_id());
      }
    }
  }
}

TEST(ParallelForTest, SmallRangesStayOnOnePart) {
  EXPECT_EQ(PartsFor(kMinEntriesPerPart - 1, 8), 1u);
  EXPECT_EQ(PartsFor(3 * kMinEntriesPerPart, 8), 3u);
  EXPECT_EQ(PartsFor(100 * kMinEntriesPerPart, 4), 4u);
  EXPECT_EQ(PartsFor(100 * kMinEntriesPerPart, 0), 1u);
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Four parts and a ragged end.
constexpr uint32_t kN = 4 * kMinEntriesPerPart + 12345;

TEST(ParallelCloseTest, WholeRangeSumIsTheSameOnFourThreads) {
  std::vector<common::SparseSelection> pushes;
  std::vector<const common::SparseSelection*> ptrs;
  for (uint64_t w = 0; w < 3; ++w) {
    pushes.push_back(testing::RandomSelection(w + 3, kN, 1.0));
  }
  for (const auto& p : pushes) ptrs.push_back(&p);
  common::SparseSelection one, four;
  SumInWorkerOrder(ptrs, &one, 1);
  SumInWorkerOrder(ptrs, &four, 4);
  EXPECT_EQ(one.indices, four.indices);
  EXPECT_TRUE(SameBits(one.values, four.values));
}

TEST(ParallelCloseTest, EveryRuleGivesTheSameBitsOnFourThreads) {
  std::vector<OptimizerOptions> rules(5);
  rules[1].weight_decay = 0.01f;  // sgd over every entry
  rules[2].momentum = 0.9f;
  rules[3].momentum = 0.9f;
  rules[3].nesterov = true;
  rules[4].kind = OptimizerKind::kAdam;
  for (const OptimizerOptions& o : rules) {
    auto serial = MakeUpdateRule(o);
    auto parallel = MakeUpdateRule(o);
    parallel->set_threads(4);
    SCOPED_TRACE(std::string(serial->name()));
    std::vector<float> a = testing::RandomParams(1, kN), b = a;
    for (uint64_t round = 0; round < 3; ++round) {
      common::SparseSelection sa =
          testing::RandomSelection(round + 10, kN, 0.5);
      common::SparseSelection sb = sa;
      serial->Apply(a, &sa, 0.5f);
      parallel->Apply(b, &sb, 0.5f);
      ASSERT_TRUE(SameBits(a, b)) << "round " << round;
      ASSERT_TRUE(SameBits(sa.values, sb.values)) << "round " << round;
    }
    const UpdateRuleState s1 = serial->SaveState(), s4 = parallel->SaveState();
    EXPECT_EQ(s1.steps, s4.steps);
    for (const auto& [name, field] : s1.fields) {
      EXPECT_TRUE(SameBits(field, s4.fields.at(name))) << name;
    }
  }
}

}  // namespace
}  // namespace cddp::server
