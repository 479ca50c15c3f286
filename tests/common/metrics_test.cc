// The shared metric helpers: the bucket lists the dashboards and alert rules
// rely on, and registering a name twice giving the same series.
#include "common/metrics.h"

#include <gtest/gtest.h>

namespace cddp::common {
namespace {

using Buckets = prometheus::Histogram::BucketBoundaries;

TEST(MetricsTest, BucketListsAreTheDashboards) {
  EXPECT_EQ(WorkSecondsBuckets(),
            (Buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                     0.5, 1.0, 2.5, 5.0, 10.0}));
  EXPECT_EQ(RpcSecondsBuckets(),
            (Buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                     1.0, 2.5, 5.0, 10.0, 30.0}));
  EXPECT_EQ(WorkerCountBuckets(),
            (Buckets{1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128}));
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameSeries) {
  prometheus::Registry r;
  auto& a = AddCounter(r, "cddp_test_total", "help", {{"shard", "0"}});
  auto& b = AddCounter(r, "cddp_test_total", "help", {{"shard", "0"}});
  auto& c = AddCounter(r, "cddp_test_total", "help", {{"shard", "1"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  auto& g = AddGauge(r, "cddp_test_gauge", "help", {{"shard", "0"}});
  g.Set(3);
  auto& h = AddHistogram(r, "cddp_test_seconds", "help", {{"shard", "0"}},
                         WorkSecondsBuckets());
  h.Observe(0.2);
  EXPECT_EQ(r.Collect().size(), 3u);
}

}  // namespace
}  // namespace cddp::common
