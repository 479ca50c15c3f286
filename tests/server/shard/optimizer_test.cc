// The update rules' arithmetic on tiny vectors with hand-computed
// expectations, their named state, and the optimizer options' checks.
#include "server/shard/optimizer.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "server/shard/shard_options.h"
#include "server/shard/update_rule.h"
#include "server/shard/update_rules.h"

namespace cddp::server {
namespace {

// The pairs of a dense gradient, all of them (zeros included): what a
// round whose pushes covered every entry sums to.
common::SparseSelection AllOf(const std::vector<float>& g) {
  common::SparseSelection s;
  for (size_t i = 0; i < g.size(); ++i) {
    s.indices.push_back(static_cast<uint32_t>(i));
    s.values.push_back(g[i]);
  }
  return s;
}

// The dense step the rules replaced: the rule applied to every entry.
void StepDense(UpdateRule& rule, std::vector<float>& p,
               const std::vector<float>& g, float scale) {
  common::SparseSelection all = AllOf(g);
  rule.Apply(p, &all, scale);
}

TEST(OptimizerTest, PlainSgdDenseAndSparseAgree) {
  OptimizerOptions o;
  o.lr = 0.5f;
  auto dense = MakeUpdateRule(o), sparse = MakeUpdateRule(o);
  EXPECT_TRUE(sparse->TouchesOnlyPushed());
  std::vector<float> p1 = {1, 2, 3}, p2 = p1;
  const std::vector<float> g = {2, 0, -4};
  StepDense(*dense, p1, g, 0.5f);
  common::SparseSelection pairs;
  pairs.indices = {0, 2};
  pairs.values = {2, -4};
  sparse->Apply(p2, &pairs, 0.5f);
  EXPECT_EQ(pairs.values, (std::vector<float>{0.5f, 4}));
  EXPECT_EQ(p1, (std::vector<float>{0.5f, 2, 4}));
  EXPECT_EQ(p1, p2);
}

TEST(OptimizerTest, MomentumNesterovAndWeightDecay) {
  OptimizerOptions o;
  o.lr = 1.0f;
  o.momentum = 0.5f;
  auto m = MakeUpdateRule(o);
  std::vector<float> p = {0};
  const std::vector<float> g = {1};
  StepDense(*m, p, g, 1.0f);  // v = 1, p = -1
  StepDense(*m, p, g, 1.0f);  // v = 1.5, p = -2.5
  EXPECT_FLOAT_EQ(p[0], -2.5f);
  o.nesterov = true;
  auto n = MakeUpdateRule(o);
  p = {0};
  StepDense(*n, p, g, 1.0f);  // v = 1, d = 1 + 0.5 = 1.5
  EXPECT_FLOAT_EQ(p[0], -1.5f);
  OptimizerOptions wd;
  wd.lr = 0.1f;
  wd.weight_decay = 0.5f;
  auto d = MakeUpdateRule(wd);
  p = {2};
  const std::vector<float> zero = {0};
  StepDense(*d, p, zero, 1.0f);  // g = 1 -> p = 1.9
  EXPECT_FLOAT_EQ(p[0], 1.9f);
}

TEST(OptimizerTest, AdamFirstStepMovesByLr) {
  OptimizerOptions o;
  o.kind = OptimizerKind::kAdam;
  o.lr = 0.01f;
  auto a = MakeUpdateRule(o);
  std::vector<float> p = {1, 1};
  const std::vector<float> g = {3, -0.2f};
  StepDense(*a, p, g, 1.0f);
  EXPECT_NEAR(p[0], 0.99f, 1e-6);
  EXPECT_NEAR(p[1], 1.01f, 1e-6);
}

TEST(OptimizerTest, ValidateNamesTheBadField) {
  OptimizerOptions o;
  o.lr = 0;
  EXPECT_NE(o.Validate().message().find("lr"), std::string::npos);
  o.lr = 0.1f;
  o.nesterov = true;
  EXPECT_NE(o.Validate().message().find("nesterov"), std::string::npos);
  o.nesterov = false;
  o.momentum = 1.5f;
  EXPECT_NE(o.Validate().message().find("momentum"), std::string::npos);
  EXPECT_EQ(ParseOptimizerKind("rmsprop").status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::StatusOr<OptimizerKind> adam = ParseOptimizerKind("adam");
  ASSERT_TRUE(adam.ok());
  EXPECT_EQ(*adam, OptimizerKind::kAdam);
  EXPECT_EQ(*ParseDownlinkMode("sparse"), DownlinkMode::kSparse);
  EXPECT_EQ(ParseDownlinkMode("topk").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(UpdateRuleTest, FactoryPicksTheRuleAndOnlyPlainSgdTouchesOnlyPushed) {
  OptimizerOptions o;
  EXPECT_EQ(MakeUpdateRule(o)->name(), "sgd");
  EXPECT_TRUE(MakeUpdateRule(o)->TouchesOnlyPushed());
  o.weight_decay = 0.1f;
  EXPECT_EQ(MakeUpdateRule(o)->name(), "sgd");
  EXPECT_FALSE(MakeUpdateRule(o)->TouchesOnlyPushed());
  o.momentum = 0.9f;
  EXPECT_EQ(MakeUpdateRule(o)->name(), "momentum");
  o.nesterov = true;
  EXPECT_EQ(MakeUpdateRule(o)->name(), "nesterov");
  OptimizerOptions adam;
  adam.kind = OptimizerKind::kAdam;
  EXPECT_EQ(MakeUpdateRule(adam)->name(), "adam");
  EXPECT_FALSE(MakeUpdateRule(adam)->TouchesOnlyPushed());
}

// A dense rule leaves the round's sum as it was (the downlink, not the
// rule, decides what is sent back).
TEST(UpdateRuleTest, DenseRuleLeavesTheSumAlone) {
  OptimizerOptions o;
  o.lr = 0.5f;
  o.momentum = 0.5f;
  auto rule = MakeUpdateRule(o);
  std::vector<float> p = {1, 2, 3};
  common::SparseSelection sum;
  sum.indices = {1};
  sum.values = {4};
  rule->Apply(p, &sum, 0.5f);
  EXPECT_EQ(sum.values, std::vector<float>{4});
  EXPECT_EQ(p, (std::vector<float>{1, 1, 3}));  // v = 4 * 0.5, p -= 0.5 v
}

TEST(UpdateRuleTest, StateIsSavedAndLoadedUnderNamedFields) {
  OptimizerOptions o;
  o.kind = OptimizerKind::kAdam;
  auto a = MakeUpdateRule(o);
  std::vector<float> p = {1, 1};
  StepDense(*a, p, {3, -0.2f}, 1.0f);
  const UpdateRuleState saved = a->SaveState();
  EXPECT_EQ(saved.steps, 1u);
  ASSERT_EQ(saved.fields.size(), 2u);
  EXPECT_EQ(saved.fields.at("exp_avg").size(), 2u);
  EXPECT_EQ(saved.fields.at("exp_avg_sq").size(), 2u);

  // A fresh rule loaded with the state continues bit-identically.
  auto b = MakeUpdateRule(o);
  ASSERT_TRUE(b->LoadState(saved, 2).ok());
  std::vector<float> pa = p, pb = p;
  StepDense(*a, pa, {1, 2}, 0.5f);
  StepDense(*b, pb, {1, 2}, 0.5f);
  EXPECT_EQ(pa, pb);

  // A field the rule does not have, or of another size: refused, and the
  // rule keeps its state.
  UpdateRuleState foreign = saved;
  foreign.fields["momentum_buffer"] = {0, 0};
  const absl::Status s = b->LoadState(foreign, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("momentum_buffer"), std::string::npos) << s;
  EXPECT_EQ(b->LoadState(saved, 3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->SaveState().steps, 2u);

  OptimizerOptions m;
  m.momentum = 0.9f;
  auto mr = MakeUpdateRule(m);
  StepDense(*mr, p, {1, 1}, 1.0f);
  const UpdateRuleState ms = mr->SaveState();
  ASSERT_EQ(ms.fields.size(), 1u);
  EXPECT_EQ(ms.fields.at("momentum_buffer"), (std::vector<float>{1, 1}));
  EXPECT_TRUE(MakeUpdateRule(OptimizerOptions{})->SaveState().fields.empty());
}

}  // namespace
}  // namespace cddp::server
