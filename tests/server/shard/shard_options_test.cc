// ShardOptions::Validate: the worker count's bound, the downlinks'
// requirements, the downlink density and value type.
#include "server/shard/shard_options.h"

#include <cstdint>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace cddp::server {
namespace {

TEST(ShardOptionsTest, TheWorkerCountIsBounded) {
  ShardOptions o;
  o.num_workers = kMaxWorkers;
  EXPECT_TRUE(o.Validate().ok());
  for (uint32_t n : {0u, kMaxWorkers + 1, 4'000'000'000u}) {
    o.num_workers = n;
    const absl::Status s = o.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n;
    EXPECT_NE(s.message().find("kMaxWorkers"), std::string::npos) << s;
  }
}

TEST(ShardOptionsTest, SparseDownlinkNeedsPlainSgd) {
  ShardOptions o;
  o.downlink = DownlinkMode::kSparse;
  EXPECT_TRUE(o.Validate().ok());
  o.optimizer.momentum = 0.9f;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kFailedPrecondition);
  o.optimizer.momentum = 0.0f;
  o.optimizer.weight_decay = 0.1f;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kFailedPrecondition);
  o.optimizer.weight_decay = 0.0f;
  o.optimizer.kind = OptimizerKind::kAdam;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kFailedPrecondition);
  o.downlink = DownlinkMode::kCompressed;  // any optimizer
  EXPECT_TRUE(o.Validate().ok());
}

TEST(ShardOptionsTest, DownlinkDensityAndValueTypeAreChecked) {
  for (const char* bad : {"0", "-0.1", "1.5", "nan", "x", ""}) {
    EXPECT_EQ(ParseDownlinkDensity(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(ParseDownlinkDensity("auto").value(), std::nullopt);
  EXPECT_EQ(ParseDownlinkDensity("0.02").value(), 0.02);
  EXPECT_EQ(ParseDownlinkDensity("1").value(), 1.0);
  ShardOptions o;
  o.downlink = DownlinkMode::kCompressed;
  o.downlink_density = 2.0;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  o.downlink_density = 0.01;
  EXPECT_TRUE(o.Validate().ok());
  // Contradictions: a density or value type for a downlink that has none.
  o.downlink = DownlinkMode::kDense;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  o.downlink_density.reset();
  o.downlink_value_type = common::ValueType::kFp16;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseDownlinkMode("compressed").value(), DownlinkMode::kCompressed);
  EXPECT_EQ(ParseDownlinkMode("dgc").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cddp::server
