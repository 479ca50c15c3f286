// Optimizer arithmetic on tiny vectors with hand-computed expectations.
#include "server/shard/optimizer.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace cddp::server {
namespace {

TEST(OptimizerTest, PlainSgdDenseAndSparseAgree) {
  OptimizerOptions o;
  o.lr = 0.5f;
  Optimizer dense(o, 3), sparse(o, 3);
  std::vector<float> p1 = {1, 2, 3}, p2 = p1;
  const std::vector<float> g = {2, 0, -4};
  dense.StepDense(p1, g, 0.5f);
  common::SparseSelection pairs;
  pairs.indices = {0, 2};
  pairs.values = {2, -4};
  sparse.StepSparse(p2, &pairs, 0.5f);
  EXPECT_EQ(pairs.values, (std::vector<float>{0.5f, 4}));
  EXPECT_EQ(p1, (std::vector<float>{0.5f, 2, 4}));
  EXPECT_EQ(p1, p2);
}

TEST(OptimizerTest, MomentumNesterovAndWeightDecay) {
  OptimizerOptions o;
  o.lr = 1.0f;
  o.momentum = 0.5f;
  Optimizer m(o, 1);
  std::vector<float> p = {0};
  const std::vector<float> g = {1};
  m.StepDense(p, g, 1.0f);  // v = 1, p = -1
  m.StepDense(p, g, 1.0f);  // v = 1.5, p = -2.5
  EXPECT_FLOAT_EQ(p[0], -2.5f);
  o.nesterov = true;
  Optimizer n(o, 1);
  p = {0};
  n.StepDense(p, g, 1.0f);  // v = 1, d = 1 + 0.5 = 1.5
  EXPECT_FLOAT_EQ(p[0], -1.5f);
  OptimizerOptions wd;
  wd.lr = 0.1f;
  wd.weight_decay = 0.5f;
  Optimizer d(wd, 1);
  p = {2};
  const std::vector<float> zero = {0};
  d.StepDense(p, zero, 1.0f);  // g = 1 -> p = 1.9
  EXPECT_FLOAT_EQ(p[0], 1.9f);
}

TEST(OptimizerTest, AdamFirstStepMovesByLr) {
  OptimizerOptions o;
  o.kind = OptimizerKind::kAdam;
  o.lr = 0.01f;
  Optimizer a(o, 2);
  std::vector<float> p = {1, 1};
  const std::vector<float> g = {3, -0.2f};
  a.StepDense(p, g, 1.0f);
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
  OptimizerKind k;
  EXPECT_FALSE(ParseOptimizerKind("rmsprop", &k).ok());
  EXPECT_TRUE(ParseOptimizerKind("adam", &k).ok());
  EXPECT_EQ(k, OptimizerKind::kAdam);
}

}  // namespace
}  // namespace cddp::server
