// Tests for worker/worker_sampler.h: disjoint cover across workers, per-epoch
// reshuffle, determinism, equal batch counts, save/restore of the position.
#include "worker/data/worker_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace cddp::worker {
namespace {

WorkerSampler Make(int64_t n, uint32_t worker, uint32_t workers, int64_t batch,
                   uint64_t seed, bool drop_last = false) {
  WorkerSamplerOptions o;
  o.dataset_size = n;
  o.worker_id = worker;
  o.num_workers = workers;
  o.batch_size = batch;
  o.seed = seed;
  o.drop_last = drop_last;
  absl::StatusOr<WorkerSampler> s = WorkerSampler::Create(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

TEST(WorkerSamplerTest, WorkersCoverDisjointly) {
  for (uint32_t workers : {1u, 2u, 3u, 7u}) {
    const int64_t n = 1000;
    for (int64_t epoch : {0, 1, 5}) {
      std::vector<int> seen(n, 0);
      for (uint32_t w = 0; w < workers; ++w) {
        const WorkerSampler s = Make(n, w, workers, 32, 9);
        const std::vector<int64_t> idx = s.EpochIndices(epoch);
        ASSERT_EQ(static_cast<int64_t>(idx.size()), n / workers);
        for (int64_t i : idx) {
          ASSERT_GE(i, 0);
          ASSERT_LT(i, n);
          ++seen[i];
        }
      }
      const int64_t covered = std::count(seen.begin(), seen.end(), 1);
      EXPECT_EQ(
          std::count_if(seen.begin(), seen.end(), [](int c) { return c > 1; }),
          0);
      EXPECT_EQ(covered, n - n % workers) << workers << " workers";
    }
  }
}

TEST(WorkerSamplerTest, ReshufflesEachEpochDeterministically) {
  const WorkerSampler a = Make(500, 1, 2, 10, 123);
  const WorkerSampler b = Make(500, 1, 2, 10, 123);
  const WorkerSampler c = Make(500, 1, 2, 10, 124);
  EXPECT_EQ(a.EpochIndices(0), b.EpochIndices(0));
  EXPECT_EQ(a.EpochIndices(3), b.EpochIndices(3));
  EXPECT_NE(a.EpochIndices(0), a.EpochIndices(1));
  EXPECT_NE(a.EpochIndices(0), c.EpochIndices(0));
  // A reshuffle, not just a reorder of the same share.
  std::vector<int64_t> e0 = a.EpochIndices(0), e1 = a.EpochIndices(1);
  std::sort(e0.begin(), e0.end());
  std::sort(e1.begin(), e1.end());
  EXPECT_NE(e0, e1);
  // Known values pin the algorithm (SplitMix64 + Fisher-Yates): a change
  // would give workers built from different versions different shards, and
  // make a resumed checkpoint visit other examples.
  EXPECT_EQ(Make(10, 0, 1, 10, 0).EpochIndices(0),
            (std::vector<int64_t>{1, 2, 5, 7, 0, 8, 4, 3, 9, 6}));
  EXPECT_EQ(Make(10, 1, 2, 10, 42).EpochIndices(3),
            (std::vector<int64_t>{5, 0, 4, 7, 3}));
}

TEST(WorkerSamplerTest, BatchesWalkTheEpochAndRollOver) {
  WorkerSampler s = Make(103, 0, 2, 10, 1);  // 51 per worker: 5 x 10 + 1
  EXPECT_EQ(s.samples_per_epoch(), 51);
  EXPECT_EQ(s.batches_per_epoch(), 6);
  const std::vector<int64_t> epoch0 = s.EpochIndices(0);
  std::vector<int64_t> got;
  for (int b = 0; b < 6; ++b) {
    DataPosition at;
    std::span<const int64_t> batch = s.NextBatch(&at);
    EXPECT_EQ(at, (DataPosition{0, b}));
    EXPECT_EQ(batch.size(), b < 5 ? 10u : 1u);
    got.insert(got.end(), batch.begin(), batch.end());
  }
  EXPECT_EQ(got, epoch0);
  EXPECT_EQ(s.position(), (DataPosition{1, 0}));
  const std::span<const int64_t> next = s.NextBatch();
  const std::vector<int64_t> epoch1 = s.EpochIndices(1);
  EXPECT_TRUE(std::equal(next.begin(), next.end(), epoch1.begin()));

  WorkerSampler d = Make(103, 0, 2, 10, 1, /*drop_last=*/true);
  EXPECT_EQ(d.batches_per_epoch(), 5);
}

TEST(WorkerSamplerTest, EveryWorkerHasTheSameNumberOfBatches) {
  for (uint32_t w = 0; w < 7; ++w) {
    EXPECT_EQ(Make(60000, w, 7, 64, 3).batches_per_epoch(), 134);  // 8571/64
  }
}

TEST(WorkerSamplerTest, SeekRestoresTheSameBatches) {
  WorkerSampler a = Make(300, 2, 3, 16, 77);
  for (int i = 0; i < 9; ++i) a.NextBatch();  // 7 per epoch: now (1, 2)
  const DataPosition saved = a.position();
  EXPECT_EQ(saved, (DataPosition{1, 2}));
  const std::span<const int64_t> sa = a.NextBatch();
  const std::vector<int64_t> expected(sa.begin(), sa.end());

  WorkerSampler b = Make(300, 2, 3, 16, 77);
  ASSERT_TRUE(b.Seek(saved).ok());
  const std::span<const int64_t> sb = b.NextBatch();
  EXPECT_EQ(std::vector<int64_t>(sb.begin(), sb.end()), expected);

  // The end of an epoch is the start of the next.
  ASSERT_TRUE(b.Seek({4, b.batches_per_epoch()}).ok());
  EXPECT_EQ(b.position(), (DataPosition{5, 0}));
  EXPECT_EQ(b.Seek({0, 8}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Seek({-1, 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.position(), (DataPosition{5, 0}));
}

TEST(WorkerSamplerTest, RejectsBadOptions) {
  WorkerSamplerOptions o;
  o.dataset_size = 10;
  o.num_workers = 2;
  o.worker_id = 2;
  EXPECT_FALSE(WorkerSampler::Create(o).ok());
  o.worker_id = 0;
  o.batch_size = 0;
  EXPECT_FALSE(WorkerSampler::Create(o).ok());
  o.batch_size = 6;
  o.drop_last = true;  // 5 per worker: no whole batch
  EXPECT_FALSE(WorkerSampler::Create(o).ok());
  o.drop_last = false;
  EXPECT_TRUE(WorkerSampler::Create(o).ok());
  o.num_workers = 11;  // fewer examples than workers
  EXPECT_FALSE(WorkerSampler::Create(o).ok());
}

}  // namespace
}  // namespace cddp::worker
