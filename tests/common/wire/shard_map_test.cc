// Tests for the shard map: balanced contiguous ranges, and the layouts it
// refuses.
#include "common/wire/shard_map.h"

#include <gtest/gtest.h>

namespace cddp::common {
namespace {

TEST(ShardMapTest, SplitsIntoBalancedContiguousRanges) {
  auto m = ShardMap::Create(10, 3);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->bounds(), (std::vector<uint64_t>{0, 4, 7, 10}));
  EXPECT_EQ(m->num_shards(), 3u);
  EXPECT_EQ(m->size(0), 4u);
  EXPECT_EQ(m->ShardOf(0), 0u);
  EXPECT_EQ(m->ShardOf(4), 1u);
  EXPECT_EQ(m->ShardOf(9), 2u);
}

TEST(ShardMapTest, RefusesImpossibleLayouts) {
  EXPECT_FALSE(ShardMap::Create(10, 0).ok());
  EXPECT_FALSE(ShardMap::Create(2, 3).ok());
  EXPECT_FALSE(ShardMap::Create(uint64_t{1} << 33, 2).ok());
  EXPECT_FALSE(ShardMap::FromBounds({0}).ok());
  EXPECT_FALSE(ShardMap::FromBounds({1, 5}).ok());
  EXPECT_FALSE(ShardMap::FromBounds({0, 5, 5}).ok());
  EXPECT_TRUE(ShardMap::FromBounds({0, 5, 6}).ok());
}

}  // namespace
}  // namespace cddp::common
